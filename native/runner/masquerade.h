// `python3` that is pynwheel: the runner started under the name python, python3 or python3.N
// (a link that `pynwheel shims DIR` wrote) serves `python3 ARGS` as `pynwheel run` would, with the
// interpreter that the next python3 on PATH after itself would have been; whatever it cannot
// serve, that interpreter runs itself, with the same arguments.
#pragma once
#include <string>
#include <vector>

namespace runner {

/** Whether argv[0]'s base name is python, python3 or python3.N. */
bool IsMasquerade(const char* argv0);

/**
 * The command line as `pynwheel run --python NEXT ARGS` (NEXT: the next entry of that name on PATH
 * that is not this program, through links, nested shim directories and $PYNWHEEL_MASQUERADE_SKIP),
 * or, for what it cannot serve (python's own flags, no script, PYNWHEEL_DISABLE=1), the exec of
 * NEXT itself: never returns then. *storage holds the strings *argv_out points into.
 */
void MasqueradeCommandLine(int argc, char** argv, std::vector<std::string>* storage, std::vector<char*>* argv_out);

/** For the Node CLI: the name python3 was started by, python's argv[0] in its messages (lib/cli/run-command.ts takes it). */
extern const char kMasqueradeArgv0Variable[];

/** Before a manager's shim is exec'd as it is: if it finds this program again (pyenv's `system`), it steps past the shim. */
void SkipShimWhenFoundAgain(const std::string& shim);

/** exec of the interpreter `next` as masquerade.h says (its shim seen through), with `args`: never returns. */
[[noreturn]] void ExecInterpreter(const std::string& next, int count, char** args, const char* why);

}  // namespace runner
