// Python running the script itself, by exec from the runner: for a command line python must
// read itself (run_args.h's `direct`), a caller whose inheritable fds do not fit in one request
// frame (protocol.json's fdsPerFrame), a terminal session's first run. The process stays the
// caller's: its fds, signals, mask, pid and terminal are python's as they would be.
#pragma once
#include "locate.h"
#include "run_args.h"

namespace runner {

/**
 * exec of `where.python` as `argv0 PYTHON-ARGV` (the command line after pynwheel's options), the stdio fds the
 * caller had closed closed again (`present`). Never returns: 125 if the exec failed.
 */
[[noreturn]] void RunPythonItself(const RunArgs& run, const Location& where, const bool present[3], const char* why);

}  // namespace runner
