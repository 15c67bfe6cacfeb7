// What the command line asks for, as lib/cli/main.ts and lib/cli/run-args.ts decide (test/vectors/
// run-args.json pins the two together). The runner takes only the plain run of a script or a
// module; for anything else it names the reason and the Node CLI takes over (handover.h).
#pragma once
#include <string>
#include <vector>

namespace runner {

struct RunArgs {
  std::string file, module, python;  // python: --python's value, "" if not given
  bool has_module = false;           // -m MODULE; else file
  std::vector<std::string> args;     // the script's own, verbatim
};

/**
 * The whole command line (`argv[1..argc)`): `run ...`, the shebang form `pynwheel FILE ARGS`
 * or the spec's `--file FILE --args ...`. nullptr with *out filled when the runner can run it,
 * else why the Node CLI must (no arguments, another command, what ParseRunArgs says).
 */
const char* ParseCommandLine(int argc, char** argv, RunArgs* out);

/**
 * The arguments after `run` (or the whole line in the shebang and spec forms), as
 * lib/cli/run-args.ts's parseRunArgs. nullptr with *out filled, else why Node takes it:
 * kUsage (Node prints the usage error) or kStdinScript (`-`: python reads the script from stdin).
 */
const char* ParseRunArgs(const std::vector<std::string>& argv, RunArgs* out);
extern const char kUsage[], kStdinScript[];

}  // namespace runner
