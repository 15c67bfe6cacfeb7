// Node-style errors (see errors.h). Runs in a Node process of pynwheel, as part of the addon.
#include "errors.h"

#include <cerrno>
#include <string>

#include <uv.h>

Napi::Error UvError(Napi::Env env, int status, const char* syscall, const char* path) {
  // uv_err_name_r, unlike uv_err_name, does not leak for unknown codes.
  char code[64];
  uv_err_name_r(status, code, sizeof(code));
  std::string message = std::string(syscall) + " " + code;
  if (path != nullptr) message += std::string(" ") + path;

  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, status));
  error.Set("code", Napi::String::New(env, code));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (path != nullptr) error.Set("path", Napi::String::New(env, path));
  return error;
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const char* path) {
  // libuv's codes on Unix are the negated errno values, as Node reports them.
  return UvError(env, -err, syscall, path);
}

Napi::Error CodeError(Napi::Env env, const char* code, const char* syscall, const char* message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

void ThrowErrno(Napi::Env env, const char* syscall, const char* path) {
  ErrnoError(env, errno, syscall, path).ThrowAsJavaScriptException();
}
