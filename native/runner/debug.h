// PYNWHEEL_DEBUG=1 in the native runner: which path a run took and why, as lines on fd 2 that
// start "pynwheel debug: runner: " (lib/shared/protocol.json's debug prefix). Without the
// variable nothing is written: a run's stderr stays byte for byte python's.
#pragma once

namespace runner {

/** Reads PYNWHEEL_DEBUG, once, at the start of main. */
void InitDebug();

/** Whether PYNWHEEL_DEBUG=1 was set. */
bool Debugging();

/** One line (printf's format, without the prefix or the newline), written at once; nothing unless Debugging(). */
void Debug(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace runner
