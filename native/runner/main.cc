// pynwheel-runner: the warm path of `pynwheel run` without starting Node (Node alone takes five
// times python's start-up). It does what lib/client/run-client.ts does for one run: send the request with
// this process's own fds 0-2 and cwd, first to the script's lane if the daemon left a route to
// it, else to the daemon; pass signals on; and end as the run ended. Everything else is handed
// to the Node CLI by exec (handover.h), so behaviour is the same either way. It never forks.
//
// main(), at the end of this file, is the run's story; each step's header says what it does:
//   run_args.h  what the command line asks for     locate.h    cwd, runtime directory, python
//   route.h     the script's route to a lane       request.h   the run request
//   signals.h   signals passed on, status signal   wire.h      sockets and frames
//   outcome.h   the replies until the run ends     handover.h  exec of the Node CLI
//   session.h   a terminal session's runs          caller.h    the caller's signals and fds
//   direct.h    exec of python itself              debug.h     PYNWHEEL_DEBUG=1's lines
//   cold.h      a cold run's daemon and warm-up    warm.h      `pynwheel warm FILE` without Node
//   guess.h     a new script's family, guessed
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../shared/protocol.h"
#include "caller.h"
#include "cold.h"
#include "debug.h"
#include "direct.h"
#include "guess.h"
#include "handover.h"
#include "locate.h"
#include "masquerade.h"
#include "outcome.h"
#include "request.h"
#include "route.h"
#include "run_args.h"
#include "session.h"
#include "signals.h"
#include "warm.h"
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

/** Why python itself must run the script (lib/cli/run-command.ts runs it directly then), or nullptr. */
const char* PythonRunsItself() {
  const char* disable = getenv("PYNWHEEL_DISABLE");
  if (disable && std::strcmp(disable, "1") == 0) return "PYNWHEEL_DISABLE=1 (python runs the script itself)";
  const char* inspect = getenv("PYTHONINSPECT");  // python's REPL after the script
  if (inspect && *inspect) return "PYTHONINSPECT is set (python runs the script itself)";
  return nullptr;
}

/** The script's route, connected (sock >= 0), or why not (a laneMisses code and connect's errno). */
struct Lane {
  int sock = -1;
  std::string route;
  bool guessed = false;  // the lane of the family its imports name (guess.h): the script has no route
  const char* miss = pynwheel_protocol::kModuleRun;  // module and -c runs do not take a lane
  int error = 0;
};

Lane ConnectLane(const RunArgs& run, const Location& where, const TerminalSession& session) {
  Lane lane;
  if (run.has_module || run.has_code) return lane;
  lane.route = RouteName(where.python, where.cwd, run.file, session.sid);
  lane.sock = ConnectRoute(where.runtime_dir, lane.route, &lane.miss);
  lane.error = errno;
  if (lane.sock >= 0) return lane;
  // No route of its own (a new script): the lane of the family its imports name, if one is warm.
  std::string family;
  std::string path = run.file[0] == '/' ? run.file : where.cwd + "/" + run.file;
  std::string guess = GuessFamilyRoute(where.runtime_dir, where.python, path, session.sid, &family);
  if (guess.empty()) return lane;
  const char* guess_miss = nullptr;
  int sock = ConnectRoute(where.runtime_dir, guess, &guess_miss);
  const char* what = std::strcmp(lane.miss, pynwheel_protocol::kRouteGone) == 0 ? "route gone" : "no route";
  if (sock < 0) {
    Debug("%s (%s: r/%s: %s), nor one of its family [%s] (r/%s: %s); asking the daemon", what, lane.miss,
          lane.route.c_str(), std::strerror(lane.error), family.c_str(), guess.c_str(), std::strerror(errno));
    lane.miss = pynwheel_protocol::kNoRoute;
    lane.error = -1;  // said already
    return lane;
  }
  Debug("%s (%s: r/%s: %s); its family's lane [%s]: r/%s", what, lane.miss, lane.route.c_str(), std::strerror(lane.error),
        family.c_str(), guess.c_str());
  lane.sock = sock;
  lane.route = guess;
  lane.guessed = true;
  return lane;
}

