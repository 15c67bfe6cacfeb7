// The fds a process would pass on to a program it execs: those above 2 without FD_CLOEXEC.
// Used by the runner (at its start, before it opens anything) and the addon (the Node CLI's
// inheritableFds), which send them with the run request (RunRequest.passFds).
#pragma once

#include <vector>

namespace pynwheel_posix {

/**
 * Ascending, from /proc/self/fd (the fd that reads it is not one of them). False with errno
 * set (and the syscall's name in *failed_call) if the list cannot be read.
 */
bool InheritableFds(std::vector<int>* fds, const char** failed_call);

}  // namespace pynwheel_posix
