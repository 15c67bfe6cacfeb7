// Argument checks (see args.h). Runs in a Node process of pynwheel, as part of the addon.
#include "args.h"

#include <climits>
#include <cmath>

static void ThrowType(Napi::Env env, const char* name, const char* expected) {
  std::string message = std::string("The \"") + name + "\" argument must be " + expected;
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

bool GetInt(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max,
            int64_t* out) {
  Napi::Env env = info.Env();
  if (!info[index].IsNumber()) {
    ThrowType(env, name, "a number");
    return false;
  }
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(value) || std::trunc(value) != value || value < static_cast<double>(min) ||
      value > static_cast<double>(max)) {
    std::string message = std::string("The \"") + name + "\" argument must be an integer in [" +
                          std::to_string(min) + ", " + std::to_string(max) + "]";
    Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int64_t>(value);
  return true;
}

bool GetFd(const Napi::CallbackInfo& info, size_t index, const char* name, int* out) {
  int64_t value;
  if (!GetInt(info, index, name, INT_MIN, INT_MAX, &value)) return false;
  *out = static_cast<int>(value);
  return true;
}

bool GetBool(const Napi::CallbackInfo& info, size_t index, const char* name, bool* out) {
  if (!info[index].IsBoolean()) {
    ThrowType(info.Env(), name, "a boolean");
    return false;
  }
  *out = info[index].As<Napi::Boolean>().Value();
  return true;
}

bool GetPath(const Napi::CallbackInfo& info, size_t index, const char* name, std::string* out) {
  if (!info[index].IsString()) {
    ThrowType(info.Env(), name, "a string");
    return false;
  }
  std::string value = info[index].As<Napi::String>().Utf8Value();
  if (value.empty() || value.find('\0') != std::string::npos) {
    ThrowType(info.Env(), name, "a non-empty string without null bytes");
    return false;
  }
  *out = std::move(value);
  return true;
}