/** The request's frame and the fds it carries: the caller's present stdio fds, its cwd, its other inheritable fds. */
struct Outgoing {
  std::vector<int> fds;
  int cwd_fd;
  std::string json;  // the request, also a cold run's warm-up (cold.h)
  std::string frame;
};

Outgoing PrepareRequest(const RunArgs& run, const Location& where, const bool present[3], const Caller& caller,
                        const TerminalSession& session, bool cold, bool new_script) {
  Outgoing out;
  for (int fd = 0; fd < 3; fd++) {
    if (present[fd]) out.fds.push_back(fd);
  }
  do out.cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); while (out.cwd_fd < 0 && errno == EINTR);
  if (out.cwd_fd >= 0) out.fds.push_back(out.cwd_fd);
  out.fds.insert(out.fds.end(), caller.fds.begin(), caller.fds.end());
  RequestFds sent{{present[0], present[1], present[2]}, out.cwd_fd >= 0};
  out.json = BuildRunRequest(run, where, sent, StatusSignal(), AskForStatusSignal(), &caller, session, cold, new_script);
  out.frame = EncodeFrame(out.json, static_cast<unsigned>(out.fds.size()));
  return out;
}

/** The run through the lane; returns only if the lane did not take it (nothing ran). */
void TryLane(const Lane& lane, const Outgoing& request, const Caller& caller, const TerminalSession& session) {
  // The handlers first: the run may print and be signalled before this process is scheduled
  // again, and a signal caught meanwhile is passed on after the request, as any later one.
  InstallSignalForwarding(caller);
  bool sent = SendFrame(lane.sock, request.frame, request.fds);
  int send_errno = errno;
  std::string why = sent ? AwaitOutcome(lane.sock, lane.route.c_str(), session.sid > 0)
                         : std::string("lane closed (") + pynwheel_protocol::kLaneClosed + ": sendmsg: " +
                               std::strerror(send_errno) + ") before the run started";
  Debug("%s; asking the daemon", why.c_str());
  close(lane.sock);
}

void SayWhyNoLane(const Lane& lane, const char* run_kind) {
  if (!Debugging() || lane.error == -1) return;
  if (std::strcmp(lane.miss, pynwheel_protocol::kModuleRun) == 0) {
    Debug("%s run (%s); asking the daemon", run_kind, lane.miss);
  } else {
    const char* what = std::strcmp(lane.miss, pynwheel_protocol::kRouteGone) == 0 ? "route gone" : "no route";
    Debug("%s (%s: r/%s: %s); asking the daemon", what, lane.miss, lane.route.c_str(), std::strerror(lane.error));
  }
}

/**
 * The run through the daemon; ends this process as the run ends, or hands over to the Node CLI,
 * or becomes python (a terminal session whose zygote is not ready).
 */
[[noreturn]] void AskDaemon(char** argv, const RunArgs& run, const Location& where, const Outgoing& request,
                            const Caller& caller, const TerminalSession& session, const bool present[3], bool cold) {
  InstallSignalForwarding(caller);
  int sock = Connect(where.runtime_dir + "/daemon.sock");
  if (sock < 0 && cold && (errno == ENOENT || errno == ECONNREFUSED)) {
    // A cold run: python now, and a daemon that warms the zygote for the next run meanwhile.
    std::string why = std::string("cold run: no daemon listening (connect: ") + std::strerror(errno) + ")";
    if (StartDaemonWarming(where, request.json, session.sid > 0)) {
      if (request.cwd_fd >= 0) close(request.cwd_fd);
      RunPythonItself(run, where, present, why.c_str());
    }
  }
  // Trouble Node should report (or no way to start a daemon here); nothing has run yet (the
  // handlers and pipe do not survive exec).
  if (sock < 0) HandToNode(argv, (std::string("no daemon listening (connect: ") + std::strerror(errno) + "; Node starts one)").c_str());
  if (!SendFrame(sock, request.frame, request.fds)) {
    HandToNode(argv, (std::string("the daemon did not take the request (sendmsg: ") + std::strerror(errno) + ")").c_str());
  }
  if (request.cwd_fd >= 0) close(request.cwd_fd);  // the daemon holds its own copy now
  bool direct = false;
  std::string why = AwaitOutcome(sock, nullptr, session.sid > 0, &direct);  // returns only if nothing ran
  if (direct) {
    close(sock);
    RunPythonItself(run, where, present, why.c_str());  // a terminal session's zygote is starting
  }
  HandToNode(argv, why.c_str());
}

