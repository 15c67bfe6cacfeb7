// dieBySignal: the client ends the way the Python process did, so a shell or parent sees
// the same wait status (e.g. "killed by SIGTERM") as when running python directly.
#include <csignal>

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "args.h"
#include "exports.h"

static Napi::Value DieBySignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t signo;
  bool allowCore;
  if (!GetInt(info, 0, "signo", 1, NSIG - 1, &signo) || !GetBool(info, 1, "allowCore", &allowCore)) {
    return env.Undefined();
  }
  int sig = static_cast<int>(signo);

  // Past this point nothing returns to JS, so failures are not thrown: each step is best
  // effort and the _exit below is the fallback if the signal does not end us.
  if (!allowCore) {
    // The Python process already dumped its core if it was going to; Node's would be noise.
    rlimit limit;
    if (getrlimit(RLIMIT_CORE, &limit) == 0) {
      limit.rlim_cur = 0;
      setrlimit(RLIMIT_CORE, &limit);
    }
    // RLIMIT_CORE is not enforced by the kernel when core_pattern is a pipe; non-dumpable is.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  }

  // Node ignores SIGPIPE and may handle SIGTERM/SIGINT; the default action is what we want.
  // (Fails harmlessly with EINVAL for SIGKILL and SIGSTOP, whose action is fixed anyway.)
  struct sigaction action = {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(sig, &action, nullptr);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

  // raise() targets this thread, where the signal is now unblocked, so it is delivered
  // before raise returns and its default action ends the whole process.
  raise(sig);

  // Still here: a signal whose default is to ignore (SIGCHLD, SIGWINCH...) or one that stopped
  // us and we were continued. Exit with the status a shell would report for it.
  _exit(128 + sig);
}

void InitDie(Napi::Env env, Napi::Object exports) {
  exports.Set("dieBySignal", Napi::Function::New(env, DieBySignal, "dieBySignal"));
}
