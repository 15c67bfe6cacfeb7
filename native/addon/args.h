// Argument checks shared by the bindings. Each one throws a TypeError or RangeError into JS
// and returns false when the argument is unusable; the caller then returns at once.
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#pragma once

#include <cstdint>
#include <string>

#include <napi.h>

// An integer in [min, max]. A non-number is a TypeError, a fraction or out-of-range value a RangeError.
bool GetInt(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max,
            int64_t* out);

// An fd: any int32. Negative values are let through so the syscall reports EBADF, as Node does.
bool GetFd(const Napi::CallbackInfo& info, size_t index, const char* name, int* out);

bool GetBool(const Napi::CallbackInfo& info, size_t index, const char* name, bool* out);

// A socket path: a non-empty string without NUL bytes (a NUL would silently cut it short).
bool GetPath(const Napi::CallbackInfo& info, size_t index, const char* name, std::string* out);
