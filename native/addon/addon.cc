// pynwheel's native addon: the few syscalls Node does not expose (fd passing, peer
// credentials, flock, dying by a signal) and a uv_poll_t wrapper to drive them.
#include "exports.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitSockets(env, exports);
  InitFdPass(env, exports);
  InitFdOps(env, exports);
  InitDie(env, exports);
  InitPoller(env, exports);
  InitProcess(env, exports);
  return exports;
}

NODE_API_MODULE(pynwheel, Init)
