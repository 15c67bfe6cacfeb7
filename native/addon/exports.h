// Each binding file adds its functions to the module's exports.
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#pragma once

#include <napi.h>

void InitSockets(Napi::Env env, Napi::Object exports);  // sockets.cc
void InitFdPass(Napi::Env env, Napi::Object exports);   // fdpass.cc
void InitFdOps(Napi::Env env, Napi::Object exports);    // fdops.cc
void InitDie(Napi::Env env, Napi::Object exports);      // die.cc
void InitPoller(Napi::Env env, Napi::Object exports);   // poller.cc
void InitProcess(Napi::Env env, Napi::Object exports);  // process.cc
