// Python runs the script itself (see direct.h). Runs in the native runner, as it becomes python.
#include "direct.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "debug.h"

namespace runner {

void RunPythonItself(const RunArgs& run, const Location& where, const bool present[3]) {
  std::vector<std::string> args{where.argv0};
  if (run.has_module) {
    args.push_back("-m");
    args.push_back(run.module);
  } else {
    args.push_back(run.file);
  }
  args.insert(args.end(), run.args.begin(), run.args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(&arg[0]);
  argv.push_back(nullptr);
  Debug("running python directly: %s", where.python.c_str());
  for (int fd = 0; fd < 3; fd++) {
    if (!present[fd]) close(fd);  // held on /dev/null (main.cc): python must find it closed
  }
  execv(where.python.c_str(), argv.data());  // handlers go; ignored signals and the mask stay
  Debug("exec %s: %s", where.python.c_str(), std::strerror(errno));
}

}  // namespace runner
