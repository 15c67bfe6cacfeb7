// The resource limits a run must have, as python started by the caller would: read with
// getrlimit by the client (the runner and the addon alike) and sent with its request.
#pragma once

#include <vector>

namespace pynwheel_posix {

struct Limit {
  int resource;
  long long soft;  // -1: unlimited
  long long hard;
};

/**
 * Every limit getrlimit tells, -1 for unlimited. One beyond 2^53 (and not unlimited) is left
 * out: a JSON number cannot carry it exactly, and the run keeps the zygote's.
 */
std::vector<Limit> CurrentLimits();

}  // namespace pynwheel_posix
