// Resource limits (see limits.h). Runs in the native runner and in a Node process (the addon).
#include "limits.h"

#include <sys/resource.h>

namespace pynwheel_posix {

std::vector<Limit> CurrentLimits() {
  std::vector<Limit> limits;
  auto value = [](rlim_t v) { return v == RLIM_INFINITY ? -1LL : static_cast<long long>(v); };
  for (int resource = 0; resource < RLIM_NLIMITS; resource++) {
    rlimit limit;
    if (getrlimit(static_cast<__rlimit_resource>(resource), &limit) != 0) continue;
    if ((limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur > (1ULL << 53)) ||
        (limit.rlim_max != RLIM_INFINITY && limit.rlim_max > (1ULL << 53))) continue;
    limits.push_back({resource, value(limit.rlim_cur), value(limit.rlim_max)});
  }
  return limits;
}

}  // namespace pynwheel_posix
