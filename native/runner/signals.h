// Signals while a run goes on: every catchable one the runner gets is passed on to the run by
// number, and the run's own status may come as a queued SIGURG carrying the request's token
// (RunRequest.notify in lib/shared/messages.ts), before the zygote's exit message. The handler only
// writes a byte to a pipe and sets volatile sig_atomic_t fields; the rest happens outside it.
// A signal the caller left ignored is neither caught nor passed on.
#pragma once
#include <cstdint>

#include "caller.h"

namespace runner {

/** The pipe the handler writes to; false if there is none (nothing has run: Node takes over). */
bool OpenSignalPipe();

/**
 * A fresh 48-bit token that the run's status signal must carry (0 if getrandom failed: then no
 * status is asked for), for the request's `notify: [StatusSignal(), token]`.
 */
uint64_t AskForStatusSignal();
int StatusSignal();

/**
 * Installs the handlers (once; 64 sigactions, 20 us), but for the signals the caller left
 * ignored: those stay ignored here, as on python's process (`nohup`, `trap '' HUP`, a
 * background job's SIGINT), and are not passed on. The status signal has its handler anyway;
 * if the caller ignores it, only the run's status is taken from it.
 */
void InstallSignalForwarding(const Caller& caller);

/** The pipe's read end, readable when signals came, for poll. */
int SignalPipe();

/**
 * Sends each signal that came on `sock` as {type:'signal', signo}; false once the peer is gone.
 * `run_in_our_group`: the run is in our process group (a terminal session's run), so what the
 * terminal sent the group (si_code SI_KERNEL) reached it too, and is not passed on again.
 */
bool ForwardPendingSignals(int sock, bool run_in_our_group = false);

/** Whether the run whose pid is `pid` sent its status (*code, 0-255). */
bool StatusCame(long pid, int* code);

/** Before exec hands over to Node: signals that came take their default action here. */
void ActOnCaughtSignals();

}  // namespace runner
