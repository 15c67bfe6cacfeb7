// Reading a run's outcome (see outcome.h). Runs in the native runner.
#include "outcome.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../posix/die.h"
#include "../shared/protocol.h"
#include "debug.h"
#include "session.h"
#include "signals.h"
#include "wire.h"

namespace runner {

namespace {

const int kExitFailed = 125;  // pynwheel itself failed (lib/cli/run-command.ts)

// The connection broke during the run. On a lane it is the run's zygote's: the zygote tells
// its lane clients when the daemon's end is what ends it, so a bare end of file there means the
// zygote itself is gone (killed), and the message says so rather than blame a daemon that is fine.
[[noreturn]] void LostServer(bool lane, const char* why) {
  Debug("lost the %s during the run: %s", lane ? "zygote (lane)" : "daemon", why);
  std::fprintf(stderr, lane ? "pynwheel: the run's Python zygote ended during the run\n" : "pynwheel: lost the pynwheel daemon during the run\n");
  _exit(kExitFailed);
}

std::string LaneClosed(const std::string& detail) {
  return std::string("lane closed (") + pynwheel_protocol::kLaneClosed + ": " + detail + ") before the run started";
}

}  // namespace

std::string AwaitOutcome(int sock, const char* route, bool in_session, bool* direct) {
  using JK = JsonMember;
  bool lane = route != nullptr;
  ReplyReader reader(pynwheel_protocol::kClientFrameBytes);
  bool started = false;
  long run_pid = 0;
  for (;;) {
    int status;
    if (started && StatusCame(run_pid, &status)) std::exit(status);
    pollfd pfds[2] = {{sock, POLLIN, 0}, {SignalPipe(), static_cast<short>(lane && !started ? 0 : POLLIN), 0}};
    if (poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LostServer(lane, std::strerror(errno));
    }
    if ((pfds[1].revents & POLLIN) && !ForwardPendingSignals(sock, in_session && started)) LostServer(lane, "it took no signal");
    if (!(pfds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    long n = reader.Receive(sock);
    if (n < 0 && lane && !started) return LaneClosed(std::string("recvmsg: ") + std::strerror(errno));
    if (n < 0) LostServer(lane, std::strerror(errno));
    FlatObject reply;
    std::vector<int> fds;
    while (reader.Next(&reply, &fds)) {
      std::string type = MemberText(reply, "type", JK::kString);
      if (type == "start-zygote" && !lane && in_session) {
        StartSessionZygote(reply, fds);
        continue;
      }
      for (int fd : fds) close(fd);
      fds.clear();
      if (lane && !started && type != "started") {
        if (type != "decline") return LaneClosed("it replied " + type);
        std::string reason = MemberText(reply, "reason", JK::kString), message = MemberText(reply, "message", JK::kString);
        return "lane declined: " + reason + (message.empty() ? "" : " (" + message + ")");
      }
      if (type == "started") {
        started = true;
        run_pid = std::atol(MemberText(reply, "pid", JK::kNumber).c_str());
        if (lane) Debug("lane taken (route r/%s)", route);
        else Debug("the daemon started the run (pid %ld)", run_pid);
      } else if (type == "stopped") {
        // The run stopped (Ctrl-Z passed on, a SIGSTOP, ...): so do we, as the shell expects of
        // its job; `fg` continues us, and SIGCONT is passed on in turn. A run in our group was
        // stopped by the terminal with us, and `fg` may have continued both by now.
        if (!in_session || IsStopped(run_pid)) kill(getpid(), SIGSTOP);
      } else if (type == "direct" && !started && direct != nullptr) {
        *direct = true;
        return "the daemon answered direct (" + MemberText(reply, "reason", JK::kString) + ")";
      } else if (type == "exit") {
        std::string signo = MemberText(reply, "signal", JK::kNumber);
        if (!signo.empty()) pynwheel_posix::DieBySignal(std::atoi(signo.c_str()), MemberText(reply, "core", JK::kBoolean) == "true");
        std::exit(std::atoi(MemberText(reply, "code", JK::kNumber).c_str()));
      } else if (type == "error") {
        // Nothing ran: Node replaces an old daemon (EVERSION) or runs python itself (ESTALE, EDIRECT).
        std::string code = MemberText(reply, "code", JK::kString), message = MemberText(reply, "message", JK::kString);
        if (!started && (code == "EVERSION" || code == "ESTALE" || code == "EDIRECT")) return "the daemon answered " + code + " (" + message + ")";
        std::fprintf(stderr, "pynwheel: %s\n", message.c_str());
        std::exit(kExitFailed);
      }
    }
    pynwheel_protocol::FrameError error = reader.error();
    if (error != pynwheel_protocol::FrameError::kNone) {
      const char* reason = pynwheel_protocol::FrameErrorReason(error);
      if (lane && !started) return LaneClosed(std::string("its reply could not be read, ") + reason);
      // A header of another kind before anything ran: a daemon of another version, which Node replaces.
      bool header = error == pynwheel_protocol::FrameError::kBadMagic || error == pynwheel_protocol::FrameError::kOtherVersion ||
                    error == pynwheel_protocol::FrameError::kTooLong || error == pynwheel_protocol::FrameError::kTooManyFds;
      if (!started && header) return std::string("the daemon's reply could not be read (") + reason + "): another version?";
      LostServer(lane, reason);
    }
    if (n == 0 && lane && !started) return LaneClosed("end of file");
    if (n == 0) LostServer(lane, "end of file");
  }
}

}  // namespace runner
