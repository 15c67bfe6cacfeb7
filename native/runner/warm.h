// `pynwheel warm FILE` when nothing needs Node: no terminal on stderr (no progress line, no
// terminal session's zygote to start), a daemon listening, a plain interpreter. Warming what is
// warm then costs about a warm run (a request and its reply), not a Node start. The warm
// request is lib/cli/warm.ts's; anything else is the Node CLI's (`warm` there).
#pragma once

namespace runner {

/**
 * argv is the whole command line, argv[1] "warm". Returns only if the Node CLI must take it
 * (then nothing was sent); else exits as `pynwheel warm` does: 0 once warm, 125 if the daemon
 * failed or went away (its message on stderr).
 */
void WarmIfSimple(int argc, char** argv);

}  // namespace runner
