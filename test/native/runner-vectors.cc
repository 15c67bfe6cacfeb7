// runner-vectors: a test program (build/Release/runner-vectors, built by binding.gyp in a
// checkout only) that runs the native runner's own code, compiled from the same sources as
// the runner, on inputs test/native-vectors.test.ts gives it: the protocol's test vectors
// (test/vectors/*.json) and cases it compares with lib/. Runs in the test's child process.
//
// Input on stdin: records of NUL-terminated fields: a command, the number of fields that
// follow, the fields. Output: one JSON line per record, written with the runner's own JSON
// writer. Commands:
//   constants                              shared/protocol.h's constants, the CLI entry, the version
//   run-args N ENV... ARG...               ParseRunArgs (the arguments after `run`; N "NAME=VALUE" entries are the environment)
//   command-line N ENV... ARG0 ARG...      ParseCommandLine (a whole argv)
//   route PYTHON CWD FILE [SESSION]        RouteName
//   frames HEX FDS client|zygote           the bytes sent with FDS fds through a socketpair, read by ReplyReader
//   runtime-dir CWD NAME=VALUE...          RuntimeDir and RuntimeDirIsSafe in that environment
//   python EXPLICIT CWD NAME=VALUE...      ResolvePython in that environment
//   request file|module|code TARGET CWD PYTHON ARGV0 STDIO CWDFD TOKEN NARGS ARG... NAME=VALUE...
//                                          BuildRunRequest (STDIO e.g. "101"; the environment raw)
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "posix/fdmsg.h"
#include "runner/handover.h"
#include "runner/interp_cache.h"
#include "runner/json.h"
#include "runner/locate.h"
#include "runner/request.h"
#include "runner/route.h"
#include "runner/run_args.h"
#include "runner/wire.h"
#include "shared/protocol.h"

extern char** environ;

namespace {

namespace pp = pynwheel_protocol;
using runner::AppendJsonString;

std::string Quoted(const std::string& text) {
  std::string out;
  AppendJsonString(out, text.c_str());
  return out;
}

std::string QuotedList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); i++) out += (i ? "," : "") + Quoted(items[i]);
  return out + "]";
}

/** The environment becomes exactly `entries` (raw "NAME=VALUE" strings, repeats kept). */
class Environment {
 public:
  explicit Environment(std::vector<std::string> entries) : entries_(std::move(entries)) {
    for (std::string& entry : entries_) pointers_.push_back(&entry[0]);
    pointers_.push_back(nullptr);
    saved_ = environ;
    environ = pointers_.data();
  }
  ~Environment() { environ = saved_; }

 private:
  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
  char** saved_;
};

std::string ParsedRun(const char* why, const runner::RunArgs& run) {
  if (why != nullptr) return std::string("{\"node\":") + Quoted(why) + ",\"usage\":" + (why == runner::kUsage ? "true" : "false") + "}";
  std::string python = run.python.empty() ? "" : ",\"python\":" + Quoted(run.python);
  if (run.direct != nullptr) return "{\"direct\":true" + python + ",\"pythonArgv\":" + QuotedList(run.python_argv) + "}";
  std::string out = run.has_module ? "{\"module\":" + Quoted(run.module)
                    : run.has_code ? "{\"code\":" + Quoted(run.code) : "{\"file\":" + Quoted(run.file);
  out += ",\"args\":" + QuotedList(run.args) + python + ",\"options\":" + QuotedList(run.options) +
         ",\"pythonArgv\":" + QuotedList(run.python_argv);
  if (!run.env.empty()) {
    out += ",\"env\":{";
    for (size_t i = 0; i < run.env.size(); i++) out += (i ? "," : "") + Quoted(run.env[i].first) + ":" + Quoted(run.env[i].second);
    out += "}";
  }
  return out + "}";
}

