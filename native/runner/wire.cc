// Sockets and frames (see wire.h). Runs in the native runner and its test program.
#include "wire.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../posix/fdmsg.h"

namespace runner {

using pynwheel_protocol::FrameError;

int Connect(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rc;
  do rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr); while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

std::string EncodeFrame(const std::string& payload, unsigned fd_count) {
  std::string frame;
  frame.reserve(pynwheel_protocol::kHeaderSize + payload.size());
  pynwheel_protocol::AppendFrameHeader(frame, static_cast<uint32_t>(payload.size()), fd_count);
  return frame + payload;
}

bool SendFrame(int sock, const std::string& frame, const std::vector<int>& fds) {
  size_t sent = 0;
  while (sent < frame.size()) {
    ssize_t n = pynwheel_posix::SendWithFds(sock, frame.data() + sent, frame.size() - sent,
                                            sent == 0 ? fds.data() : nullptr, sent == 0 ? fds.size() : 0);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

long ReplyReader::Receive(int sock) {
  char data[65536];
  union {  // aligned for cmsghdr; room for a frame's worth, so that only a broken peer truncates
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * pynwheel_protocol::kFdsPerFrame)];
  } control;
  iovec iov{data, sizeof data};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof control.bytes;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (int fd : pynwheel_posix::ReceivedFds(&msg)) fds_.push_back(fd);
  if (msg.msg_flags & MSG_CTRUNC) {
    error_ = FrameError::kControlTruncated;
  }
  if (error_ == FrameError::kNone) {
    buffer_.append(data, static_cast<size_t>(n));
    Decode();
  }
  return n;
}

namespace {
void CloseAll(std::vector<int>& fds) {
  for (int fd : fds) close(fd);
  fds.clear();
}
}  // namespace

ReplyReader::~ReplyReader() {
  CloseAll(fds_);
  for (auto& fds : ready_fds_) CloseAll(fds);
}

bool ReplyReader::Next(FlatObject* reply, std::vector<int>* fds) {
  if (taken_ == ready_.size()) return false;
  *reply = std::move(ready_[taken_]);
  if (fds != nullptr) fds->swap(ready_fds_[taken_]);
  CloseAll(ready_fds_[taken_]);
  taken_++;
  return true;
}

/**
 * Every whole frame buffered, as lib/shared/wire.ts's FrameDecoder: a frame takes the fds
 * its header announces, which must have come by its last byte; fds left when no frame is
 * pending are an error. On an error the frames of this read are not handed out.
 */
void ReplyReader::Decode() {
  ready_.erase(ready_.begin(), ready_.begin() + static_cast<long>(taken_));
  ready_fds_.erase(ready_fds_.begin(), ready_fds_.begin() + static_cast<long>(taken_));
  taken_ = 0;
  size_t before = ready_.size();
  size_t at = 0;
  while (buffer_.size() - at >= pynwheel_protocol::kHeaderSize) {
    pynwheel_protocol::FrameHeader header;
    error_ = DecodeFrameHeader(reinterpret_cast<const unsigned char*>(buffer_.data() + at), limit_, &header);
    if (error_ != FrameError::kNone) break;
    size_t whole = pynwheel_protocol::kHeaderSize + header.length;
    if (buffer_.size() - at < whole) break;
    if (fds_.size() < header.fd_count) {
      error_ = FrameError::kFdsMissing;
      break;
    }
    std::vector<int> frame_fds(fds_.begin(), fds_.begin() + header.fd_count);
    fds_.erase(fds_.begin(), fds_.begin() + header.fd_count);
    FlatObject reply;
    std::string payload = buffer_.substr(at + pynwheel_protocol::kHeaderSize, header.length);
    JsonShape shape = IsValidUtf8(payload) ? ParseFlatObject(payload, &reply) : JsonShape::kInvalid;
    at += whole;
    if (shape == JsonShape::kInvalid) {
      CloseAll(frame_fds);
      error_ = FrameError::kBadJson;
      break;
    }
    auto type = reply.find("type");
    if (shape != JsonShape::kObject || type == reply.end() || type->second.kind != JsonMember::kString) {
      CloseAll(frame_fds);
      error_ = FrameError::kNotMessage;
      break;
    }
    ready_.push_back(std::move(reply));
    ready_fds_.push_back(std::move(frame_fds));
  }
  buffer_.erase(0, at);
  if (error_ == FrameError::kNone && buffer_.empty() && !fds_.empty()) error_ = FrameError::kFdsUnannounced;
  if (error_ != FrameError::kNone) {
    CloseAll(fds_);
    for (size_t i = before; i < ready_fds_.size(); i++) CloseAll(ready_fds_[i]);
    ready_.resize(before);
    ready_fds_.resize(before);
  }
}

}  // namespace runner
