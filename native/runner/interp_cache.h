// What a version manager's shim resolved to, as the Node client left it in <runtime>/interp/
// (lib/client/interpreter-cache.ts writes it and describes the format): valid while every
// deciding variable and file is as it was, so a warm run pays a few stats, not the shim's start-up.
#pragma once
#include <string>

namespace runner {

/** Whether `path` starts with "#!": a shim, which only the cache (or Node) can see through. */
bool IsScript(const std::string& path);

/** IsScript, or a link to the mise binary (a mise shim): lib/client/version-managers.ts's isShim. */
bool IsShim(const std::string& path);

enum class ShimVerdict { kUnknown, kRun, kAsIs };

/**
 * The cached answer for `candidate` run from `cwd` with this process's environment: kRun with
 * *python set and the shim's environment changes made here (setenv/unsetenv), kAsIs (exec the
 * candidate itself), or kUnknown (no valid entry: the Node CLI decides and writes one).
 */
ShimVerdict LookUpShim(const std::string& runtime_dir, const std::string& candidate, const std::string& cwd,
                       std::string* python);

}  // namespace runner
