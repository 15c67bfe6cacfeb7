// The runner under python's names (see masquerade.h). Runs in the native runner.
#include "masquerade.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "debug.h"
#include "interp_cache.h"
#include "locate.h"

namespace runner {

const char kMasqueradeArgv0Variable[] = "PYNWHEEL_MASQUERADE_ARGV0";

namespace {

const char kSkipVariable[] = "PYNWHEEL_MASQUERADE_SKIP";  // lib/client/version-managers.ts's MASQUERADE_SKIP

bool SameFile(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

bool Listed(const std::string& list, const std::string& path) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    if (list.compare(start, end - start, path) == 0) return true;
    start = end + 1;
  }
  return false;
}

/** The next `name` on PATH that is not this program (nor a skipped shim), or "". */
std::string NextOnPath(const std::string& name, const std::string& cwd) {
  struct stat self;
  bool known = stat("/proc/self/exe", &self) == 0;
  const char* skip_env = getenv(kSkipVariable);
  std::string skip = skip_env ? skip_env : "";
  return FindOnPath(name, cwd, [&](const std::string& candidate, const struct stat& st) {
    return (known && SameFile(st, self)) || Listed(skip, candidate);
  });
}

/** Whether pynwheel could take `args` as python's: not pynwheel's own options, which python does not have. */
bool ServableArgs(const std::vector<std::string>& args) {
  if (args.empty()) return false;  // python's prompt, or a program on stdin
  const std::string& first = args[0];
  return first != "--file" && first != "-p" && first != "--python" && first.rfind("--python=", 0) != 0;
}

}  // namespace

/** exec of `next` (through its shim's cache entry when it is one) with the caller's arguments. */
[[noreturn]] void ExecInterpreter(const std::string& next, int count, char** given, const char* why) {
  char buf[4096];
  std::string cwd = getcwd(buf, sizeof buf) ? buf : "/";
  Debug("running python directly (%s)", why);
  std::string python = next;
  std::string argv0 = next;  // a full path: python's sys.executable is then `next`, not this link
  if (IsShim(next)) {
    std::string runtime = RuntimeDir(cwd);
    std::string resolved;
    if (RuntimeDirIsSafe(runtime) && LookUpShim(runtime, next, cwd, &resolved) == ShimVerdict::kRun) {
      python = argv0 = resolved;
    } else {
      SkipShimWhenFoundAgain(next);  // the manager decides
      argv0 = next.substr(next.rfind('/') + 1);
    }
  }
  std::vector<char*> args{const_cast<char*>(argv0.c_str())};
  for (int i = 0; i < count; i++) args.push_back(given[i]);
  args.push_back(nullptr);
  execv(python.c_str(), args.data());
  std::fprintf(stderr, "pynwheel: cannot run %s: %s\n", python.c_str(), std::strerror(errno));
  _exit(126);
}

void SkipShimWhenFoundAgain(const std::string& shim) {
  const char* skip = getenv(kSkipVariable);
  setenv(kSkipVariable, (skip && *skip ? std::string(skip) + ":" + shim : shim).c_str(), 1);
}

bool IsMasquerade(const char* argv0) {
  const char* slash = std::strrchr(argv0, '/');
  std::string name = slash ? slash + 1 : argv0;
  if (name == "python" || name == "python3") return true;
  if (name.rfind("python3.", 0) != 0 || name.size() == 8) return false;
  for (size_t i = 8; i < name.size(); i++) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  return true;
}

void MasqueradeCommandLine(int argc, char** argv, std::vector<std::string>* storage, std::vector<char*>* argv_out) {
  const char* slash = std::strrchr(argv[0], '/');
  std::string name = slash ? slash + 1 : argv[0];
  char buf[4096];
  std::string cwd = getcwd(buf, sizeof buf) ? buf : "/";
  std::string next = NextOnPath(name, cwd);
  if (next.empty()) {
    std::fprintf(stderr, "pynwheel: %s: no other %s on PATH after pynwheel's own\n", name.c_str(), name.c_str());
    _exit(127);  // as a shell's "command not found"
  }
  // The skip list has done its job here: the run's environment is the caller's.
  unsetenv(kSkipVariable);
  std::vector<std::string> args(argv + 1, argv + argc);
  const char* disable = getenv("PYNWHEEL_DISABLE");
  if (disable && std::strcmp(disable, "1") == 0) ExecInterpreter(next, argc - 1, argv + 1, "PYNWHEEL_DISABLE=1");
  if (!ServableArgs(args)) ExecInterpreter(next, argc - 1, argv + 1, "python's own command line");
  *storage = {"pynwheel", "run", "--python", next};
  storage->insert(storage->end(), args.begin(), args.end());
  argv_out->clear();
  for (std::string& arg : *storage) argv_out->push_back(&arg[0]);
  argv_out->push_back(nullptr);
}


}  // namespace runner