std::string Constants() {
  std::string out = "{\"version\":" + std::to_string(pp::kVersion) + ",\"magic\":" + Quoted(pp::kMagic) +
                    ",\"headerSize\":" + std::to_string(pp::kHeaderSize) +
                    ",\"clientFrameBytes\":" + std::to_string(pp::kClientFrameBytes) +
                    ",\"zygoteFrameBytes\":" + std::to_string(pp::kZygoteFrameBytes) +
                    ",\"fdsPerFrame\":" + std::to_string(pp::kFdsPerFrame) + ",\"notifySignals\":[";
  for (size_t i = 0; i < std::size(pp::kNotifySignals); i++) out += (i ? "," : "") + std::to_string(pp::kNotifySignals[i]);
  std::vector<std::string> reasons, codes;
  for (int e = static_cast<int>(pp::FrameError::kBadMagic); e <= static_cast<int>(pp::FrameError::kNotMessage); e++) {
    reasons.push_back(pp::FrameErrorReason(static_cast<pp::FrameError>(e)));
    codes.push_back(pp::FrameErrorCode(static_cast<pp::FrameError>(e)));
  }
  out += "],\"frameErrors\":" + QuotedList(reasons) + ",\"frameErrorCodes\":" + QuotedList(codes);
  out += ",\"laneMisses\":" + QuotedList({pp::kNoRoute, pp::kRouteGone, pp::kLaneClosed, pp::kModuleRun});
  out += ",\"debugVariable\":" + Quoted(pp::kDebugVariable) + ",\"debugPrefix\":" + Quoted(pp::kDebugPrefix);
  out += ",\"cliEntry\":" + Quoted(runner::kCliEntry) + ",\"client\":" + Quoted(runner::kVersion) + "}";
  return out;
}

std::string Member(const runner::JsonMember& member) {
  static const char* const kinds[] = {"string", "number", "boolean", "null", "nested"};
  return std::string("[\"") + kinds[member.kind] + "\"," + Quoted(member.text) + "]";
}

/** `hex` sent with `fd_count` fds (on its first byte) by a child, read here by the runner's ReplyReader. */
std::string Frames(const std::string& hex, int fd_count, uint32_t limit) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return "{\"failed\":\"socketpair\"}";
  pid_t child = fork();
  if (child == 0) {
    close(pair[0]);
    std::vector<int> fds;
    for (int i = 0; i < fd_count; i++) fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = pynwheel_posix::SendWithFds(pair[1], bytes.data() + sent, bytes.size() - sent,
                                              sent == 0 ? fds.data() : nullptr, sent == 0 ? fds.size() : 0);
      if (n <= 0) _exit(1);
      sent += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(pair[1]);
  runner::ReplyReader reader(limit);
  std::string frames = "[";
  size_t count = 0;
  for (;;) {
    long n = reader.Receive(pair[0]);
    runner::FlatObject reply;
    while (reader.Next(&reply)) {
      std::string members = "{";
      for (const auto& [name, member] : reply) members += (members.size() > 1 ? "," : "") + Quoted(name) + ":" + Member(member);
      frames += (count++ ? "," : "") + members + "}";
    }
    if (n <= 0 || reader.error() != pp::FrameError::kNone) break;
  }
  close(pair[0]);
  int status;
  waitpid(child, &status, 0);
  pp::FrameError error = reader.error();
  return "{\"frames\":" + frames + "],\"error\":" + Quoted(pp::FrameErrorReason(error)) + ",\"code\":" +
         Quoted(pp::FrameErrorCode(error)) + ",\"pending\":" + std::to_string(reader.pending()) + "}";
}

std::string Request(const std::vector<std::string>& f) {
  runner::RunArgs run;
  run.has_module = f.at(0) == "module";
  run.has_code = f.at(0) == "code";
  (run.has_module ? run.module : run.has_code ? run.code : run.file) = f.at(1);
  runner::Location where{f.at(2), "", f.at(3), f.at(4)};
  runner::RequestFds fds{{f.at(5)[0] == '1', f.at(5)[1] == '1', f.at(5)[2] == '1'}, f.at(6) == "1"};
  uint64_t token = std::stoull(f.at(7));
  size_t nargs = std::stoul(f.at(8));
  run.args.assign(f.begin() + 9, f.begin() + 9 + static_cast<long>(nargs));
  Environment env(std::vector<std::string>(f.begin() + 9 + static_cast<long>(nargs), f.end()));
  return runner::BuildRunRequest(run, where, fds, SIGURG, token);
}

