// Parsing the command line (see run_args.h). Runs in the native runner and its test program.
#include "run_args.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>

#include "json.h"

namespace runner {

const char kUsage[] = "usage needs Node (it explains what is wrong with the command line)";

namespace {

// lib/shared/command-line.json, copied (test/native-vectors.test.ts compares CommandLineSpecJson with it).
const char kShortOptions[] = "bBc:dEhiIJm:OPqsSuvVW:xX:?";
struct LongOption { const char* name; bool argument; };
const LongOption kLongOptions[] = {{"--check-hash-based-pycs", true}, {"--help", false}, {"--version", false},
                                   {"--help-env", false}, {"--help-xoptions", false}, {"--help-all", false}};
struct Flag { char letter; const char* env; bool counted; bool harmless; int since_minor; };  // since 3.since_minor (0: always)
const Flag kFlags[] = {{'u', "PYTHONUNBUFFERED", false, false}, {'B', "PYTHONDONTWRITEBYTECODE", false, false},
                       {'O', "PYTHONOPTIMIZE", true, false},    {'d', "PYTHONDEBUG", true, false},
                       {'s', "PYTHONNOUSERSITE", false, false},  {'P', "PYTHONSAFEPATH", false, false, 11}};
const char kWarningVariable[] = "PYTHONWARNINGS";
const char* const kWarningActions[] = {"default", "always", "ignore", "module", "once", "error", "all"};
const char* const kWarningCategories[] = {
    "Warning", "UserWarning", "DeprecationWarning", "PendingDeprecationWarning", "SyntaxWarning", "RuntimeWarning",
    "FutureWarning", "ImportWarning", "UnicodeWarning", "BytesWarning", "ResourceWarning", "EncodingWarning"};
struct Value { const char* given; const char* env_value; };
struct XOption {
  const char* name;
  const char* env;
  const char* bare;  // the value for -X NAME alone, or nullptr
  std::vector<Value> values;
  long long low, high;  // a decimal integer in [low, high]; high 0: none
  bool any;
};
const XOption kXOptions[] = {
    {"utf8", "PYTHONUTF8", "1", {{"1", "1"}, {"0", "0"}}, 0, 0, false},
    {"dev", "PYTHONDEVMODE", "1", {}, 0, 0, false},
    {"faulthandler", "PYTHONFAULTHANDLER", "1", {}, 0, 0, false},
    {"tracemalloc", "PYTHONTRACEMALLOC", "1", {}, 1, 65535, false},
    {"int_max_str_digits", "PYTHONINTMAXSTRDIGITS", nullptr, {{"0", "0"}}, 640, 4300000000LL, false},
    {"pycache_prefix", "PYTHONPYCACHEPREFIX", nullptr, {}, 0, 0, true},
    {"warn_default_encoding", "PYTHONWARNDEFAULTENCODING", "1", {}, 0, 0, false},
    {"no_debug_ranges", "PYTHONNODEBUGRANGES", "1", {}, 0, 0, false},
    {"frozen_modules", "PYTHON_FROZEN_MODULES", nullptr, {{"on", "on"}, {"off", "off"}}, 0, 0, false},
    {"perf", "PYTHONPERFSUPPORT", "1", {}, 0, 0, false},
    {"cpu_count", "PYTHON_CPU_COUNT", nullptr, {{"default", "default"}}, 1, 1000000, false},
};
const char kNoScript[] = "no script (python reads the program from stdin, or starts its prompt)";
const char kOptionOwn[] = "an option python reads itself";
const char kNoArgument[] = "an option without its argument";
const char kNotModule[] = "-m with what is not a module name";
const char kStdinScript[] = "a script on stdin";
const char kNoFile[] = "an empty script name (python says it cannot open it)";
const char kFlagsOwn[] = "python's own flags (no start-up variable stands for them)";
const char kNonAsciiModule[] = "a module name that is not ASCII (Node checks it)";

bool TakesArgument(char letter) {
  const char* at = std::strchr(kShortOptions, letter);
  return at != nullptr && at[1] == ':';
}

bool IsShortOption(char letter) { return letter != ':' && letter != '\0' && std::strchr(kShortOptions, letter) != nullptr; }

const Flag* FlagOf(char letter) {
  for (const Flag& flag : kFlags) {
    if (flag.letter == letter) return &flag;
  }
  return nullptr;
}

/** As request-check.ts's MODULE_NAME, for ASCII names; 1 yes, 0 no, -1 not ASCII (Node decides). */
int IsModuleName(const std::string& name) {
  bool start = true;
  for (unsigned char c : name) {
    if (c >= 0x80) return -1;
    bool letter = std::isalpha(c) || c == '_';
    if (start ? !letter : !(letter || std::isdigit(c) || c == '.')) return 0;
    start = c == '.';
  }
  return !start;  // not empty, no trailing dot
}

std::string Trimmed(const std::string& s) {
  const char* space = " \t\n\r\f\v";
  size_t from = s.find_first_not_of(space);
  if (from == std::string::npos) return "";
  return s.substr(from, s.find_last_not_of(space) - from + 1);
}

/** As python-options.ts's warningTravels. */
bool WarningTravels(const std::string& value) {
  if (value.find(',') != std::string::npos) return false;
  std::vector<std::string> parts;
  size_t from = 0;
  for (;;) {
    size_t colon = value.find(':', from);
    parts.push_back(Trimmed(value.substr(from, colon == std::string::npos ? std::string::npos : colon - from)));
    if (colon == std::string::npos) break;
    from = colon + 1;
  }
  if (parts.size() > 5) return false;
  const std::string& action = parts[0];
  if (!action.empty() && std::none_of(std::begin(kWarningActions), std::end(kWarningActions),
                                      [&](const char* a) { return std::strncmp(a, action.c_str(), action.size()) == 0; })) {
    return false;
  }
  if (parts.size() > 2 && !parts[2].empty() &&
      std::none_of(std::begin(kWarningCategories), std::end(kWarningCategories), [&](const char* c) { return parts[2] == c; })) {
    return false;
  }
  return parts.size() < 5 || std::all_of(parts[4].begin(), parts[4].end(), [](char c) { return c >= '0' && c <= '9'; });
}

/** -X NAME[=VALUE]'s variable and value, or false (as python-options.ts's xOptionValue). */
bool XOptionVariable(const std::string& option, std::pair<std::string, std::string>* out) {
  size_t equals = option.find('=');
  std::string name = option.substr(0, equals);
  for (const XOption& x : kXOptions) {
    if (name != x.name) continue;
    out->first = x.env;
    if (equals == std::string::npos) {
      if (x.bare == nullptr) return false;
      out->second = x.bare;
      return true;
    }
    std::string value = option.substr(equals + 1);
    for (const Value& v : x.values) {
      if (value == v.given) return out->second = v.env_value, true;
    }
    if (x.high != 0 && !value.empty() && value.size() <= 12 && value[0] != '0' &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      long long n = std::stoll(value);
      if (n >= x.low && n <= x.high) return out->second = value, true;
    }
    if (x.any) return out->second = value, true;
    return false;
  }
  return false;
}

void SetVariable(RunArgs* out, const std::string& name, const std::string& value) {
  for (auto& entry : out->env) {
    if (entry.first == name) return void(entry.second = value);
  }
  out->env.emplace_back(name, value);
}

/** planPythonOptions for options the parser accepted; false if one has no variable (python runs itself). */
bool PlanOptions(RunArgs* out) {
  std::vector<std::pair<const Flag*, int>> counts;
  std::vector<std::string> warnings;
  const std::vector<std::string>& options = out->options;
  for (size_t i = 0; i < options.size(); i++) {
    const std::string& option = options[i];
    if (option.size() < 2 || option[0] != '-' || option[1] == '-') return false;  // a long option
    for (size_t j = 1; j < option.size(); j++) {
      char letter = option[j];
      if (letter == 'W' || letter == 'X') {
        std::string value = j + 1 < option.size() ? option.substr(j + 1) : (++i < options.size() ? options[i] : "");
        std::pair<std::string, std::string> variable;
        if (letter == 'W') {
          if (!WarningTravels(value)) return false;
          warnings.push_back(value);
        } else {
          if (!XOptionVariable(value, &variable)) return false;
          SetVariable(out, variable.first, variable.second);
        }
        break;
      }
      const Flag* flag = FlagOf(letter);
      if (flag == nullptr) return false;
      if (flag->harmless) continue;
      auto counted = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == flag; });
      if (counted == counts.end()) counts.emplace_back(flag, 1);
      else counted->second++;
    }
  }
  for (const auto& [flag, count] : counts) {
    if (!flag->counted) {
      SetVariable(out, flag->env, "1");
      continue;
    }
    // As parseInt: leading digits (after blanks and a sign), else none; python takes the larger.
    const char* inherited = getenv(flag->env);
    char* end = nullptr;
    long level = inherited ? std::strtol(inherited, &end, 10) : 0;
    if (inherited == nullptr || end == inherited) level = 0;
    SetVariable(out, flag->env, std::to_string(std::max<long>(count, level)));
  }
  if (!warnings.empty()) {
    const char* inherited = getenv(kWarningVariable);
    std::string joined = inherited && *inherited ? inherited : "";
    for (const std::string& w : warnings) {
      if (w.empty()) continue;  // (as filter(Boolean))
      joined += (joined.empty() ? "" : ",") + w;
    }
    SetVariable(out, kWarningVariable, joined);
  }
  return true;
}

}  // namespace

