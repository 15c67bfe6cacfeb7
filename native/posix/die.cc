// Dying by a signal (see die.h). Runs in the native runner and in a Node process (the addon).
#include "die.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>

namespace pynwheel_posix {

void DieBySignal(int sig, bool allow_core) {
  // Nothing returns from here, so each step is best effort; _exit below is the fallback.
  if (!allow_core) {
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
  // raise() targets this thread, where the signal is now unblocked, so it is delivered before
  // raise returns and its default action ends the whole process.
  raise(sig);
  _exit(128 + sig);
}

}  // namespace pynwheel_posix
