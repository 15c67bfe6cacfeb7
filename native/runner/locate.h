// Where a run happens and with what: the caller's cwd, the runtime directory
// (lib/shared/runtime-dir.ts) and the interpreter (lib/client/interpreter.ts), found as the Node CLI finds
// them, from this process's environment. On any doubt the Node CLI decides and explains.
#pragma once
#include <sys/stat.h>

#include <functional>
#include <string>

namespace runner {

struct Location {
  std::string cwd;          // getcwd, else $PWD or "/" (a deleted cwd), as lib/cli/run-command.ts
  std::string runtime_dir;  // checked: ours, a directory, mode 0700
  std::string python;       // the interpreter's absolute path, symlinks kept
  std::string argv0;        // as the user named it ("python3" unless --python or $PYNWHEEL_PYTHON)
  bool as_is = false;       // a shim to exec as it is (python = the shim): interp_cache.h's kAsIs
};

/**
 * All of *out for a run whose --python was `explicit_python` (may be ""), of module `module`
 * ("" for a file); nullptr, or why Node must decide. A version manager's shim found as the
 * interpreter is what its cache entry says (interp_cache.h), its environment changes made here.
 */
const char* Locate(const std::string& explicit_python, const std::string& module, Location* out);

/** Whether a PATH entry found is to be passed over (masquerade.cc: this program itself, a skipped shim). */
using PathSkip = std::function<bool(const std::string& candidate, const struct stat& st)>;

/**
 * lib/client/interpreter.ts's findOnPath: the first executable regular file `name` on PATH (its
 * entries resolved against `cwd`, "" as "."), not passed over by `skip`; "" if none.
 */
std::string FindOnPath(const std::string& name, const std::string& cwd, const PathSkip& skip = nullptr);

/** `path` made absolute against `base` and normalised lexically, as Node's path.resolve(base, path). */
std::string ResolvePath(const std::string& base, const std::string& path);

/** lib/shared/runtime-dir.ts's runtimeDirFor, resolved against `cwd`. */
std::string RuntimeDir(const std::string& cwd);

/** lib/shared/runtime-dir.ts's checkRuntimeDir, without the explanations: lstat says ours, a directory, 0700. */
bool RuntimeDirIsSafe(const std::string& dir);

/**
 * lib/client/interpreter.ts's resolveInterpreter up to its shims: false when it would throw
 * ENOPYTHON; *found_by_name when the path is one a shim may be (not a venv's or conda's).
 */
bool ResolvePython(const std::string& explicit_python, const std::string& cwd, std::string* path, std::string* argv0,
                   bool* found_by_name = nullptr);

}  // namespace runner
