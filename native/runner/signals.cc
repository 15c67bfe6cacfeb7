// Signal forwarding and the status signal (see signals.h). Runs in the native runner.
#include "signals.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "wire.h"

namespace runner {

namespace {

// The run's status, sent straight here by the run's process as its script ends: no wait for
// the zygote to be scheduled. SIGURG is ignored by default, so a status sent to a pid that is
// no longer ours harms no one. Any other SIGURG is passed on as usual.
const int kStatusSignal = SIGURG;
const unsigned char kStatusMarker = 0;  // in the pipe: the run's status came (no signal is 0)
// In the pipe, with the signal's number: the kernel sent it (a terminal's key, resize or
// hangup, si_code SI_KERNEL), to our whole process group.
const unsigned char kFromTerminal = 0x80;

/** All the runner's signal state. The handler reads the pipe's write end and the token (set before it is installed) and writes the volatile fields. */
struct SignalState {
  int pipe[2] = {-1, -1};
  // The 48-bit token, as two 24-bit halves (sig_atomic_t is an int); both 0 when not asked for.
  volatile sig_atomic_t token_high = 0, token_low = 0;
  volatile sig_atomic_t status_noticed = 0, status_pid = 0, status_code = 0;
  // This process leads its session: a hangup's SIGHUP comes to it alone, not to its group.
  volatile sig_atomic_t session_leader = 0;
  bool status_signal_ignored = false;  // the caller ignores it: other senders' are dropped (set before install)
  bool installed = false;
};
SignalState g_signals;

uint64_t Token() {
  return (static_cast<uint64_t>(g_signals.token_high) << 24) | static_cast<uint64_t>(g_signals.token_low);
}

/** Signals that a fault of this process raises: those are its own, never passed on. */
bool IsFaultSignal(int signo) {
  return signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE || signo == SIGILL || signo == SIGTRAP ||
         signo == SIGSYS;
}

void OnSignal(int signo, siginfo_t* info, void*) {
  int saved = errno;
  if (signo == kStatusSignal && info != nullptr && info->si_code == SI_QUEUE && Token() != 0 &&
      (reinterpret_cast<uintptr_t>(info->si_value.sival_ptr) >> 8) == Token()) {
    g_signals.status_pid = info->si_pid;
    g_signals.status_code = static_cast<int>(reinterpret_cast<uintptr_t>(info->si_value.sival_ptr) & 0xFF);
    g_signals.status_noticed = 1;
    (void)!write(g_signals.pipe[1], &kStatusMarker, 1);
    errno = saved;
    return;
  }
  if (signo == kStatusSignal && g_signals.status_signal_ignored) {
    errno = saved;
    return;  // ignored by the caller, as on python's process
  }
  if (IsFaultSignal(signo) && info != nullptr && info->si_code > 0) {
    // A real fault here (the kernel sent it, si_code > 0), not kill(1): die of it as any
    // program would; returning re-runs the faulting instruction under the default action.
    signal(signo, SIG_DFL);
    errno = saved;
    return;
  }
  if (signo == SIGCHLD && info != nullptr && info->si_code > 0) {
    errno = saved;  // our own child's (the one that starts a session's zygote, session.h); a kill(1) is passed on
    return;
  }
  bool to_group = info != nullptr && info->si_code == SI_KERNEL && !(signo == SIGHUP && g_signals.session_leader);
  unsigned char byte = static_cast<unsigned char>(signo | (to_group ? kFromTerminal : 0));
  (void)!write(g_signals.pipe[1], &byte, 1);
  errno = saved;
}

/**
 * Every catchable signal: a user's kill(1) of the client reaches the run, as it would reach
 * python (SIGKILL and SIGSTOP cannot be caught). The realtime signals glibc keeps for itself
 * (32, 33) are left alone.
 */
bool IsForwarded(int signo) {
  return signo >= 1 && signo < NSIG && signo != SIGKILL && signo != SIGSTOP && (signo < 32 || signo >= SIGRTMIN);
}

}  // namespace

bool OpenSignalPipe() {
  return pipe2(g_signals.pipe, O_CLOEXEC | O_NONBLOCK) == 0;
}

uint64_t AskForStatusSignal() {
  uint64_t token = 0;
  if (getrandom(&token, sizeof token, GRND_NONBLOCK) == sizeof token) {
    g_signals.token_high = static_cast<sig_atomic_t>((token >> 24) & 0xFFFFFF);
    g_signals.token_low = static_cast<sig_atomic_t>(token & 0xFFFFFF);
  }
  return Token();
}

int StatusSignal() { return kStatusSignal; }
int SignalPipe() { return g_signals.pipe[0]; }

/**
 * Installed before the request goes out (lane or daemon): a signal caught before the run has
 * started is passed on after the request, and acts on the run at its start, as on a python
 * that has just started.
 */
void InstallSignalForwarding(const Caller& caller) {
  if (g_signals.installed) return;
  g_signals.installed = true;
  g_signals.session_leader = getsid(0) == getpid();
  g_signals.status_signal_ignored = IsIgnored(caller, kStatusSignal);
  struct sigaction sa{};
  sa.sa_sigaction = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  for (int signo = 1; signo < NSIG; signo++) {
    if (!IsForwarded(signo) || (signo != kStatusSignal && IsIgnored(caller, signo))) continue;
    sigaction(signo, &sa, nullptr);  // cannot fail for a valid, catchable signal
  }
}

bool ForwardPendingSignals(int sock, bool run_in_our_group) {
  unsigned char signos[64];
  for (;;) {
    ssize_t n = read(g_signals.pipe[0], signos, sizeof signos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // EAGAIN: all read
    for (ssize_t i = 0; i < n; i++) {
      int signo = signos[i] & ~kFromTerminal;
      if (signo == kStatusMarker) continue;  // the run's status came (StatusCame says so)
      if (run_in_our_group && (signos[i] & kFromTerminal)) continue;  // it had its own
      // By number: the daemon accepts any signal this kernel has (realtime ones have no name).
      std::string payload = "{\"type\":\"signal\",\"signo\":" + std::to_string(signo) + "}";
      if (!SendFrame(sock, EncodeFrame(payload, 0), {})) return false;
    }
  }
}

bool StatusCame(long pid, int* code) {
  if (!g_signals.status_noticed || g_signals.status_pid != pid) return false;
  *code = g_signals.status_code;
  return true;
}

/**
 * Nothing has run, and exec would drop what the handler noted: a signal that came meanwhile
 * takes its default action here, as it would on a python that had not started yet (a SIGTERM
 * ends us; a SIGWINCH does nothing).
 */
void ActOnCaughtSignals() {
  if (g_signals.pipe[0] < 0) return;
  unsigned char signos[64];
  ssize_t n;
  while ((n = read(g_signals.pipe[0], signos, sizeof signos)) > 0 || (n < 0 && errno == EINTR)) {
    for (ssize_t i = 0; i < n; i++) {
      int signo = signos[i] & ~kFromTerminal;
      if (signo == kStatusMarker) continue;  // a run's status: no run has started
      signal(signo, SIG_DFL);
      raise(signo);
    }
  }
}

}  // namespace runner