/** Whether the request's fds fit in one frame (else python runs the script itself). */
bool FdsFit(const bool present[3], const Caller& caller) {
  size_t count = caller.fds.size() + 1;  // and the cwd's
  for (int fd = 0; fd < 3; fd++) count += present[fd];
  return count <= pynwheel_protocol::kFdsPerFrame;
}

}  // namespace

int main(int argc, char** argv) {
  InitDebug();
  // First, before anything is opened or a handler installed: what python would inherit.
  Caller caller;
  ReadCaller(&caller);
  SetForNode(kCallerVariable, CallerValue(caller));
  bool present[3];
  if (!HoldClosedStdio(present)) return 125;
  // `pynwheel warm FILE` where Node is not needed (warm.h): what is warm costs a round trip.
  if (argc > 1 && std::strcmp(argv[1], "warm") == 0 && !IsMasquerade(argv[0])) WarmIfSimple(argc, argv);
  // What to run, where, with which python: anything unusual is the Node CLI's to decide.
  // Under python's own names (pynwheel shims DIR): `python3 ARGS` as `pynwheel run --python NEXT ARGS`.
  std::vector<std::string> masquerade_storage;
  std::vector<char*> masquerade_argv;
  bool masquerade = IsMasquerade(argv[0]);
  std::string typed = argv[0];
  if (masquerade) {
    SetForNode(kMasqueradeArgv0Variable, typed);
    MasqueradeCommandLine(argc, argv, &masquerade_storage, &masquerade_argv);
    argv = masquerade_argv.data();
    argc = static_cast<int>(masquerade_argv.size()) - 1;
  }
  RunArgs run;
  if (const char* why = ParseCommandLine(argc, argv, &run)) {
    // What the runner cannot take is the Node CLI's to explain; under python's name, python's.
    if (masquerade) ExecInterpreter(run.python.empty() ? argv[3] : run.python, argc - 4, argv + 4, why);
    HandToNode(argv, why);
  }
  if (const char* why = PythonRunsItself()) HandToNode(argv, why);
  Location where;
  if (const char* why = Locate(run.python, run.has_module ? run.module : std::string(), &where)) HandToNode(argv, why);
  // python's messages name it as the caller typed it, unless a shim execs it by its full path.
  if (masquerade && where.python == run.python) where.argv0 = typed;
  if (where.as_is) {
    if (masquerade) SkipShimWhenFoundAgain(where.python);
    RunPythonItself(run, where, present, "the interpreter is a shim run as it is");
  }
  if (run.direct == nullptr) run.direct = NewerThanInterpreter(run.options, where.python);
  if (run.direct != nullptr) RunPythonItself(run, where, present, run.direct);  // python reads this command line itself
  if (!FdsFit(present, caller)) RunPythonItself(run, where, present, "more inheritable fds than a request frame carries");
  if (!OpenSignalPipe()) HandToNode(argv, "no pipe for signals");  // nothing has run yet

  // The daemon's route for this script, if it has one, leads straight to a spare of its
  // zygote: connected first, so that the spare wakes and accepts while the request is built.
  // A client with a terminal gets runs of its session's zygotes (session.h), by routes of its own.
  TerminalSession session = FindTerminalSession();
  Lane lane = ConnectLane(run, where, session);
  // A cold run is python's own. Not under python's names: the python found next on PATH may
  // lead back to these shims (a version manager's `system`), and each exec would be another cold run.
  // PYNWHEEL_COLD=0: no cold runs, a first run waits for its zygote as every run is served then.
  const char* cold_setting = getenv("PYNWHEEL_COLD");
  bool cold = !masquerade && !(cold_setting && std::strcmp(cold_setting, "0") == 0);
  Outgoing request = PrepareRequest(run, where, present, caller, session, cold, lane.guessed);
  if (lane.sock >= 0) TryLane(lane, request, caller, session);  // returns only if the lane did not take the run
  else SayWhyNoLane(lane, run.has_code ? "-c" : "module");
  AskDaemon(argv, run, where, request, caller, session, present, cold);
}
