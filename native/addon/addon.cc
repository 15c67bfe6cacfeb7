// pynwheel's native addon: the few syscalls Node does not expose (fd passing, peer
// credentials, flock, dying by a signal) and a uv_poll_t wrapper to drive them. Loaded by the
// Node processes of pynwheel (the CLI, the daemon, a process using the Node API); it never forks.
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
