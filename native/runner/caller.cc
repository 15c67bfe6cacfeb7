// The caller's signals and fds (see caller.h). Runs in the native runner.
#include "caller.h"

#include <signal.h>

#include <algorithm>

#include "../posix/fds.h"

namespace runner {

const char kCallerVariable[] = "PYNWHEEL_CALLER";

namespace {

/** Signals a process can ignore or block: not SIGKILL or SIGSTOP, nor glibc's own realtime ones (32, 33). */
bool IsSettable(int signo) {
  return signo != SIGKILL && signo != SIGSTOP && (signo < 32 || signo >= SIGRTMIN);
}

void AppendNumbers(std::string& out, const std::vector<int>& numbers, char separator) {
  for (size_t i = 0; i < numbers.size(); i++) {
    if (i) out += separator;
    out += std::to_string(numbers[i]);
  }
}

}  // namespace

void ReadCaller(Caller* caller) {
  sigset_t mask;
  sigemptyset(&mask);
  sigprocmask(SIG_BLOCK, nullptr, &mask);
  for (int signo = 1; signo < NSIG; signo++) {
    if (!IsSettable(signo)) continue;
    struct sigaction now{};
    if (sigaction(signo, nullptr, &now) == 0 && !(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN) {
      caller->ignored.push_back(signo);
    }
    if (sigismember(&mask, signo) == 1) caller->blocked.push_back(signo);
  }
  const char* failed;
  caller->fds_known = pynwheel_posix::InheritableFds(&caller->fds, &failed);
}

bool IsIgnored(const Caller& caller, int signo) {
  return std::binary_search(caller.ignored.begin(), caller.ignored.end(), signo);
}

void AppendCallerFields(std::string& json, const Caller& caller) {
  json += ",\"signals\":{\"ignored\":[";
  AppendNumbers(json, caller.ignored, ',');
  json += "],\"blocked\":[";
  AppendNumbers(json, caller.blocked, ',');
  json += "]}";
  if (!caller.fds_known) return;  // (no /proc: the run gets none, as before)
  json += ",\"passFds\":[";
  AppendNumbers(json, caller.fds, ',');
  json += ']';
}

std::string CallerValue(const Caller& caller) {
  std::string value;
  AppendNumbers(value, caller.ignored, ',');
  value += ';';
  AppendNumbers(value, caller.blocked, ',');
  if (!caller.fds_known) return value;
  value += ';';
  AppendNumbers(value, caller.fds, ',');
  return value;
}

}  // namespace runner