const char* ParseCommandLine(int argc, char** argv, RunArgs* out) {
  if (argc < 2) return "no arguments";
  std::string first = argv[1];
  // As lib/cli/main.ts: `pynwheel [PYTHON OPTIONS] FILE ARGS` (a shebang) and the spec's `--file`
  // form are runs; the management commands and pynwheel's own --help and --version are Node's.
  const char* const commands[] = {"run", "start", "stop", "status", "doctor", "shims", "python-path", "tasks", "warm",
                                  "worker", "help", "--help", "-h", "--version", "-V"};
  if (std::any_of(std::begin(commands), std::end(commands), [&](const char* c) { return first == c; }) && first != "run") {
    return "another command than run";
  }
  // `run --on URL`: a cluster job, the Node CLI's (lib/cli/run-on.ts).
  if (first == "run" && argc > 2 && (std::string(argv[2]) == "--on" || std::string(argv[2]).rfind("--on=", 0) == 0)) {
    return "a run on a cluster";
  }
  if (first == "run") return ParseRunArgs(std::vector<std::string>(argv + 2, argv + argc), out);
  return ParseRunArgs(SplitShebangOptions(std::vector<std::string>(argv + 1, argv + argc)), out);
}

std::vector<std::string> SplitShebangOptions(const std::vector<std::string>& argv) {
  // `#!/path/to/pynwheel -u -B`: the kernel passes "-u -B" as one argument (run-args.ts's splitShebangOptions).
  if (argv.size() < 2 || argv[0].empty() || argv[0][0] != '-' || argv[0].find_first_of(" \t") == std::string::npos) return argv;
  struct stat st;
  if (stat(argv[1].c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return argv;
  std::vector<std::string> out;
  const std::string& first = argv[0];
  size_t at = 0;
  while ((at = first.find_first_not_of(" \t", at)) != std::string::npos) {
    size_t end = first.find_first_of(" \t", at);
    out.push_back(first.substr(at, end == std::string::npos ? std::string::npos : end - at));
    at = end;
  }
  out.insert(out.end(), argv.begin() + 1, argv.end());
  return out;
}

const char* ParseRunArgs(const std::vector<std::string>& argv, RunArgs* out) {
  size_t count = argv.size();
  size_t i = 0;
  auto rest = [&](size_t from) { out->args.assign(argv.begin() + static_cast<long>(std::min(from, count)), argv.end()); };
  // pynwheel's own options: long ones python does not have, first.
  for (; i < count; i++) {
    const std::string& arg = argv[i];
    if (arg == "--python") {
      if (i + 1 >= count) return kUsage;
      out->python = argv[++i];
    } else if (arg.rfind("--python=", 0) == 0) {
      out->python = arg.substr(9);
    } else if (arg == "--file") {
      if (i + 1 >= count) return kUsage;
      out->file = argv[i + 1];
      if (i + 2 < count && argv[i + 2] != "--args") return kUsage;
      rest(i + 3);
      out->python_argv.push_back(out->file);
      out->python_argv.insert(out->python_argv.end(), out->args.begin(), out->args.end());
      if (out->file == "-") out->direct = kStdinScript;
      return nullptr;
    } else {
      break;
    }
  }
  out->python_argv.assign(argv.begin() + static_cast<long>(i), argv.end());
  auto file = [&](size_t at) {
    out->file = argv[at];
    rest(at + 1);
    if (out->file == "-") out->direct = kStdinScript;
    if (out->file.empty()) out->direct = kNoFile;
  };
  for (; i < count; i++) {
    const std::string& arg = argv[i];
    if (arg == "--") {
      if (i + 1 >= count) return out->direct = kNoScript, nullptr;
      file(i + 1);
      break;
    }
    if (arg[0] != '-' || arg == "-") {
      file(i);
      break;
    }
    if (arg[1] == '-') {
      auto long_option = std::find_if(std::begin(kLongOptions), std::end(kLongOptions), [&](const LongOption& o) { return arg == o.name; });
      if (long_option == std::end(kLongOptions)) return out->direct = kOptionOwn, nullptr;
      out->options.push_back(arg);
      if (long_option->argument) {
        if (i + 1 >= count) return out->direct = kNoArgument, nullptr;
        out->options.push_back(argv[++i]);
      }
      continue;
    }
    out->options.push_back(arg);
    bool target = false;
    for (size_t j = 1; j < arg.size(); j++) {
      char letter = arg[j];
      if (!IsShortOption(letter)) return out->direct = kOptionOwn, nullptr;
      if (!TakesArgument(letter)) continue;
      bool attached = j + 1 < arg.size();
      if (!attached && i + 1 >= count) return out->direct = kNoArgument, nullptr;
      std::string value = attached ? arg.substr(j + 1) : argv[++i];
      if (letter != 'c' && letter != 'm') {
        if (!attached) out->options.push_back(value);
        break;  // -W and -X: the rest of the element was their value
      }
      // -c CODE and -m MODULE end python's options: what follows is the program's.
      out->options.pop_back();
      if (j > 1) out->options.push_back(arg.substr(0, j));  // -uc CODE: the -u is an option
      if (letter == 'm') {
        int valid = IsModuleName(value);
        if (valid < 0) return kNonAsciiModule;
        if (valid == 0) return out->direct = kNotModule, nullptr;
        out->module = value;
        out->has_module = true;
      } else {
        out->code = value;
        out->has_code = true;
      }
      rest(i + 1);
      target = true;
      break;
    }
    if (target) break;
  }
  if (i >= count && !out->has_code && !out->has_module && out->file.empty()) return out->direct = kNoScript, nullptr;
  if (out->direct == nullptr && !PlanOptions(out)) out->direct = kFlagsOwn;
  return nullptr;
}

int InterpreterMinor(const std::string& python) {
  char real[PATH_MAX];
  if (realpath(python.c_str(), real) == nullptr) return -1;
  const char* base = std::strrchr(real, '/');
  base = base ? base + 1 : real;
  if (std::strncmp(base, "python3.", 8) != 0 || base[8] == '\0') return -1;
  int minor = 0;
  for (const char* c = base + 8; *c; c++) {
    if (*c < '0' || *c > '9' || minor > 1000) return -1;
    minor = minor * 10 + (*c - '0');
  }
  return minor;
}

const char* NewerThanInterpreter(const std::vector<std::string>& options, const std::string& python) {
  int minor = -2;  // not read yet: only a flag with a version of its own needs it (realpath costs syscalls)
  for (size_t i = 0; i < options.size(); i++) {
    const std::string& option = options[i];
    if (option.size() < 2 || option[0] != '-') continue;
    if (option[1] == '-') {
      auto long_option = std::find_if(std::begin(kLongOptions), std::end(kLongOptions), [&](const LongOption& o) { return option == o.name; });
      if (long_option != std::end(kLongOptions) && long_option->argument) i++;
      continue;
    }
    for (size_t j = 1; j < option.size(); j++) {
      if (TakesArgument(option[j])) {
        if (j + 1 == option.size()) i++;  // its value is the next element
        break;
      }
      const Flag* flag = FlagOf(option[j]);
      if (flag == nullptr || flag->since_minor == 0) continue;
      if (minor == -2) minor = InterpreterMinor(python);
      if (flag->since_minor > minor) return "a flag this interpreter's version may not have (python says)";
    }
  }
  return nullptr;
}

std::string CommandLineSpecJson() {
  std::string json = "{\"shortOptions\":";
  AppendJsonString(json, kShortOptions);
  json += ",\"longOptions\":{";
  for (size_t i = 0; i < std::size(kLongOptions); i++) {
    if (i) json += ',';
    AppendJsonString(json, kLongOptions[i].name);
    json += kLongOptions[i].argument ? ":{\"argument\":true}" : ":{}";
  }
  json += "},\"flags\":{";
  for (size_t i = 0; i < std::size(kFlags); i++) {
    const Flag& f = kFlags[i];
    if (i) json += ',';
    json += std::string("\"") + f.letter + "\":{";
    if (f.harmless) json += "\"harmless\":true";
    if (f.env) json += std::string("\"env\":\"") + f.env + "\"" + (f.counted ? ",\"counted\":true" : "");
    if (f.since_minor) json += ",\"since\":[3," + std::to_string(f.since_minor) + "]";
    json += '}';
  }
  json += "},\"warningVariable\":\"" + std::string(kWarningVariable) + "\",\"warningActions\":[";
  for (size_t i = 0; i < std::size(kWarningActions); i++) json += (i ? ",\"" : "\"") + std::string(kWarningActions[i]) + "\"";
  json += "],\"warningCategories\":[";
  for (size_t i = 0; i < std::size(kWarningCategories); i++) json += (i ? ",\"" : "\"") + std::string(kWarningCategories[i]) + "\"";
  json += "],\"xOptions\":{";
  for (size_t i = 0; i < std::size(kXOptions); i++) {
    const XOption& x = kXOptions[i];
    json += (i ? ",\"" : "\"") + std::string(x.name) + "\":{\"env\":\"" + x.env + "\"";
    if (x.bare) json += std::string(",\"bare\":\"") + x.bare + "\"";
    if (!x.values.empty()) {
      json += ",\"values\":{";
      for (size_t v = 0; v < x.values.size(); v++) json += (v ? ",\"" : "\"") + std::string(x.values[v].given) + "\":\"" + x.values[v].env_value + "\"";
      json += '}';
    }
    if (x.high != 0) json += ",\"range\":[" + std::to_string(x.low) + "," + std::to_string(x.high) + "]";
    if (x.any) json += ",\"any\":true";
    json += '}';
  }
  return json + "}}";
}

}  // namespace runner