std::string Handle(const std::string& command, const std::vector<std::string>& f) {
  if (command == "constants") return Constants();
  if (command == "command-line-spec") return runner::CommandLineSpecJson();
  // run-args and command-line: N, N environment entries ("NAME=VALUE"), then the arguments.
  size_t env_count = (command == "run-args" || command == "command-line") ? std::stoul(f.at(0)) : 0;
  std::vector<std::string> env_entries(f.begin() + (env_count ? 1 : 0), f.begin() + (env_count ? 1 + static_cast<long>(env_count) : 0));
  std::vector<std::string> rest = (command == "run-args" || command == "command-line") ? std::vector<std::string>(f.begin() + 1 + static_cast<long>(env_count), f.end()) : f;
  if (command == "run-args") {
    Environment env(env_entries);
    runner::RunArgs run;
    const char* why = runner::ParseRunArgs(rest, &run);
    return ParsedRun(why, run);
  }
  if (command == "command-line") {
    Environment env(env_entries);
    std::vector<std::string> copy = rest;
    std::vector<char*> argv;
    for (std::string& arg : copy) argv.push_back(&arg[0]);
    argv.push_back(nullptr);
    runner::RunArgs run;
    const char* why = runner::ParseCommandLine(static_cast<int>(copy.size()), argv.data(), &run);
    return ParsedRun(why, run);
  }
  if (command == "route") {
    long session = f.size() > 3 ? std::stol(f.at(3)) : 0;
    return "{\"name\":" + Quoted(runner::RouteName(f.at(0), f.at(1), f.at(2), session)) + "}";
  }
  if (command == "frames") {
    return Frames(f.at(0), std::stoi(f.at(1)), f.at(2) == "zygote" ? pp::kZygoteFrameBytes : pp::kClientFrameBytes);
  }
  if (command == "runtime-dir") {
    Environment env(std::vector<std::string>(f.begin() + 1, f.end()));
    std::string dir = runner::RuntimeDir(f.at(0));
    return "{\"dir\":" + Quoted(dir) + ",\"safe\":" + (runner::RuntimeDirIsSafe(dir) ? "true" : "false") + "}";
  }
  if (command == "python") {
    Environment env(std::vector<std::string>(f.begin() + 2, f.end()));
    std::string path, argv0;
    if (!runner::ResolvePython(f.at(0), f.at(1), &path, &argv0)) return "{\"found\":false}";
    return "{\"found\":true,\"path\":" + Quoted(path) + ",\"argv0\":" + Quoted(argv0) + "}";
  }
  if (command == "interp") {
    // runtime dir, candidate, cwd, N, N names to report after the lookup, then the environment.
    size_t names = std::stoul(f.at(3));
    Environment env(std::vector<std::string>(f.begin() + 4 + names, f.end()));
    std::string python;
    runner::ShimVerdict verdict = runner::LookUpShim(f.at(0), f.at(1), f.at(2), &python);
    const char* word = verdict == runner::ShimVerdict::kRun ? "run" : verdict == runner::ShimVerdict::kAsIs ? "as-is" : "unknown";
    std::string out = std::string("{\"verdict\":") + Quoted(word) + ",\"python\":" + Quoted(verdict == runner::ShimVerdict::kUnknown ? "" : python) + ",\"env\":{";
    for (size_t i = 0; i < names; i++) {
      const char* value = getenv(f.at(4 + i).c_str());
      out += (i ? "," : "") + Quoted(f.at(4 + i)) + ":" + (value ? Quoted(value) : "null");
    }
    return out + "}}";
  }
  if (command == "request") return Request(f);
  return "{\"failed\":" + Quoted("unknown command " + command) + "}";
}

bool ReadField(std::string* out) { return static_cast<bool>(std::getline(std::cin, *out, '\0')); }

}  // namespace

int main() {
  std::string command, count;
  while (ReadField(&command) && ReadField(&count)) {
    std::vector<std::string> fields(std::stoul(count));
    for (std::string& field : fields) {
      if (!ReadField(&field)) return 2;
    }
    std::string line;
    try {
      line = Handle(command, fields);
    } catch (const std::exception& e) {
      line = "{\"failed\":" + Quoted(e.what()) + "}";
    }
    std::cout << line << '\n' << std::flush;
  }
  return 0;
}
