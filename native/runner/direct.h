// Python itself runs the script, from this process (exec): the first run of a terminal session,
// while its zygote starts (the daemon's `direct`), is then as fast as python's own.
#pragma once
#include "locate.h"
#include "run_args.h"

namespace runner {

/**
 * exec of the interpreter with `FILE ARGS` or `-m MODULE ARGS` (argv[0] as typed), stdio as the
 * caller left it (closed ones closed again), the caller's signal dispositions and mask; returns
 * only if exec failed.
 */
void RunPythonItself(const RunArgs& run, const Location& where, const bool present[3]);

}  // namespace runner
