// A new script's family, guessed (see guess.h). Runs in the native runner and its test program.
#include "guess.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace runner {

namespace {

constexpr size_t kScriptLimit = 1 << 20;  // bytes read of a script: its imports are at its top
constexpr size_t kNamesLimit = 64;        // packages looked up (one access() each)

std::string Fnv1a64(const std::string& key) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char byte : key) hash = (hash ^ byte) * 0x100000001b3ULL;
  char name[17];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(hash));
  return name;
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c & 0x80); }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

/** Whether `text` at `at` is the word `word` (followed by a space, a tab, a colon or the end). */
bool WordAt(const std::string& text, size_t at, const char* word) {
  size_t n = std::char_traits<char>::length(word);
  if (text.compare(at, n, word) != 0) return false;
  return at + n >= text.size() || text[at + n] == ' ' || text[at + n] == '\t' || text[at + n] == ':' ||
         text[at + n] == '(';
}

void SkipBlanks(const std::string& text, size_t* at) {
  while (*at < text.size() && (text[*at] == ' ' || text[*at] == '\t')) ++*at;
}

/** A dotted name's first part at *at (the cursor moves past the whole dotted name), or "". */
std::string DottedName(const std::string& text, size_t* at) {
  SkipBlanks(text, at);
  size_t start = *at;
  if (start >= text.size() || !IsNameStart(text[start])) return "";
  while (*at < text.size() && IsNameChar(text[*at])) ++*at;
  std::string top = text.substr(start, *at - start);
  while (*at < text.size() && (text[*at] == '.' || IsNameChar(text[*at]))) ++*at;
  return top;
}

void Add(std::vector<std::string>* names, const std::string& name) {
  if (!name.empty() && std::find(names->begin(), names->end(), name) == names->end()) names->push_back(name);
}

/** One simple statement (a line's, or a part between semicolons). */
void ScanStatement(const std::string& statement, std::vector<std::string>* names) {
  size_t at = 0;
  SkipBlanks(statement, &at);
  if (WordAt(statement, at, "import")) {
    at += 6;
    while (at < statement.size()) {
      Add(names, DottedName(statement, &at));
      size_t comma = statement.find(',', at);  // past any `as alias`
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
  } else if (WordAt(statement, at, "from")) {
    at += 4;
    SkipBlanks(statement, &at);
    if (at < statement.size() && statement[at] == '.') return;  // relative: the script's own package
    std::string top = DottedName(statement, &at);
    SkipBlanks(statement, &at);
    if (WordAt(statement, at, "import")) Add(names, top);
  }
}

}  // namespace

std::vector<std::string> TopLevelImports(const std::string& source) {
  std::vector<std::string> names;
  bool in_block = false;  // inside a block headed at column 0 by try/if/with/...: its imports count
  size_t start = 0;
  while (start < source.size()) {
    size_t end = source.find('\n', start);
    if (end == std::string::npos) end = source.size();
    std::string line = source.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t at = 0;
    SkipBlanks(line, &at);
    if (at == line.size() || line[at] == '#') continue;
    if (at == 0) {
      in_block = WordAt(line, 0, "try") || WordAt(line, 0, "except") || WordAt(line, 0, "else") ||
                 WordAt(line, 0, "finally") || WordAt(line, 0, "if") || WordAt(line, 0, "elif") ||
                 WordAt(line, 0, "with");
      if (in_block) {
        size_t colon = line.rfind(':');  // `try: import x` on one line
        if (colon == std::string::npos) continue;
        line = line.substr(colon + 1);
      }
    } else if (!in_block) {
      continue;  // a function's or a class's body
    }
    size_t part = 0;
    while (part <= line.size()) {
      size_t semicolon = line.find(';', part);
      if (semicolon == std::string::npos) semicolon = line.size();
      ScanStatement(line.substr(part, semicolon - part), &names);
      part = semicolon + 1;
    }
  }
  return names;
}

std::string FamilyRouteName(const std::string& python, const std::vector<std::string>& family, long session) {
  std::string key = python + '\0' + '\0';
  for (size_t i = 0; i < family.size(); i++) key += (i ? "," : "") + family[i];
  if (session > 0) key += '\0' + std::to_string(session);
  return "f-" + Fnv1a64(key);
}

std::string PackageRouteName(const std::string& python, const std::string& name) {
  return "p-" + Fnv1a64(python + '\0' + '\0' + '\0' + name);
}

std::string GuessFamilyRoute(const std::string& runtime_dir, const std::string& python, const std::string& script,
                             long session, std::string* family_out) {
  int fd;
  do fd = open(script.c_str(), O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return "";
  std::string source;
  char buffer[16384];
  while (source.size() < kScriptLimit) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    source.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  std::vector<std::string> family;
  std::vector<std::string> imports = TopLevelImports(source);
  if (imports.size() > kNamesLimit) imports.resize(kNamesLimit);
  for (const std::string& name : imports) {
    // A package some zygote of this python has in its family; the standard library's never are.
    if (access((runtime_dir + "/r/" + PackageRouteName(python, name)).c_str(), F_OK) == 0) family.push_back(name);
  }
  std::sort(family.begin(), family.end());
  if (family_out) {
    family_out->clear();
    for (size_t i = 0; i < family.size(); i++) *family_out += (i ? ", " : "") + family[i];
  }
  return FamilyRouteName(python, family, session);
}

}  // namespace runner
