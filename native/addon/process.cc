// The calling process's umask and resource limits, which a run must have as python started
// from here would: sent with each request (the native runner sends the same), so that the run's
// process need not read them from /proc/<caller>/ on its way to the script.
// Runs in every Node process of pynwheel (CLI, Node API caller, daemon), as part of the addon.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "errors.h"
#include "exports.h"
#include "posix/limits.h"
#include "posix/spawn.h"
#include "posix/sched.h"

// /proc/self/status's "Umask:" line: umask(2) can only read it by setting it, which races with
// the libuv threads that create files.
static bool ReadUmask(mode_t* out) {
  int fd;
  do fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  char buf[4096];
  size_t used = 0;
  for (;;) {
    ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<size_t>(n);
    if (used == sizeof buf - 1) break;
  }
  close(fd);
  buf[used] = '\0';
  const char* line = std::strstr(buf, "\nUmask:");
  unsigned int mask;
  if (line == nullptr || std::sscanf(line + 7, "%o", &mask) != 1) return false;
  *out = static_cast<mode_t>(mask);
  return true;
}

// { umask, limits: [[resource, soft, hard], ...] } with -1 for unlimited, as the runner sends
// them; undefined where /proc cannot tell the umask (the zygote then reads /proc itself).
static Napi::Value ProcessAttributes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  mode_t mask;
  if (!ReadUmask(&mask)) return env.Undefined();
  std::vector<pynwheel_posix::Limit> current = pynwheel_posix::CurrentLimits();
  Napi::Array limits = Napi::Array::New(env, current.size());
  for (uint32_t i = 0; i < current.size(); i++) {
    Napi::Array triple = Napi::Array::New(env, 3);
    triple.Set(0u, Napi::Number::New(env, current[i].resource));
    triple.Set(1u, Napi::Number::New(env, static_cast<double>(current[i].soft)));
    triple.Set(2u, Napi::Number::New(env, static_cast<double>(current[i].hard)));
    limits.Set(i, triple);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("umask", Napi::Number::New(env, mask));
  result.Set("limits", limits);
  return result;
}

// spawnDetached(argv: string[], env: string[], fds: [number, number, number]): a terminal
// session's zygote, started here in the client's session (posix/spawn.h); throws fork's error.
static Napi::Value SpawnDetached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsArray() || !info[2].IsArray()) {
    Napi::TypeError::New(env, "spawnDetached(argv: string[], env: string[], fds: number[3])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto strings = [](Napi::Array array) {
    std::vector<std::string> out;
    for (uint32_t i = 0; i < array.Length(); i++) out.push_back(array.Get(i).ToString().Utf8Value());
    return out;
  };
  Napi::Array fd_array = info[2].As<Napi::Array>();
  if (fd_array.Length() != 3) {
    Napi::TypeError::New(env, "spawnDetached: three fds (fd 3, stdout, stderr)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fds[3];
  for (uint32_t i = 0; i < 3; i++) fds[i] = fd_array.Get(i).ToNumber().Int32Value();
  const char* syscall = "fork";
  // It starts once this process (whose run python runs meanwhile, as its child) has ended.
  pid_t after = info.Length() > 3 && info[3].IsNumber() ? info[3].ToNumber().Int32Value() : 0;
  int err = pynwheel_posix::SpawnDetached(strings(info[0].As<Napi::Array>()), strings(info[1].As<Napi::Array>()), fds, &syscall, after);
  if (err != 0) ErrnoError(env, err, syscall).ThrowAsJavaScriptException();
  return env.Undefined();
}

// { nice, cpus, ioprio, oomScoreAdj }, as the runner sends them ("sched"); undefined where one
// cannot be read.
static Napi::Value Scheduling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pynwheel_posix::Scheduling s;
  if (!pynwheel_posix::CurrentScheduling(&s)) return env.Undefined();
  Napi::Array cpus = Napi::Array::New(env, s.cpus.size());
  for (uint32_t i = 0; i < s.cpus.size(); i++) cpus.Set(i, Napi::Number::New(env, s.cpus[i]));
  Napi::Object result = Napi::Object::New(env);
  result.Set("nice", Napi::Number::New(env, s.nice));
  result.Set("cpus", cpus);
  result.Set("ioprio", Napi::Number::New(env, s.ioprio));
  result.Set("oomScoreAdj", Napi::Number::New(env, s.oom_score_adj));
  return result;
}

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("scheduling", Napi::Function::New(env, Scheduling, "scheduling"));
  exports.Set("processAttributes", Napi::Function::New(env, ProcessAttributes, "processAttributes"));
  exports.Set("spawnDetached", Napi::Function::New(env, SpawnDetached, "spawnDetached"));
}
