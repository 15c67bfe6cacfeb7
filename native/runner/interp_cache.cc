// The interpreter cache's reader (see interp_cache.h). Runs in the native runner.
#include "interp_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "route.h"

extern char** environ;

namespace runner {

namespace {

const char kMagic[] = "pynwheel-interp-1";
const size_t kMaxEntry = 1 << 20;

/** lib/client/interpreter-cache.ts's isDecidingVariable. */
bool IsDeciding(const std::string& name) {
  return name == "PATH" || name == "PWD" || name == "OLDPWD" || name == "HOME" || name == "SHLVL" ||
         name.compare(0, 6, "PYENV_") == 0 || name.compare(0, 7, "_PYENV_") == 0 || name.compare(0, 5, "MISE_") == 0 ||
         name.compare(0, 4, "XDG_") == 0;
}

/** The deciding variables, first of duplicate names (getenv's, Node's), sorted by name. */
std::vector<std::pair<std::string, std::string>> DecidingVariables() {
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> seen;
  for (char** e = environ; *e; e++) {
    const char* eq = std::strchr(*e, '=');
    if (!eq || eq == *e) continue;
    std::string name(*e, eq - *e);
    if (!IsDeciding(name) || !seen.insert(name).second) continue;
    out.emplace_back(name, eq + 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Signature(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "-";
  unsigned long long ns = static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ULL + st.st_mtim.tv_nsec;
  return std::to_string(static_cast<unsigned long long>(st.st_ino)) + ":" + std::to_string(static_cast<long long>(st.st_size)) +
         ":" + std::to_string(ns);
}

bool ReadWhole(const std::string& path, std::string* out) {
  int fd;
  do fd = open(path.c_str(), O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || out->size() + n > kMaxEntry) {
      close(fd);
      return n == 0;
    }
    out->append(buf, n);
  }
}

/** The entry's fields, one by one. */
struct Fields {
  const std::string& text;
  size_t at = 0;
  bool ok = true;
  std::string Next() {
    if (at > text.size()) {
      ok = false;
      return "";
    }
    size_t end = text.find('\0', at);
    if (end == std::string::npos) end = text.size();
    std::string field = text.substr(at, end - at);
    at = end + 1;
    return field;
  }
  long Count() {
    // Digits only, at most 100000: lib/client/interpreter-cache.ts's count.
    std::string field = Next();
    bool digits = !field.empty() && field.size() <= 6 && field.find_first_not_of("0123456789") == std::string::npos;
    long n = digits ? std::strtol(field.c_str(), nullptr, 10) : -1;
    if (n < 0 || n > 100000) ok = false;
    return ok ? n : 0;
  }
};

}  // namespace

bool IsShim(const std::string& path) {
  // A mise shim: a link to the mise binary under the tool's name.
  struct stat st;
  char real[PATH_MAX];
  if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && realpath(path.c_str(), real) != nullptr) {
    const char* base = std::strrchr(real, '/');
    if (base && std::strcmp(base + 1, "mise") == 0) return true;
  }
  return IsScript(path);
}

bool IsScript(const std::string& path) {
  int fd;
  do fd = open(path.c_str(), O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  char head[2];
  ssize_t n;
  do n = pread(fd, head, 2, 0); while (n < 0 && errno == EINTR);
  close(fd);
  return n == 2 && head[0] == '#' && head[1] == '!';
}

ShimVerdict LookUpShim(const std::string& runtime_dir, const std::string& candidate, const std::string& cwd,
                       std::string* python) {
  auto variables = DecidingVariables();
  std::string joined;
  for (size_t i = 0; i < variables.size(); i++) {
    if (i) joined += '\0';
    joined += variables[i].first + "=" + variables[i].second;
  }
  std::string text;
  if (!ReadWhole(runtime_dir + "/interp/" + RouteName(candidate, cwd, joined), &text)) return ShimVerdict::kUnknown;
  Fields f{text};
  if (f.Next() != kMagic || f.Next() != candidate || f.Next() != cwd) return ShimVerdict::kUnknown;
  if (static_cast<size_t>(f.Count()) != variables.size() || !f.ok) return ShimVerdict::kUnknown;
  for (const auto& [name, value] : variables) {
    if (f.Next() != name || f.Next() != value) return ShimVerdict::kUnknown;
  }
  long files = f.Count();
  for (long i = 0; f.ok && i < files; i++) {
    std::string file = f.Next();
    if (f.Next() != Signature(file)) return ShimVerdict::kUnknown;
  }
  std::string verdict = f.Next();
  *python = f.Next();
  f.Next();  // how: for status and doctor
  long edits = f.Count();
  std::vector<std::pair<std::string, std::string>> changes;
  for (long i = 0; f.ok && i < edits; i++) {
    std::string name = f.Next();
    std::string value = f.Next();
    if (name.empty() || value.empty() || (value[0] != '=' && value != "!")) return ShimVerdict::kUnknown;
    changes.emplace_back(name, value);
  }
  if (!f.ok || (verdict != "run" && verdict != "as-is") || python->empty()) return ShimVerdict::kUnknown;
  if (verdict == "as-is") return ShimVerdict::kAsIs;
  for (const auto& [name, value] : changes) {
    if (value == "!") unsetenv(name.c_str());
    else setenv(name.c_str(), value.c_str() + 1, 1);
  }
  return ShimVerdict::kRun;
}

}  // namespace runner
