// What the command line asks for, as lib/cli/main.ts and lib/cli/run-args.ts decide, read as
// python3 reads its own (lib/shared/command-line.json, copied in run_args.cc; test/vectors/
// run-args.json pins the three together). The runner takes a run of a script, a module or -c
// CODE, with python's flags that have a start-up variable; what python must read itself it
// runs as python (direct.h); anything else it names the reason and the Node CLI takes over.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace runner {

struct RunArgs {
  std::string file, module, code, python;  // python: --python's value, "" if not given
  bool has_module = false;                 // -m MODULE
  bool has_code = false;                   // -c CODE; else file
  std::vector<std::string> args;           // the script's own, verbatim
  std::vector<std::string> options;        // python's own options, as typed
  std::vector<std::string> python_argv;    // what python itself is given (pynwheel's options left out)
  /** The start-up variables python's options stand for, as planPythonOptions (lib/api/python-options.ts). */
  std::vector<std::pair<std::string, std::string>> env;
  /** Why python itself must run python_argv (a flag without a variable, a bad command line, stdin, no script), or nullptr. */
  const char* direct = nullptr;
};

/**
 * The whole command line (`argv[1..argc)`): `run ...`, the shebang form `pynwheel FILE ARGS`
 * or the spec's `--file FILE --args ...`. nullptr with *out filled when the runner can run it,
 * else why the Node CLI must (no arguments, another command, what ParseRunArgs says).
 */
const char* ParseCommandLine(int argc, char** argv, RunArgs* out);

/** `pynwheel "-u -B" SCRIPT ARGS` (a `#!/path/to/pynwheel -u -B` line) as `pynwheel -u -B SCRIPT ARGS`. */
std::vector<std::string> SplitShebangOptions(const std::vector<std::string>& argv);

/**
 * The arguments after `run` (or the whole line in the shebang and spec forms), as
 * lib/cli/run-args.ts's parseRunArgs and planPythonOptions (the variables from this process's
 * environment: -W adds to PYTHONWARNINGS, -O and -d only raise its level). nullptr with *out
 * filled (out->direct says whether python runs it itself), else why Node takes it: kUsage (Node
 * prints the usage error) or a module name this copy does not check (non-ASCII).
 */
const char* ParseRunArgs(const std::vector<std::string>& argv, RunArgs* out);
extern const char kUsage[];

/** 3.N's N from the interpreter's real file name (python3.N), or -1 when it does not say. */
int InterpreterMinor(const std::string& python);

/** Why `python` itself must run `options` (RunArgs::options): a flag newer than its version (or a version its name does not tell); or nullptr. */
const char* NewerThanInterpreter(const std::vector<std::string>& options, const std::string& python);

/** The spec as this copy has it, as JSON in command-line.json's shape (for the vectors' test program). */
std::string CommandLineSpecJson();

}  // namespace runner
