// Routes (see route.h). Runs in the native runner and its test program.
#include "route.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>

#include "../shared/protocol.h"
#include "wire.h"

namespace runner {

std::string RouteName(const std::string& python, const std::string& cwd, const std::string& file, long session) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  std::string key = python + '\0' + cwd + '\0' + file;
  if (session > 0) key += '\0' + std::to_string(session);
  for (unsigned char byte : key) hash = (hash ^ byte) * 0x100000001b3ULL;
  char name[17];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(hash));
  return name;
}

int ConnectRoute(const std::string& runtime_dir, const std::string& name, const char** miss) {
  int sock = Connect(runtime_dir + "/r/" + name);
  if (sock < 0) *miss = errno == ECONNREFUSED ? pynwheel_protocol::kRouteGone : pynwheel_protocol::kNoRoute;
  return sock;
}

}  // namespace runner
