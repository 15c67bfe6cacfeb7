// exec of the interpreter (see direct.h). Runs in the native runner, just before it becomes python.
#include "direct.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "debug.h"
#include "handover.h"
#include "signals.h"

namespace runner {

namespace {

/** Whether python imports a sitecustomize from PYTHONPATH with these options: not under -I, -E or -S (as lib/shared/direct-site.ts reads them). */
bool ReadsSiteCustomize(const std::vector<std::string>& options) {
  for (const std::string& arg : options) {
    if (arg.size() < 2 || arg[0] != '-' || arg[1] == '-') continue;
    for (size_t i = 1; i < arg.size(); i++) {
      char letter = arg[i];
      if (letter == 'I' || letter == 'E' || letter == 'S') return false;
      if (letter == 'c' || letter == 'm') return true;
      if (letter == 'W' || letter == 'X') break;
    }
  }
  return true;
}

/**
 * `import pynwheel` as in a warm run: python/direct-site/ first on PYTHONPATH, whose
 * sitecustomize.py installs the package's finder and puts PYTHONPATH and sys.path back as they
 * were (as lib/shared/direct-site.ts does for the Node clients).
 */
void MakePynwheelImportable(const RunArgs& run) {
  if (!ReadsSiteCustomize(run.options)) return;
  std::string root = PackageRoot();
  if (root.empty()) return;
  std::string site = root + "/python/direct-site";
  const char* was = std::getenv("PYTHONPATH");
  if (was != nullptr) {
    setenv("PYNWHEEL_DIRECT_PYTHONPATH", was, 1);
  } else {
    unsetenv("PYNWHEEL_DIRECT_PYTHONPATH");
  }
  setenv("PYTHONPATH", was != nullptr && *was != '\0' ? (site + ":" + was).c_str() : site.c_str(), 1);
  setenv("PYNWHEEL_DIRECT_SITE", "1", 1);
}

}  // namespace

[[noreturn]] void RunPythonItself(const RunArgs& run, const Location& where, const bool present[3], const char* why) {
  Debug("running python directly (%s)", why);
  ActOnCaughtSignals();
  std::vector<char*> args;
  // python finds its prefix (a venv's) by its argv[0]: a bare name PATH resolves to another
  // python (VIRTUAL_ENV's wins over PATH here) would make it that one.
  std::string argv0 = where.argv0;
  if (argv0.find('/') == std::string::npos && FindOnPath(argv0, where.cwd) != where.python) argv0 = where.python;
  args.push_back(const_cast<char*>(argv0.c_str()));
  for (const std::string& arg : run.python_argv) args.push_back(const_cast<char*>(arg.c_str()));  // options included
  args.push_back(nullptr);
  MakePynwheelImportable(run);
  for (int fd = 0; fd < 3; fd++) {
    if (!present[fd]) close(fd);  // held on /dev/null until now (main.cc)
  }
  execv(where.python.c_str(), args.data());
  std::fprintf(stderr, "pynwheel: cannot run %s: %s\n", where.python.c_str(), std::strerror(errno));
  _exit(125);
}

}  // namespace runner
