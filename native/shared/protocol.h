// The wire protocol in C++: the native runner's copy of what it uses from lib/shared/protocol.json
// (the one place the protocol is written; docs/PROTOCOL.md explains it). test/native-vectors.test.ts
// checks every constant here against that file and runs this code on test/vectors/frames.json.
// Only the runner speaks frames in C++: the addon moves bytes and fds, and Node frames them.
#pragma once
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <string>

namespace pynwheel_protocol {

// Frame = 8-byte header + JSON object: "PN", version, fd count, payload length (u32 big-endian).
inline constexpr char kMagic[] = "PN";
inline constexpr unsigned kVersion = 1;
inline constexpr size_t kHeaderSize = 8;
inline constexpr uint32_t kClientFrameBytes = 8 * 1024 * 1024;   // what clients send, and read back
inline constexpr uint32_t kZygoteFrameBytes = 64 * 1024 * 1024;  // what zygotes send
inline constexpr unsigned kFdsPerFrame = 253;                    // SCM_MAX_FD
inline constexpr int kNotifySignals[] = {SIGURG, SIGWINCH};      // a run's status may come by these
inline constexpr char kDebugVariable[] = "PYNWHEEL_DEBUG";
inline constexpr char kDebugPrefix[] = "pynwheel debug: ";

// Why a run did not take a lane although the client looked (protocol.json's laneMisses).
inline constexpr char kNoRoute[] = "no-route", kRouteGone[] = "route-gone", kLaneClosed[] = "lane-closed",
               kModuleRun[] = "module-run";

/** Why frames could not be read (protocol.json's frameErrors, in its order). */
enum class FrameError { kNone, kBadMagic, kOtherVersion, kTooLong, kTooManyFds, kFdsMissing, kFdsUnannounced,
                        kControlTruncated, kBadJson, kNotMessage };
const char* FrameErrorReason(FrameError error);  // "bad-magic", ...; "" for kNone
const char* FrameErrorCode(FrameError error);    // the error's code: "EVERSION" or "EPROTO"

struct FrameHeader {
  unsigned fd_count;
  uint32_t length;  // of the payload
};

/** The header at `bytes` (kHeaderSize of them), checked in the protocol's order against `limit`. */
FrameError DecodeFrameHeader(const unsigned char* bytes, uint32_t limit, FrameHeader* out);
/** Appends the header of a frame whose payload has `length` bytes and whose first byte carries `fd_count` fds. */
void AppendFrameHeader(std::string& out, uint32_t length, unsigned fd_count);

}  // namespace pynwheel_protocol
