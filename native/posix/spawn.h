// Starting a terminal session's zygote where only its client can: in the client's own session
// (lib/daemon/daemon.ts sends `start-zygote`). Shared by the addon (the Node CLI) and the runner.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace pynwheel_posix {

/**
 * Starts `argv` (argv[0] is the program's path) with the environment `env` ("NAME=value"
 * items) as a grandchild: detached from the caller (no child of ours to reap, nothing a
 * script's os.wait() could meet), in a process group of its own in the caller's session,
 * with /dev/null as fd 0, fds[1] and fds[2] as 1 and 2, fds[0] as 3, nothing else open, cwd
 * "/", default signal dispositions and an empty signal mask (as the daemon's zygotes start).
 * Between fork and exec only async-signal-safe calls are made (the caller may be Node).
 * `after` > 0: the grandchild execs only once process `after` is gone (at most `after_limit_ms`): the caller's
 * own run, which python runs meanwhile, is not slowed by the zygote's start.
 * `new_session`: in a session of its own instead (the daemon a cold run starts: no terminal's).
 * Returns 0, or the errno of the fork that failed (*syscall names it).
 */
int SpawnDetached(const std::vector<std::string>& argv, const std::vector<std::string>& env, const int fds[3],
                  const char** syscall, pid_t after = 0, bool new_session = false, int after_limit_ms = 60000);

}  // namespace pynwheel_posix
