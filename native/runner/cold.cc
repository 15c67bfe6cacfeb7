// Starting the daemon for a cold run (see cold.h). Runs in the native runner, just before it
// becomes python.
#include "cold.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../posix/spawn.h"
#include "debug.h"
#include "handover.h"

namespace runner {

namespace {

/**
 * The daemon starts once this run (this process, python by then) is over, or after this long:
 * on a machine of few CPUs a Node daemon and zygotes importing beside it would slow the run
 * itself (lib/daemon/daemon.ts's COLD_WARM_DELAY_MS, the same for its own warm-ups).
 */
constexpr int kColdDelayMs = 1000;

/** Beyond this a warm request does not go on the daemon's command line (the next run warms it). */
constexpr size_t kMaxWarmArgument = 100000;

/** The variables the daemon reads (as lib/client/connect.ts's daemonEnvironment). */
const char* const kDaemonVariables[] = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYNWHEEL_IDLE",
                                        "PYNWHEEL_ZYGOTE_IDLE", "PYNWHEEL_MAX_ZYGOTES", "PYNWHEEL_SESSION_ZYGOTES"};

/** node: the one this package was built with, else the first on PATH; "" if none. */
std::string FindNode() {
#ifdef PYNWHEEL_NODE
  if (access(PYNWHEEL_NODE, X_OK) == 0) return PYNWHEEL_NODE;
#endif
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  for (;;) {
    size_t end = dirs.find(':', start);
    std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/node";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) return "";
    start = end + 1;
  }
}

}  // namespace

bool StartDaemonWarming(const Location& where, const std::string& run_request, bool in_session) {
  std::string node = FindNode();
  std::string root = PackageRoot();
  if (node.empty() || root.empty()) return false;
  std::vector<std::string> argv = {node, root + "/dist/daemon/main.js"};
  // The run request names the script, cwd, environment and python: the daemon takes it as a
  // warm request, and says in `status` why it warmed.
  static const char kRunPrefix[] = "{\"type\":\"run\",";
  if (!in_session && run_request.size() <= kMaxWarmArgument && run_request.compare(0, sizeof kRunPrefix - 1, kRunPrefix) == 0) {
    argv.push_back("--warm");
    argv.push_back(std::string("{\"type\":\"warm\",\"why\":\"cold run\",\"after\":") + std::to_string(getpid()) + "," +
                   run_request.substr(sizeof kRunPrefix - 1));
  }
  std::vector<std::string> env = {"PYNWHEEL_RUNTIME_DIR=" + where.runtime_dir};
  for (const char* name : kDaemonVariables) {
    const char* value = getenv(name);
    if (value != nullptr) env.push_back(std::string(name) + "=" + value);
  }
  std::string log = where.runtime_dir + "/daemon.log";
  int fd;
  do fd = open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600); while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  int fds[3] = {fd, fd, fd};  // (its fd 3 too, which it closes: it holds nothing of ours)
  const char* syscall = "fork";
  int err = pynwheel_posix::SpawnDetached(argv, env, fds, &syscall, getpid(), true, kColdDelayMs);
  close(fd);
  if (err != 0) {
    Debug("could not start the daemon: %s: %s", syscall, std::strerror(err));
    return false;
  }
  Debug("started the daemon%s", argv.size() > 2 ? ", which warms the zygote for the next run" : "");
  return true;
}

}  // namespace runner
