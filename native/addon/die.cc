// dieBySignal: the client ends the way the Python process did, so a shell or parent sees
// the same wait status (e.g. "killed by SIGTERM") as when running python directly.
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#include <csignal>

#include "args.h"
#include "posix/die.h"
#include "exports.h"

static Napi::Value DieBySignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t signo;
  bool allowCore;
  if (!GetInt(info, 0, "signo", 1, NSIG - 1, &signo) || !GetBool(info, 1, "allowCore", &allowCore)) {
    return env.Undefined();
  }
  pynwheel_posix::DieBySignal(static_cast<int>(signo), allowCore);
}

void InitDie(Napi::Env env, Napi::Object exports) {
  exports.Set("dieBySignal", Napi::Function::New(env, DieBySignal, "dieBySignal"));
}
