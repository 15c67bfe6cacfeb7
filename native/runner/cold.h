// A cold run: no daemon listens, so no warm zygote can take the run. python runs it here at once
// (direct.h), exactly as without pynwheel, and a daemon started now warms the zygote for the
// script's next run meanwhile (`--warm`, docs/PROTOCOL.md). As lib/client/cold.ts.
#pragma once
#include <string>

#include "locate.h"

namespace runner {

/**
 * Starts the daemon (dist/daemon/main.js) detached, in a session of its own, its stdout and
 * stderr the runtime directory's log, with the warm-up of `run_request` (the run request's
 * JSON; none for a terminal session's run, whose zygote only its client can start). Returns
 * false if it could not (no node, no log): the caller then hands over to the Node CLI.
 */
bool StartDaemonWarming(const Location& where, const std::string& run_request, bool in_session);

}  // namespace runner
