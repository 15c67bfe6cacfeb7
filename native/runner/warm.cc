// `pynwheel warm FILE`, natively (see warm.h). Runs in the native runner.
#include "warm.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "debug.h"
#include "locate.h"
#include "request.h"
#include "wire.h"

namespace runner {

void WarmIfSimple(int argc, char** argv) {
  // Only `warm FILE`: options, -m and --packages, a terminal's progress line: the Node CLI.
  if (argc != 3 || argv[2][0] == '-' || argv[2][0] == '\0' || isatty(2)) return;
  RunArgs run;
  run.file = argv[2];
  Location where;
  if (Locate("", "", &where) != nullptr || where.as_is) return;
  std::string path = run.file[0] == '/' ? run.file : where.cwd + "/" + run.file;
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;  // the Node CLI says what is wrong
  int sock = Connect(where.runtime_dir + "/daemon.sock");
  if (sock < 0) return;  // no daemon: the Node CLI starts one
  // The run request's fields, as a warm request: nothing runs, no fds.
  std::string json = BuildRunRequest(run, where, RequestFds{{false, false, false}, false}, 0, 0);
  static const char kRunPrefix[] = "{\"type\":\"run\",";
  if (json.compare(0, sizeof kRunPrefix - 1, kRunPrefix) != 0) {
    close(sock);
    return;
  }
  json = "{\"type\":\"warm\"," + json.substr(sizeof kRunPrefix - 1);
  if (!SendFrame(sock, EncodeFrame(json, 0), {})) {
    close(sock);
    return;  // nothing reached it
  }
  Debug("warm request sent to the daemon");
  ReplyReader reader(pynwheel_protocol::kClientFrameBytes);
  for (;;) {
    FlatObject reply;
    if (reader.Next(&reply)) {
      std::string type = MemberText(reply, "type", JsonMember::kString);
      if (type == "importing") continue;
      if (type == "warm") _exit(0);
      if (type == "error") {
        std::fprintf(stderr, "pynwheel warm: %s\n", MemberText(reply, "message", JsonMember::kString).c_str());
        _exit(125);
      }
      continue;  // (nothing else comes without a terminal session)
    }
    if (reader.error() != pynwheel_protocol::FrameError::kNone || reader.Receive(sock) <= 0) {
      std::fprintf(stderr, "pynwheel warm: lost the pynwheel daemon before the zygote was warm\n");
      _exit(125);
    }
  }
}

}  // namespace runner
