// fd passing (see fdmsg.h). Runs in the native runner and in a Node process (the addon).
#include "fdmsg.h"

#include <cerrno>
#include <cstring>

namespace pynwheel_posix {

ssize_t SendWithFds(int socket, const void* data, size_t len, const int* fds, size_t fd_count) {
  iovec iov{const_cast<void*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (fd_count > 0) {
    control.assign(CMSG_SPACE(fd_count * sizeof(int)), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(fd_count * sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), fds, fd_count * sizeof(int));
  }
  ssize_t sent;
  do {
    sent = sendmsg(socket, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent;
}

std::vector<int> ReceivedFds(msghdr* msg) {
  std::vector<int> fds;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    size_t start = fds.size();
    fds.resize(start + n);
    // memcpy: CMSG_DATA need not be aligned for int.
    std::memcpy(fds.data() + start, CMSG_DATA(cmsg), n * sizeof(int));
  }
  return fds;
}

}  // namespace pynwheel_posix
