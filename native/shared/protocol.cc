// The frame header, written and read as lib/shared/wire.ts does. Runs in the native runner
// (and in its test program, build/Release/runner-vectors).
#include "protocol.h"

namespace pynwheel_protocol {

const char* FrameErrorReason(FrameError error) {
  switch (error) {
    case FrameError::kNone: return "";
    case FrameError::kBadMagic: return "bad-magic";
    case FrameError::kOtherVersion: return "other-version";
    case FrameError::kTooLong: return "too-long";
    case FrameError::kTooManyFds: return "too-many-fds";
    case FrameError::kFdsMissing: return "fds-missing";
    case FrameError::kFdsUnannounced: return "fds-unannounced";
    case FrameError::kControlTruncated: return "control-truncated";
    case FrameError::kBadJson: return "bad-json";
    case FrameError::kNotMessage: return "not-message";
  }
  return "";
}

const char* FrameErrorCode(FrameError error) {
  return error == FrameError::kNone ? "" : error == FrameError::kOtherVersion ? "EVERSION" : "EPROTO";
}

FrameError DecodeFrameHeader(const unsigned char* bytes, uint32_t limit, FrameHeader* out) {
  if (bytes[0] != kMagic[0] || bytes[1] != kMagic[1]) return FrameError::kBadMagic;
  if (bytes[2] != kVersion) return FrameError::kOtherVersion;
  uint32_t length = 0;
  for (int i = 4; i < 8; i++) length = (length << 8) | bytes[i];
  if (length > limit) return FrameError::kTooLong;
  if (bytes[3] > kFdsPerFrame) return FrameError::kTooManyFds;
  out->fd_count = bytes[3];
  out->length = length;
  return FrameError::kNone;
}

void AppendFrameHeader(std::string& out, uint32_t length, unsigned fd_count) {
  out += kMagic[0];
  out += kMagic[1];
  out += static_cast<char>(kVersion);
  out += static_cast<char>(fd_count);
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((length >> shift) & 0xFF);
}

}  // namespace pynwheel_protocol
