// Parsing the command line (see run_args.h). Runs in the native runner and its test program.
#include "run_args.h"

#include <algorithm>

namespace runner {

const char kUsage[] = "usage needs Node (it explains what is wrong with the command line)";
const char kStdinScript[] = "the script is stdin (\"-\")";

const char* ParseCommandLine(int argc, char** argv, RunArgs* out) {
  if (argc < 2) return "no arguments";
  std::string first = argv[1];
  // `pynwheel FILE ARGS` (a shebang) and the spec's `--file` form, as lib/cli/main.ts decides.
  bool shebang_form = first == "--file" || (first[0] != '-' && first != "run" && first != "start" && first != "stop" &&
                                            first != "status" && first != "doctor" && first != "shims" && first != "help" &&
                                            first != "python-path");
  if (first != "run" && !shebang_form) return "another command than run";
  return ParseRunArgs(std::vector<std::string>(argv + (first == "run" ? 2 : 1), argv + argc), out);
}

const char* ParseRunArgs(const std::vector<std::string>& argv, RunArgs* out) {
  size_t count = argv.size();
  auto rest = [&](size_t from) { out->args.assign(argv.begin() + static_cast<long>(std::min(from, count)), argv.end()); };
  for (size_t i = 0; i < count; i++) {
    const std::string& arg = argv[i];
    if (arg == "--python" || arg == "-p") {
      if (i + 1 >= count) return kUsage;
      out->python = argv[++i];
    } else if (arg.rfind("--python=", 0) == 0) {
      out->python = arg.substr(9);
    } else if (arg == "-m") {
      if (i + 1 >= count) return kUsage;
      out->module = argv[i + 1];
      out->has_module = true;
      rest(i + 2);
      return nullptr;
    } else if (arg.size() > 2 && arg.rfind("-m", 0) == 0 && arg.rfind("--", 0) != 0) {
      out->module = arg.substr(2);
      out->has_module = true;
      rest(i + 1);
      return nullptr;
    } else if (arg == "--file") {
      if (i + 1 >= count) return kUsage;
      out->file = argv[i + 1];
      if (i + 2 < count && argv[i + 2] != "--args") return kUsage;
      rest(i + 3);
      return out->file == "-" ? kStdinScript : nullptr;
    } else if (arg == "--") {
      if (i + 1 >= count) return kUsage;
      out->file = argv[i + 1];
      rest(i + 2);
      return out->file == "-" ? kStdinScript : nullptr;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return kUsage;
    } else {
      out->file = arg;
      rest(i + 1);
      return out->file == "-" ? kStdinScript : nullptr;
    }
  }
  return kUsage;
}

}  // namespace runner
