// exec of the interpreter (see direct.h). Runs in the native runner, just before it becomes python.
#include "direct.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "debug.h"
#include "signals.h"

namespace runner {

[[noreturn]] void RunPythonItself(const RunArgs& run, const Location& where, const bool present[3], const char* why) {
  Debug("running python directly (%s)", why);
  ActOnCaughtSignals();
  std::vector<char*> args;
  args.push_back(const_cast<char*>(where.argv0.c_str()));
  for (const std::string& arg : run.python_argv) args.push_back(const_cast<char*>(arg.c_str()));  // options included
  args.push_back(nullptr);
  for (int fd = 0; fd < 3; fd++) {
    if (!present[fd]) close(fd);  // held on /dev/null until now (main.cc)
  }
  execv(where.python.c_str(), args.data());
  std::fprintf(stderr, "pynwheel: cannot run %s: %s\n", where.python.c_str(), std::strerror(errno));
  _exit(125);
}

}  // namespace runner
