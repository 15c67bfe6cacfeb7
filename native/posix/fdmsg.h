// sendmsg/recvmsg with SCM_RIGHTS, shared by the addon (native/addon/fdpass.cc) and the native runner
// (native/runner/): plain syscalls, no N-API.
#pragma once
#include <sys/socket.h>
#include <sys/types.h>

#include <vector>

namespace pynwheel_posix {

/**
 * One sendmsg(2) of `len` bytes (at least one when fds are given) with `fds` as one SCM_RIGHTS
 * message; MSG_NOSIGNAL, so a vanished peer is EPIPE rather than SIGPIPE; EINTR retried.
 * Returns what sendmsg returns (errno set on -1).
 */
ssize_t SendWithFds(int socket, const void* data, size_t len, const int* fds, size_t fd_count);

/** Every fd in every SCM_RIGHTS message of a received `msg`. */
std::vector<int> ReceivedFds(msghdr* msg);

}  // namespace pynwheel_posix
