// What the caller's process passes on to python beyond stdio, cwd and environment, read at the
// runner's start before it opens anything or touches a signal: the signals it left ignored
// (SIG_IGN), the ones it blocks, and its inheritable fds above 2. They go in the run request
// (RunRequest.signals and passFds in lib/shared/messages.ts), and to the Node CLI when the
// runner hands over: Node resets dispositions and mask at start, and marks the fds below 17
// close-on-exec, so it cannot see them itself (it inherits the fds themselves by exec).
#pragma once
#include <string>
#include <vector>

namespace runner {

struct Caller {
  std::vector<int> ignored;  // ascending signal numbers
  std::vector<int> blocked;
  std::vector<int> fds;      // ascending fd numbers above 2, not close-on-exec
  bool fds_known = false;    // /proc/self/fd could be read
};

/** The caller's signals and fds, as this process has them now (about 15 us). */
void ReadCaller(Caller* caller);

bool IsIgnored(const Caller& caller, int signo);

/** ,"signals":{"ignored":[...],"blocked":[...]},"passFds":[...] for the request. */
void AppendCallerFields(std::string& json, const Caller& caller);

/**
 * The variable the Node CLI reads (and removes at once) after a hand-over (lib/cli/caller.ts),
 * and its value: "IGNORED;BLOCKED;FDS", each comma-separated numbers; without ";FDS" if the fds
 * are not known.
 */
extern const char kCallerVariable[];
std::string CallerValue(const Caller& caller);

}  // namespace runner
