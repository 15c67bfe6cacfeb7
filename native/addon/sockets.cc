// Unix stream sockets: socketpair, listen/accept, connect, and the peer's credentials.
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "args.h"
#include "errors.h"
#include "exports.h"

// Fills `addr` for `path`; false (with ENAMETOOLONG thrown) if it does not fit in sun_path
// with its terminating NUL, which is also the limit Node's net module applies.
static bool MakeAddress(Napi::Env env, const std::string& path, const char* syscall, sockaddr_un* addr) {
  if (path.size() >= sizeof(addr->sun_path)) {
    ErrnoError(env, ENAMETOOLONG, syscall, path.c_str()).ThrowAsJavaScriptException();
    return false;
  }
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

static Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    ThrowErrno(env, "socketpair");
    return env.Undefined();
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(uint32_t{0}, Napi::Number::New(env, fds[0]));
  result.Set(uint32_t{1}, Napi::Number::New(env, fds[1]));
  return result;
}

static Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  int64_t backlog;
  if (!GetPath(info, 0, "socketPath", &path)) return env.Undefined();
  if (!GetInt(info, 1, "backlog", 0, INT32_MAX, &backlog)) return env.Undefined();
  sockaddr_un addr;
  if (!MakeAddress(env, path, "bind", &addr)) return env.Undefined();

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket");
    return env.Undefined();
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, err, "bind", path.c_str()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (listen(fd, static_cast<int>(backlog)) != 0) {
    int err = errno;
    close(fd);
    unlink(path.c_str());  // bind created this socket file; do not leave it behind
    ErrnoError(env, err, "listen", path.c_str()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

static Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int listenFd;
  if (!GetFd(info, 0, "listenFd", &listenFd)) return env.Undefined();
  int fd;
  do {
    fd = accept4(listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd >= 0) return Napi::Number::New(env, fd);
  // A client that gave up before we got to it (ECONNABORTED) is as good as none pending.
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) return env.Null();
  ThrowErrno(env, "accept");
  return env.Undefined();
}

static Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!GetPath(info, 0, "socketPath", &path)) return env.Undefined();
  sockaddr_un addr;
  if (!MakeAddress(env, path, "connect", &addr)) return env.Undefined();

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket");
    return env.Undefined();
  }
  // An AF_UNIX connect interrupted while waiting for backlog room leaves the socket
  // unconnected, so trying again is safe (unlike TCP).
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, err, "connect", path.c_str()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

static Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, "fd", &fd)) return env.Undefined();
  ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ThrowErrno(env, "getsockopt");
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, cred.uid));
  result.Set("gid", Napi::Number::New(env, cred.gid));
  return result;
}

void InitSockets(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("listen", Napi::Function::New(env, Listen, "listen"));
  exports.Set("accept", Napi::Function::New(env, Accept, "accept"));
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
}
