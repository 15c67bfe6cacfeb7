// A client with a controlling terminal: its runs come from zygotes born in its terminal session
// and join its process group (RunRequest.session in lib/shared/messages.ts), as python started
// there would be, so that /dev/tty, the terminal's signals and job control reach them. The daemon
// asks such a client to start its session's zygote (`start-zygote`): only a process of the
// session can. As lib/shared/proc-stat.ts and lib/client/start-zygote.ts for the Node CLI.
#pragma once
#include <string>
#include <vector>

#include "json.h"

namespace runner {

struct TerminalSession {
  long sid = 0;   // 0: this process has no controlling terminal
  long pgid = 0;  // its process group
};

/** This process's, from /proc/self/stat (one read). */
TerminalSession FindTerminalSession();

/**
 * Starts the zygote a `start-zygote` reply describes (argv and env, NUL-separated) with its 3
 * fds, detached (native/posix/spawn.h), and closes them; false if it could not (the run goes on).
 */
bool StartSessionZygote(const FlatObject& reply, std::vector<int>& fds);

/** Whether process `pid` is stopped (state T): a terminal stopped it with its client, or not. */
bool IsStopped(long pid);

}  // namespace runner
