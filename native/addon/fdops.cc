// Small per-fd operations: O_NONBLOCK, close, flock, what kind of file an fd is, and which fds are inheritable.
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#include <cerrno>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "../posix/fds.h"
#include "args.h"
#include "errors.h"
#include "exports.h"

static Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  bool on;
  if (!GetFd(info, 0, "fd", &fd) || !GetBool(info, 1, "on", &on)) return env.Undefined();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    ThrowErrno(env, "fcntl");
    return env.Undefined();
  }
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) != 0) ThrowErrno(env, "fcntl");
  return env.Undefined();
}

static Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, "fd", &fd)) return env.Undefined();
  // On Linux the fd is released even when close fails with EINTR; retrying could close an
  // fd another thread has just been given, so EINTR counts as done.
  if (close(fd) != 0 && errno != EINTR) ThrowErrno(env, "close");
  return env.Undefined();
}

static Napi::Value TryLockExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, "fd", &fd)) return env.Undefined();
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  ThrowErrno(env, "flock");
  return env.Undefined();
}

static const char* KindOf(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISDIR(mode)) return "dir";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISCHR(mode)) return "chr";
  if (S_ISBLK(mode)) return "blk";
  if (S_ISLNK(mode)) return "link";  // only for an O_PATH | O_NOFOLLOW fd
  return "unknown";
}

static Napi::Value FdKind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, "fd", &fd)) return env.Undefined();
  struct stat st;
  if (fstat(fd, &st) != 0) {
    if (errno == EBADF) return env.Null();
    ThrowErrno(env, "fstat");
    return env.Undefined();
  }
  return Napi::String::New(env, KindOf(st.st_mode));
}

/** The fds above 2 this process would pass on to a program it execs (not close-on-exec), ascending. */
static Napi::Value InheritableFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> fds;
  const char* failed = nullptr;
  if (!pynwheel_posix::InheritableFds(&fds, &failed)) {
    ThrowErrno(env, failed, "/proc/self/fd");
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i]));
  return out;
}

/** An anonymous memory file (close-on-exec): a call's large values travel in one, by fd. */
static Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "name must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "memfd_create");
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

/**
 * A private, writable mapping of a whole file (a call's value memfd): an ArrayBuffer over it, no
 * copy; unmapped when the buffer is collected. The fd may be closed at once.
 */
static Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, "fd", &fd)) return env.Undefined();
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ThrowErrno(env, "fstat");
    return env.Undefined();
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) return Napi::ArrayBuffer::New(env, 0);
  void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (memory == MAP_FAILED) {
    ThrowErrno(env, "mmap");
    return env.Undefined();
  }
  return Napi::ArrayBuffer::New(env, memory, size, [](Napi::Env, void* data, size_t* length) {
    munmap(data, *length);
    delete length;
  }, new size_t(size));
}

void InitFdOps(Napi::Env env, Napi::Object exports) {
  exports.Set("inheritableFds", Napi::Function::New(env, InheritableFds, "inheritableFds"));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("tryLockExclusive", Napi::Function::New(env, TryLockExclusive, "tryLockExclusive"));
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("fdKind", Napi::Function::New(env, FdKind, "fdKind"));
}
