// The run request, as lib/client/run-client.ts builds it: JSON that the daemon and a lane's spare check
// (lib/daemon/request-check.ts's checkRunRequest, the spare's lane check), byte for byte what the Node CLI
// sends for the same command line, environment and fds (test/native-client.test.ts).
#pragma once
#include <cstdint>
#include <string>

#include "caller.h"
#include "locate.h"
#include "run_args.h"
#include "session.h"

namespace runner {

struct RequestFds {
  bool stdio[3];  // which of fds 0-2 the caller left open (sent in that order)
  bool cwd;       // an O_DIRECTORY fd of the cwd follows them
};

/**
 * {type:'run', client, file|module|code, args, cwd, env, python, argv0, stdio, cwdFd, umask, limits,
 * notify?, session?, sched, signals?, passFds?}: env is this process's environment (with the variables python's flags stand for, run.env) as Node's
 * process.env enumerates it; umask, limits and sched (nice, cpus, ioprio, oomScoreAdj) are this
 * process's; notify is [notify_signal, token] unless token is 0; session is [sid, pgid] if
 * `session` has a terminal (session.sid > 0); signals and passFds are the caller's (caller.h), if
 * given; cold (RunRequest.cold: python runs it here if no zygote is ready) if `cold`; newScript
 * (RunRequest.newScript: sent to a lane by the guess of its family, guess.h) if `new_script`.
 */
std::string BuildRunRequest(const RunArgs& run, const Location& where, const RequestFds& fds, int notify_signal,
                            uint64_t token, const Caller* caller = nullptr, const TerminalSession& session = TerminalSession{},
                            bool cold = false, bool new_script = false);

/** The pynwheel version this runner was built as (package.json's, the request's `client`). */
extern const char kVersion[];

}  // namespace runner
