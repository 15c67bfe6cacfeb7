// The runner's sockets: connecting, sending a frame with its fds, and reading replies back as
// frames (lib/shared/wire.ts's FrameDecoder, with the header checks of shared/protocol.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../shared/protocol.h"
#include "json.h"

namespace runner {

/** A connected Unix stream socket (SOCK_CLOEXEC), or -1 with errno set. */
int Connect(const std::string& socket_path);

/** A whole frame: the header (announcing `fd_count` fds), then `payload`. */
std::string EncodeFrame(const std::string& payload, unsigned fd_count);

/** Sends a whole frame; the fds go with its first byte (there always is one). False with errno set. */
bool SendFrame(int sock, const std::string& frame, const std::vector<int>& fds);

/**
 * Replies as frames from one socket, each with the fds its header announces (only a
 * `start-zygote` reply has any); fds of a frame that is not handed out whole are closed.
 */
class ReplyReader {
 public:
  explicit ReplyReader(uint32_t limit) : limit_(limit) {}
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;
  /** One recvmsg (EINTR retried): the bytes read, 0 at the end, -1 with errno set. */
  long Receive(int sock);
  /**
   * The next whole reply into *reply (true), else false: none yet, or error() says why not.
   * Its fds go to *fds, which the caller then owns, or are closed if fds is null.
   */
  bool Next(FlatObject* reply, std::vector<int>* fds = nullptr);
  pynwheel_protocol::FrameError error() const { return error_; }
  /** Bytes received that are not yet a whole frame. */
  size_t pending() const { return buffer_.size(); }

 private:
  void Decode();
  uint32_t limit_;
  std::string buffer_;
  std::vector<int> fds_;  // received, not yet taken by a frame
  std::vector<FlatObject> ready_;  // decoded, not yet taken
  std::vector<std::vector<int>> ready_fds_;  // each one's fds
  size_t taken_ = 0;
  pynwheel_protocol::FrameError error_ = pynwheel_protocol::FrameError::kNone;
};

}  // namespace runner
