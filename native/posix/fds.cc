// Listing inheritable fds (see fds.h). Runs in the native runner and in the addon.
#include "fds.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace pynwheel_posix {

namespace {

struct LinuxDirent64 {  // getdents64's record (glibc's readdir would allocate)
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

}  // namespace

bool InheritableFds(std::vector<int>* fds, const char** failed_call) {
  fds->clear();
  int dir;
  do dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC); while (dir < 0 && errno == EINTR);
  if (dir < 0) {
    *failed_call = "open";
    return false;
  }
  alignas(8) char buffer[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      close(dir);
      errno = saved;
      *failed_call = "getdents64";
      return false;
    }
    if (n == 0) break;
    for (long at = 0; at < n;) {
      const LinuxDirent64* entry = reinterpret_cast<const LinuxDirent64*>(buffer + at);
      at += entry->d_reclen;
      int fd = 0;
      const char* c = entry->d_name;
      if (*c < '0' || *c > '9') continue;  // "." and ".."
      for (; *c >= '0' && *c <= '9'; c++) fd = fd * 10 + (*c - '0');
      if (fd <= 2 || fd == dir) continue;
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0 && !(flags & FD_CLOEXEC)) fds->push_back(fd);
    }
  }
  close(dir);
  std::sort(fds->begin(), fds->end());
  return true;
}

}  // namespace pynwheel_posix
