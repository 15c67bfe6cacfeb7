// Building the run request (see request.h). Runs in the native runner and its test program.
#include "request.h"

#include <sys/stat.h>

#include <cstring>
#include <set>

#include "../posix/limits.h"
#include "../posix/sched.h"
#include "json.h"

#define PYNWHEEL_STRINGIFY(x) #x
#define PYNWHEEL_STR(x) PYNWHEEL_STRINGIFY(x)

extern char** environ;

namespace runner {

const char kVersion[] = PYNWHEEL_STR(PYNWHEEL_VERSION);

namespace {

/**
 * The environment as Node's process.env enumerates it: the first of duplicate names wins
 * (getenv's answer), and a name that is empty or not valid UTF-8 is left out (Node cannot look
 * it up). Values with invalid UTF-8 get U+FFFD as Node's strings do.
 */
void AppendEnvironment(std::string& json, const std::vector<std::pair<std::string, std::string>>& overrides) {
  json += '{';
  std::set<std::string> seen;
  auto override_of = [&](const std::string& name) -> const std::string* {
    for (const auto& entry : overrides) {
      if (entry.first == name) return &entry.second;
    }
    return nullptr;
  };
  for (char** e = environ; *e; e++) {
    const char* eq = std::strchr(*e, '=');
    if (!eq || eq == *e) continue;
    std::string name(*e, eq - *e);
    if (!IsValidUtf8(name.c_str()) || !seen.insert(name).second) continue;
    if (seen.size() > 1) json += ',';
    AppendJsonString(json, name.c_str());
    json += ':';
    const std::string* value = override_of(name);
    AppendJsonString(json, value ? value->c_str() : eq + 1);
  }
  // python's flags' variables the caller has not set (as `{ ...env, ...plan.env }`).
  for (const auto& [name, value] : overrides) {
    if (!seen.insert(name).second) continue;
    if (seen.size() > 1) json += ',';
    AppendJsonString(json, name.c_str());
    json += ':';
    AppendJsonString(json, value.c_str());
  }
  json += '}';
}

/**
 * The umask and resource limits the run must have, as python started here would: read with
 * getrlimit here (the zygote would otherwise read /proc/<our pid>, which costs it more).
 */
void AppendProcessAttributes(std::string& json) {
  mode_t mask = umask(0);
  umask(mask);
  json += ",\"umask\":" + std::to_string(mask) + ",\"limits\":[";
  bool first = true;
  for (const pynwheel_posix::Limit& limit : pynwheel_posix::CurrentLimits()) {
    json += first ? "[" : ",[";
    first = false;
    json += std::to_string(limit.resource) + "," + std::to_string(limit.soft) + "," + std::to_string(limit.hard) + "]";
  }
  json += ']';
}

}  // namespace

std::string BuildRunRequest(const RunArgs& run, const Location& where, const RequestFds& fds, int notify_signal,
                            uint64_t token, const Caller* caller, const TerminalSession& session, bool cold,
                            bool new_script) {
  auto flag = [](bool b) { return b ? "true" : "false"; };
  std::string json = "{\"type\":\"run\",\"client\":";
  AppendJsonString(json, kVersion);
  json += run.has_module ? ",\"module\":" : run.has_code ? ",\"code\":" : ",\"file\":";
  AppendJsonString(json, run.has_module ? run.module.c_str() : run.has_code ? run.code.c_str() : run.file.c_str());
  json += ",\"args\":[";
  for (size_t i = 0; i < run.args.size(); i++) {
    if (i) json += ',';
    AppendJsonString(json, run.args[i].c_str());
  }
  json += "],\"cwd\":";
  AppendJsonString(json, where.cwd.c_str());
  json += ",\"env\":";
  AppendEnvironment(json, run.env);
  json += ",\"python\":";
  AppendJsonString(json, where.python.c_str());
  json += ",\"argv0\":";
  AppendJsonString(json, where.argv0.c_str());
  json += std::string(",\"stdio\":[") + flag(fds.stdio[0]) + "," + flag(fds.stdio[1]) + "," + flag(fds.stdio[2]) +
          "],\"cwdFd\":" + flag(fds.cwd);
  AppendProcessAttributes(json);
  if (token != 0) json += ",\"notify\":[" + std::to_string(notify_signal) + "," + std::to_string(token) + "]";
  if (session.sid > 0) json += ",\"session\":[" + std::to_string(session.sid) + "," + std::to_string(session.pgid) + "]";
  if (caller != nullptr) AppendCallerFields(json, *caller);
  // The caller's nice value, CPUs, I/O priority and OOM score adjustment (the run takes them).
  pynwheel_posix::Scheduling sched;
  if (pynwheel_posix::CurrentScheduling(&sched)) json += ",\"sched\":" + pynwheel_posix::SchedulingJson(sched);
  if (cold) json += ",\"cold\":true";
  if (new_script) json += ",\"newScript\":true";
  json += '}';
  return json;
}

}  // namespace runner
