// Scheduling (see sched.h). Runs in the native runner and in a Node process (the addon).
#include "sched.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace pynwheel_posix {

namespace {

constexpr int kIoprioWhoProcess = 1;

bool ReadOomScoreAdj(int* out) {
  int fd;
  do fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  char buf[32];
  ssize_t n;
  do n = read(fd, buf, sizeof buf - 1); while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  char* end;
  long value = std::strtol(buf, &end, 10);
  if (end == buf) return false;
  *out = static_cast<int>(value);
  return true;
}

}  // namespace

bool CurrentScheduling(Scheduling* out) {
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  if (nice == -1 && errno != 0) return false;
  out->nice = nice;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return false;
  out->cpus.clear();
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (CPU_ISSET(cpu, &set)) out->cpus.push_back(cpu);
  }
  long ioprio = syscall(SYS_ioprio_get, kIoprioWhoProcess, 0);
  if (ioprio < 0) return false;
  out->ioprio = static_cast<int>(ioprio);
  return ReadOomScoreAdj(&out->oom_score_adj);
}

std::string SchedulingJson(const Scheduling& s) {
  std::string json = "{\"nice\":" + std::to_string(s.nice) + ",\"cpus\":[";
  for (size_t i = 0; i < s.cpus.size(); i++) {
    if (i) json += ',';
    json += std::to_string(s.cpus[i]);
  }
  json += "],\"ioprio\":" + std::to_string(s.ioprio) + ",\"oomScoreAdj\":" + std::to_string(s.oom_score_adj) + "}";
  return json;
}

}  // namespace pynwheel_posix
