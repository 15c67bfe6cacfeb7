// Handing over to the Node CLI (see handover.h). Runs in the native runner, just before it
// becomes node.
#include "handover.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "debug.h"
#include "signals.h"

namespace runner {

const char kCliEntry[] = "dist/cli/main.js";

namespace {

const int kExitFailed = 125;  // pynwheel itself failed (lib/cli/run-command.ts)

struct ForNode {
  const char* name = nullptr;
  std::string value;
};
ForNode g_for_node[2];  // the caller's signals and fds; a masquerade's argv0

}  // namespace

/**
 * The package's root: this program is <package>/build/Release/pynwheel-runner, or its copy
 * <package>/bin/pynwheel in an installed package (scripts/install-runner.js). "" if unknown.
 */
std::string PackageRoot() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "";
  exe[n] = '\0';
  std::string self(exe);
  int levels = self.size() > 13 && self.compare(self.size() - 13, 13, "/bin/pynwheel") == 0 ? 2 : 3;
  for (int up = 0; up < levels; up++) self = self.substr(0, self.rfind('/'));
  return self;
}

void SetForNode(const char* name, const std::string& value) {
  for (ForNode& slot : g_for_node) {
    if (slot.name == nullptr || std::strcmp(slot.name, name) == 0) {
      slot.name = name;
      slot.value = value;
      return;
    }
  }
}

[[noreturn]] void HandToNode(char** argv, const char* reason) {
  Debug("handing over to the Node CLI: %s", reason);
  ActOnCaughtSignals();
  for (const ForNode& slot : g_for_node) {
    if (slot.name != nullptr) setenv(slot.name, slot.value.c_str(), 1);
  }
  std::string root = PackageRoot();
  // Without /proc: relative to the cwd, as before there were installed copies.
  std::string cli = root.empty() ? std::string(kCliEntry) : root + "/" + kCliEntry;
  std::vector<char*> args;
  args.push_back(const_cast<char*>("node"));
  args.push_back(const_cast<char*>(cli.c_str()));
  for (int i = 1; argv[i] != nullptr; i++) args.push_back(argv[i]);
  args.push_back(nullptr);
#ifdef PYNWHEEL_NODE
  execv(PYNWHEEL_NODE, args.data());  // returns only if it failed: try PATH
#endif
  execvp("node", args.data());
  std::fprintf(stderr, "pynwheel: cannot run node for %s: %s\n", cli.c_str(), std::strerror(errno));
  _exit(kExitFailed);
}

}  // namespace runner

