// The scheduling a run must have, as python started by the caller would: nice value, CPU
// affinity, I/O priority and OOM score adjustment, read by the client (the runner and the
// addon alike) and sent with its request as "sched".
#pragma once

#include <string>
#include <vector>

namespace pynwheel_posix {

struct Scheduling {
  int nice = 0;
  std::vector<int> cpus;  // the CPUs this process may run on, ascending
  int ioprio = 0;         // ioprio_get's value: class << 13 | data
  int oom_score_adj = 0;  // /proc/self/oom_score_adj
};

/** This process's scheduling; false where one of them cannot be read (then none is sent). */
bool CurrentScheduling(Scheduling* out);

/** {"nice":N,"cpus":[...],"ioprio":N,"oomScoreAdj":N}: the request's "sched". */
std::string SchedulingJson(const Scheduling& s);

}  // namespace pynwheel_posix
