// Node-style errors for syscall failures, so JS sees the same shape as from fs/net:
// message "<syscall> <CODE>[ <path>]", with code, errno (negative), syscall and path.
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#pragma once

#include <napi.h>

// An error for a failed syscall; `err` is the positive errno value it set.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const char* path = nullptr);

// The same for a libuv status (a negative errno on Unix).
Napi::Error UvError(Napi::Env env, int status, const char* syscall, const char* path = nullptr);

// An error with a code of our own (no errno), e.g. 'ECTRUNC' from recvmsg.
Napi::Error CodeError(Napi::Env env, const char* code, const char* syscall, const char* message);

// Throws ErrnoError(errno) into JS. Call right after the failing syscall, before errno changes.
void ThrowErrno(Napi::Env env, const char* syscall, const char* path = nullptr);
