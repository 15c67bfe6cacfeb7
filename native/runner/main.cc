// pynwheel-runner: the warm path of `pynwheel run` without starting Node (Node alone takes five
// times python's start-up). It does what lib/client.ts does for one run: send the request with
// this process's own fds 0-2 and cwd, first to the script's lane if the daemon left a route to
// it, else to the daemon; pass signals on; and end as the run ended. Everything else is handed
// to the Node CLI by exec (handover.h), so behaviour is the same either way. It never forks.
//
// This file is the run's story; each step's header says what it does:
//   run_args.h  what the command line asks for     locate.h    cwd, runtime directory, python
//   route.h     the script's route to a lane       request.h   the run request
//   signals.h   signals passed on, status signal   wire.h      sockets and frames
//   outcome.h   the replies until the run ends     handover.h  exec of the Node CLI
//   debug.h     PYNWHEEL_DEBUG=1's lines
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../shared/protocol.h"
#include "debug.h"
#include "handover.h"
#include "locate.h"
#include "outcome.h"
#include "request.h"
#include "route.h"
#include "run_args.h"
#include "signals.h"
#include "wire.h"

using namespace runner;

namespace {

/**
 * Which of fds 0-2 the caller left open, known before anything is opened (a new fd takes the
 * lowest free number). Closed ones are held by /dev/null and sent as absent, so the run has
 * them closed too: python's sys.stdin is None, which the Node CLI cannot give (Node reopens
 * closed stdio fds on /dev/null at start-up).
 */
bool HoldClosedStdio(bool present[3]) {
  for (int fd = 0; fd < 3; fd++) {
    present[fd] = fcntl(fd, F_GETFD) != -1;
    if (present[fd]) continue;
    int held;
    do held = open("/dev/null", O_RDWR); while (held < 0 && errno == EINTR);
    if (held != fd) return false;  // cannot happen: fd was the lowest free number
  }
  return true;
}

/** Why python itself must run the script (lib/cli.ts runs it directly then), or nullptr. */
const char* PythonRunsItself() {
  const char* disable = getenv("PYNWHEEL_DISABLE");
  if (disable && std::strcmp(disable, "1") == 0) return "PYNWHEEL_DISABLE=1 (python runs the script itself)";
  const char* inspect = getenv("PYTHONINSPECT");  // python's REPL after the script
  if (inspect && *inspect) return "PYTHONINSPECT is set (python runs the script itself)";
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  InitDebug();
  bool present[3];
  if (!HoldClosedStdio(present)) return 125;
  RunArgs run;
  if (const char* why = ParseCommandLine(argc, argv, &run)) HandToNode(argv, why);
  if (const char* why = PythonRunsItself()) HandToNode(argv, why);
  Location where;
  if (const char* why = Locate(run.python, &where)) HandToNode(argv, why);
  if (!OpenSignalPipe()) HandToNode(argv, "no pipe for signals");  // nothing has run yet

  // The daemon's route for this script, if it has one: straight to a spare of its zygote,
  // connected first, so that the spare wakes and accepts while the request is built.
  std::string route;
  const char* miss = pynwheel_protocol::kModuleRun;  // module runs do not take a lane
  int lane = -1, miss_errno = 0;
  if (!run.has_module) {
    route = RouteName(where.python, where.cwd, run.file);
    lane = ConnectRoute(where.runtime_dir, route, &miss);
    miss_errno = errno;
  }
  std::vector<int> fds;
  for (int fd = 0; fd < 3; fd++) {
    if (present[fd]) fds.push_back(fd);
  }
  int cwd_fd;
  do cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); while (cwd_fd < 0 && errno == EINTR);
  if (cwd_fd >= 0) fds.push_back(cwd_fd);
  RequestFds sent_fds{{present[0], present[1], present[2]}, cwd_fd >= 0};
  std::string request = BuildRunRequest(run, where, sent_fds, StatusSignal(), AskForStatusSignal());
  std::string frame = EncodeFrame(request, static_cast<unsigned>(fds.size()));

  if (lane >= 0) {
    bool sent = SendFrame(lane, frame, fds);
    int send_errno = errno;
    InstallSignalForwarding();
    std::string why = sent ? AwaitOutcome(lane, route.c_str())  // returns only if the lane did not take the run
                           : std::string("lane closed (") + pynwheel_protocol::kLaneClosed + ": sendmsg: " + std::strerror(send_errno) + ") before the run started";
    Debug("%s; asking the daemon", why.c_str());
    close(lane);
  } else if (Debugging() && run.has_module) {
    Debug("module run (%s); asking the daemon", miss);
  } else if (Debugging()) {
    Debug("%s (%s: r/%s: %s); asking the daemon", std::strcmp(miss, pynwheel_protocol::kRouteGone) == 0 ? "route gone" : "no route", miss,
          route.c_str(), std::strerror(miss_errno));
  }

  InstallSignalForwarding();
  int sock = Connect(where.runtime_dir + "/daemon.sock");
  // No daemon (Node starts one), or trouble Node should report; nothing has run yet (the
  // handlers and pipe do not survive exec).
  if (sock < 0) HandToNode(argv, (std::string("no daemon listening (connect: ") + std::strerror(errno) + "; Node starts one)").c_str());
  if (!SendFrame(sock, frame, fds)) HandToNode(argv, (std::string("the daemon did not take the request (sendmsg: ") + std::strerror(errno) + ")").c_str());
  if (cwd_fd >= 0) close(cwd_fd);  // the daemon holds its own copy now
  HandToNode(argv, AwaitOutcome(sock, nullptr).c_str());  // returns only if Node must decide
}
