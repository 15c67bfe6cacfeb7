// Following a run to its end: the replies of a lane or of the daemon ({started, pid},
// {stopped}, {exit, code | signal, core}, {error, code, message}, or a lane's {decline, reason,
// message}), signals passed on meanwhile, and this process ending as the run ended (exit
// status, or death by the same signal), or at once when the run's status signal comes.
#pragma once
#include <string>

namespace runner {

/**
 * Reads `sock`'s replies until the run ends, and ends this process the same way. It returns
 * only when nothing ran and someone else must decide, saying why:
 * - from a lane (`route` is its route's name): declined, or closed before the run started (the
 *   daemon is asked next). Signals wait until a lane's run has started: a declined run never
 *   sees them; the daemon's does.
 * - from the daemon (`route` null): it is of another version, or its zygotes cannot be trusted
 *   now, or a run must not come from a zygote (EVERSION, ESTALE, EDIRECT): the Node CLI replaces it or
 *   runs python itself.
 * - from the daemon, for a client of a terminal session (`in_session`): its session's zygote is
 *   not ready (`direct`, *direct set): python must run it here; a `start-zygote` before it is
 *   done on the way (session.h). A run of a session's zygote is in our process group.
 * A daemon lost during the run ends this process with status 125 and a message.
 */
std::string AwaitOutcome(int sock, const char* route, bool in_session = false, bool* direct = nullptr);

}  // namespace runner
