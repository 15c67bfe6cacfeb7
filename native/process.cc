// The calling process's umask and resource limits, which a run must have as python started
// from here would: sent with each request (the native runner sends the same), so that the run's
// process need not read them from /proc/<caller>/ on its way to the script.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "errors.h"
#include "exports.h"

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
  Napi::Array limits = Napi::Array::New(env);
  uint32_t count = 0;
  auto value = [&env](rlim_t v) { return Napi::Number::New(env, v == RLIM_INFINITY ? -1.0 : static_cast<double>(v)); };
  for (int resource = 0; resource < RLIM_NLIMITS; resource++) {
    rlimit limit;
    if (getrlimit(static_cast<__rlimit_resource>(resource), &limit) != 0) continue;
    // Beyond 2^53 (not "unlimited") a number cannot carry it exactly: left to the zygote's.
    if ((limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur > (1ULL << 53)) ||
        (limit.rlim_max != RLIM_INFINITY && limit.rlim_max > (1ULL << 53))) continue;
    Napi::Array triple = Napi::Array::New(env, 3);
    triple.Set(0u, Napi::Number::New(env, resource));
    triple.Set(1u, value(limit.rlim_cur));
    triple.Set(2u, value(limit.rlim_max));
    limits.Set(count++, triple);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("umask", Napi::Number::New(env, mask));
  result.Set("limits", limits);
  return result;
}

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("processAttributes", Napi::Function::New(env, ProcessAttributes, "processAttributes"));
}
