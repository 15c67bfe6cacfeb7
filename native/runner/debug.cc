// The runner's debug lines (see debug.h). Runs in the native runner.
#include "debug.h"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../shared/protocol.h"

namespace runner {

namespace {
bool g_debugging = false;  // set once by InitDebug, before anything else runs
}

void InitDebug() {
  const char* value = std::getenv(pynwheel_protocol::kDebugVariable);
  g_debugging = value != nullptr && std::strcmp(value, "1") == 0;
}

bool Debugging() { return g_debugging; }

void Debug(const char* format, ...) {
  if (!g_debugging) return;
  int saved = errno;  // callers print errno's text after the line
  char line[4096];
  int n = std::snprintf(line, sizeof line, "%srunner: ", pynwheel_protocol::kDebugPrefix);
  size_t room = sizeof line - n - 1;  // one byte kept for the newline
  va_list args;
  va_start(args, format);
  int m = std::vsnprintf(line + n, room, format, args);
  va_end(args);
  size_t length = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m) < room ? static_cast<size_t>(m) : room - 1);
  line[length++] = '\n';
  // One write (not stdio's buffer): fd 2 is the run's stderr too, and this line must come whole
  // and before anything the run writes.
  for (size_t sent = 0; sent < length;) {
    ssize_t w = write(2, line + sent, length - sent);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    sent += static_cast<size_t>(w);
  }
  errno = saved;
}

}  // namespace runner
