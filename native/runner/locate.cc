// The cwd, the runtime directory and the interpreter (see locate.h). Runs in the native runner
// and its test program.
#include "locate.h"

#include "interp_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <vector>

namespace runner {

namespace {

/** getcwd, or (a deleted cwd) $PWD or "/" as lib/cli/run-command.ts's currentDirectory; *known false then. */
std::string CurrentDirectory(bool* known) {
  char buf[PATH_MAX];
  *known = getcwd(buf, sizeof buf) != nullptr;
  if (*known) return buf;
  const char* pwd = getenv("PWD");
  return pwd && pwd[0] == '/' ? pwd : "/";
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return access(path.c_str(), X_OK) == 0 && stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

const char* Locate(const std::string& explicit_python, const std::string& module, Location* out) {
  bool cwd_known;
  out->cwd = CurrentDirectory(&cwd_known);
  // A relative runtime directory under a deleted cwd: Node's path.resolve decides.
  const char* dir_env = getenv("PYNWHEEL_RUNTIME_DIR");
  if (!cwd_known && dir_env && *dir_env && dir_env[0] != '/') return "a relative PYNWHEEL_RUNTIME_DIR under a deleted cwd";
  out->runtime_dir = RuntimeDir(out->cwd);
  if (!RuntimeDirIsSafe(out->runtime_dir)) return "the runtime directory is missing or not safely ours";
  bool by_name = false;
  if (!ResolvePython(explicit_python, out->cwd, &out->python, &out->argv0, &by_name)) return "the interpreter was not found";
  if (!by_name || !IsShim(out->python)) return nullptr;
  // A version manager's shim: what it would run, as the Node client last found it.
  if (module == "pip") return "pip through a version manager's shim (the Node CLI decides)";
  std::string python;
  switch (LookUpShim(out->runtime_dir, out->python, out->cwd, &python)) {
    case ShimVerdict::kUnknown:
      return "the interpreter is a shim not yet resolved here (the Node CLI resolves it)";
    case ShimVerdict::kAsIs:
      out->as_is = true;
      return nullptr;
    case ShimVerdict::kRun:
      out->python = python;
      out->argv0 = python;  // the shim execs it by its full path
      return nullptr;
  }
  return nullptr;
}

std::string FindOnPath(const std::string& name, const std::string& cwd, const PathSkip& skip) {
  const char* env = getenv("PATH");
  std::string path = env ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string entry = path.substr(start, end - start);
    start = end + 1;
    std::string candidate = ResolvePath(ResolvePath(cwd, entry.empty() ? "." : entry), name);
    struct stat st;
    if (access(candidate.c_str(), X_OK) != 0 || stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (skip && skip(candidate, st)) continue;
    return candidate;
  }
  return "";
}

std::string ResolvePath(const std::string& base, const std::string& path) {
  std::string joined = !path.empty() && path[0] == '/' ? path : base + "/" + path;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= joined.size()) {
    size_t end = joined.find('/', start);
    if (end == std::string::npos) end = joined.size();
    std::string part = joined.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

std::string RuntimeDir(const std::string& cwd) {
  const char* dir = getenv("PYNWHEEL_RUNTIME_DIR");
  if (dir && *dir) return ResolvePath(cwd, dir);
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return ResolvePath(cwd, xdg) + "/pynwheel";
  const char* tmp = getenv("TMPDIR");
  return ResolvePath(cwd, tmp && *tmp ? tmp : "/tmp") + "/pynwheel-" + std::to_string(getuid());
}

bool RuntimeDirIsSafe(const std::string& dir) {
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) return false;
  return S_ISDIR(st.st_mode) && st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

bool ResolvePython(const std::string& explicit_python, const std::string& cwd, std::string* path, std::string* argv0,
                   bool* found_by_name) {
  const char* env_python = getenv("PYNWHEEL_PYTHON");
  std::string wanted = !explicit_python.empty() ? explicit_python : env_python ? env_python : "";
  if (found_by_name) *found_by_name = true;
  if (!wanted.empty()) {
    *path = wanted.find('/') != std::string::npos ? ResolvePath(cwd, wanted) : FindOnPath(wanted, cwd);
    *argv0 = wanted;
    return !path->empty() && IsExecutableFile(*path);
  }
  // An activated venv wins even if PATH was changed after `activate`.
  const char* venv = getenv("VIRTUAL_ENV");
  if (venv && *venv && IsExecutableFile(ResolvePath(cwd, venv) + "/bin/python3")) {
    *path = ResolvePath(cwd, venv) + "/bin/python3";
    *argv0 = "python3";
    if (found_by_name) *found_by_name = false;
    return true;
  }
  // An activated conda environment, likewise.
  const char* conda = getenv("CONDA_PREFIX");
  if (conda && *conda && IsExecutableFile(ResolvePath(cwd, conda) + "/bin/python3")) {
    *path = ResolvePath(cwd, conda) + "/bin/python3";
    *argv0 = "python3";
    if (found_by_name) *found_by_name = false;
    return true;
  }
  *path = FindOnPath("python3", cwd);
  *argv0 = "python3";
  return !path->empty();
}

}  // namespace runner
