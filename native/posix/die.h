// Ending the way the Python process did, so a shell or parent sees the same wait status
// ("killed by SIGTERM") as when running python directly. Shared by the addon and the runner.
#pragma once

namespace pynwheel_posix {

/**
 * Resets `signo` to its default action, unblocks it and raises it; if that does not end the
 * process (a signal whose default is to ignore), _exit(128 + signo). With `allow_core` false no
 * core is dumped: the Python process already dumped its own if it was going to.
 */
[[noreturn]] void DieBySignal(int signo, bool allow_core);

}  // namespace pynwheel_posix
