// sendmsg/recvmsg with SCM_RIGHTS: how a client hands its stdio to the daemon.
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "args.h"
#include "posix/fdmsg.h"
#include "errors.h"
#include "exports.h"

// The kernel's limit on fds in one SCM_RIGHTS message (SCM_MAX_FD, not exported to userspace).
static constexpr int kMaxFds = 253;

// Control buffer big enough for kMaxFds, aligned for cmsghdr.
union ControlBuffer {
  cmsghdr align;
  char bytes[CMSG_SPACE(kMaxFds * sizeof(int))];
};

static Napi::Value SendMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, "fd", &fd)) return env.Undefined();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "The \"data\" argument must be a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
  if (!info[2].IsArray()) {
    Napi::TypeError::New(env, "The \"fds\" argument must be an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array fdArray = info[2].As<Napi::Array>();
  uint32_t count = fdArray.Length();
  if (count > kMaxFds) {
    Napi::RangeError::New(env, "sendMsg: at most 253 fds fit in one message").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Fds ride on the data bytes; with no byte to carry them the receiver would never see them.
  if (count > 0 && data.ByteLength() == 0) {
    Napi::TypeError::New(env, "sendMsg: a message carrying fds must carry at least one data byte")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fds[kMaxFds];
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value value = fdArray.Get(i);
    if (env.IsExceptionPending()) return env.Undefined();  // a throwing getter
    double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
    // The range test (false for NaN) comes first: casting an out-of-range double is undefined.
    if (!(number >= INT_MIN && number <= INT_MAX) || std::trunc(number) != number) {
      Napi::TypeError::New(env, "The \"fds\" argument must contain only integers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    fds[i] = static_cast<int>(number);
  }

  ssize_t sent = pynwheel_posix::SendWithFds(fd, data.Data(), data.ByteLength(), fds, count);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    ThrowErrno(env, "sendmsg");
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}

static Napi::Value RecvMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t maxBytes, maxFds;
  if (!GetFd(info, 0, "fd", &fd)) return env.Undefined();
  // At least one byte, or a read of 0 bytes could not be told from EOF.
  if (!GetInt(info, 1, "maxBytes", 1, INT32_MAX, &maxBytes)) return env.Undefined();
  if (!GetInt(info, 2, "maxFds", 0, kMaxFds, &maxFds)) return env.Undefined();

  void* buffer = malloc(static_cast<size_t>(maxBytes));
  if (buffer == nullptr) {
    ErrnoError(env, ENOMEM, "recvmsg").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  iovec iov;
  iov.iov_base = buffer;
  iov.iov_len = static_cast<size_t>(maxBytes);
  msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ControlBuffer control;
  if (maxFds > 0) {
    msg.msg_control = control.bytes;
    msg.msg_controllen = CMSG_SPACE(static_cast<size_t>(maxFds) * sizeof(int));
  }

  // MSG_CMSG_CLOEXEC: the fds must not leak into children the daemon spawns meanwhile.
  ssize_t got;
  do {
    got = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    int err = errno;
    free(buffer);
    if (err == EAGAIN || err == EWOULDBLOCK) return env.Null();
    ErrnoError(env, err, "recvmsg").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  std::vector<int> fds = pynwheel_posix::ReceivedFds(&msg);
  if (msg.msg_flags & MSG_CTRUNC) {
    // The kernel dropped the fds that did not fit; the message is unusable, so close the rest.
    for (int received : fds) close(received);
    free(buffer);
    CodeError(env, "ECTRUNC", "recvmsg", "recvmsg: control data truncated (too many file descriptors)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Object result = Napi::Object::New(env);
  result.Set("data", Napi::Buffer<uint8_t>::Copy(env, static_cast<uint8_t*>(buffer), static_cast<size_t>(got)));
  free(buffer);
  Napi::Array fdList = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) fdList.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i]));
  result.Set("fds", fdList);
  return result;
}

void InitFdPass(Napi::Env env, Napi::Object exports) {
  exports.Set("sendMsg", Napi::Function::New(env, SendMsg, "sendMsg"));
  exports.Set("recvMsg", Napi::Function::New(env, RecvMsg, "recvMsg"));
}
