// A script's route: after a run of it, the daemon links <runtime dir>/r/<name> to the lane of
// the zygote that ran it (lib/daemon/routes.ts), so the runner can go straight to a spare. A route is
// only a hint: the spare checks the request and may decline.
#pragma once
#include <string>

namespace runner {

/**
 * The route's name for a script, as lib/shared/route-name.ts's routeName: FNV-1a, 64 bits, of
 * `python \0 cwd \0 file` (then `\0 session` for a client of a terminal session, `session` > 0),
 * as 16 hex digits (test/vectors/route-names.json pins the two).
 */
std::string RouteName(const std::string& python, const std::string& cwd, const std::string& file, long session = 0);

/**
 * Connects to the lane the route `name` leads to: the socket, or -1 with *miss set to the
 * laneMisses code (no-route: none published; route-gone: its zygote left, ECONNREFUSED) and
 * errno to connect's.
 */
int ConnectRoute(const std::string& runtime_dir, const std::string& name, const char** miss);

}  // namespace runner
