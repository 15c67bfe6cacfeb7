// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): the messages clients
// and the daemon exchange (the daemon checks a request with lib/daemon/request-check.ts).

/** Client -> daemon: run a script. Carries the caller's present stdio fds, then its cwd fd. */
export interface RunRequest {
  type: 'run';
  /** pynwheel's version, so that a daemon of another version is noticed. */
  client: string;
  file?: string;
  module?: string;
  /** -c CODE: the program's text (exactly one of file, module and code). */
  code?: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Absolute path of the interpreter; the zygote's key. */
  python: string;
  /** argv[0] as python would have it (what the user typed), for python's own messages. */
  argv0: string;
  /** Which of fds 0, 1, 2 the caller has open (a closed one gives python `sys.stdin is None`). */
  stdio: [boolean, boolean, boolean];
  /** Whether an fd of the caller's cwd follows the stdio fds (chdir by fd survives renames). */
  cwdFd: boolean;
  /**
   * The caller's umask and resource limits ([resource, soft, hard], -1 for unlimited), as the
   * native client reads them with getrlimit. Without them the zygote reads /proc/<caller pid>.
   */
  umask?: number;
  limits?: Array<[number, number, number]>;
  /**
   * [signo, token]: the run's status is also sent straight to the client, as sigqueue(signo)
   * with the value token * 256 + status, as soon as the script is done (the native runner
   * asks; it then need not wait for the zygote). signo is one ignored by default (SIGURG,
   * SIGWINCH), so a client that is gone and whose pid was reused is not harmed.
   */
  notify?: [number, number];
  /**
   * [sid, pgid]: the client has a controlling terminal, of session sid, and is in process group
   * pgid (the CLIs send it; the Node API does not). The run then comes from a zygote born in that
   * session and joins the client's process group, as python started there would be: it can
   * open /dev/tty, and the terminal's signals and job control reach it as they reach its client.
   */
  session?: [number, number];
  /**
   * The caller's nice value, CPU affinity, I/O priority (ioprio_get's value) and OOM score
   * adjustment: the run has them, as python started there would. One the zygote cannot give
   * (a nice value or OOM score below its own, unprivileged) makes the run python's own.
   */
  sched?: { nice: number; cpus: number[]; ioprio: number; oomScoreAdj: number };
  /**
   * The caller's signals: those it left ignored (SIG_IGN) and those it blocks, ascending. The
   * run has them ignored and blocked, as python started there would. Only the native runner
   * can see them (Node resets both at start; the runner passes them on when it hands over).
   * Without it the run has python's fresh dispositions and an empty mask, as spawn's children.
   */
  signals?: { ignored: number[]; blocked: number[] };
  /**
   * The numbers of the caller's inheritable fds above 2, ascending; the fds themselves follow
   * the stdio and cwd fds in that order, and the run has each at its number.
   */
  passFds?: number[];
  /**
   * call(), bind(), iterate(): the run calls a function of `file` or `module`, named by args[0]
   * (`f`, `Class.method`), instead of running it as __main__. The number is that of one of
   * passFds: the call's value channel (docs/PROTOCOL.md, "Calls").
   */
  call?: number;
  /**
   * The client runs python itself when no zygote is ready to take the run (the CLIs send it;
   * the Node API keeps its pid and waits): the daemon then replies `direct` and warms the
   * zygote for the script's next run meanwhile (a cold run).
   */
  cold?: boolean;
  /**
   * The native runner found no route for the script and sent it to the lane of the family its
   * imports name (native/runner/guess.h): the spare reads the script itself at once, without
   * asking its zygote first (python/_pynwheel/newscript.py). The daemon ignores it.
   */
  newScript?: boolean;
}

/**
 * Client -> daemon, a first frame: make ready, ahead of any run, the zygote a script, a module
 * or a set of packages needs (`pynwheel warm`; a cold run's warm-up). Exactly one of file,
 * module, code and packages. Replies: `importing` (with `progress`), then `warm` or `error`.
 */
export interface WarmRequest {
  type: 'warm';
  client: string;
  file?: string;
  module?: string;
  code?: string;
  packages?: string[];
  cwd: string;
  env: Record<string, string>;
  python: string;
  /** [sid, pgid], as a run's: the zygote of the client's terminal session (it starts it, `start-zygote`). */
  session?: [number, number];
  /** Send `importing` as the zygote imports. */
  progress?: boolean;
  /** Why it is warmed, for `status` (`cold run`: a run that python ran itself). */
  why?: string;
  /** A cold run's process: the warm-up waits until it is over (at most a second), so as not to slow it. */
  after?: number;
}

/** Daemon -> client, for a WarmRequest. */
export type WarmReply =
  | { type: 'importing'; module: string; ms: number }
  | { type: 'warm'; pid: number; family: string[]; preloaded: string[]; ms: number }
  | { type: 'error'; code: string; message: string; reason?: string }
  | { type: 'start-zygote'; argv: string; env: string };

/** Daemon -> client. */
export type RunReply =
  | { type: 'started'; pid: number }
  /** The run was stopped (SIGTSTP, SIGSTOP, ...): a CLI client stops itself too, as a shell's job. */
  | { type: 'stopped'; signal: number }
  | { type: 'exit'; code?: number; signal?: number; core?: boolean }
  /** `reason`: what exactly failed, a requestChecks or frameErrors code (lib/shared/protocol.json). */
  | { type: 'error'; code: string; message: string; reason?: string }
  /**
   * The terminal session has no zygote ready yet (`session` requests): the client runs python
   * itself, so that the session's first run is no slower than python. Preceded, when a zygote
   * must be born in the session, by `start-zygote`.
   */
  | { type: 'direct'; reason: string }
  /**
   * Start this zygote here, in the client's session (the daemon cannot: it lives in its own).
   * `argv` and `env` are each one string, items separated by NUL (`argv`'s first is the
   * interpreter's path); 3 fds come with it: the zygote's end of its socketpair with the
   * daemon (its fd 3), and its stdout and stderr (the daemon's log). The client starts it
   * detached: a grandchild in a process group of its own, with /dev/null as stdin.
   */
  | { type: 'start-zygote'; argv: string; env: string };

/**
 * A lane's spare -> client, before anything ran: ask the daemon. `reason` is a laneDeclines or
 * requestChecks code and `message` says it in words; a zygote of before the codes sent only
 * `reason`, a sentence.
 */
export interface LaneDecline { type: 'decline'; reason?: string; message?: string }

export function fdCountOf(request: Pick<RunRequest, 'stdio' | 'cwdFd' | 'passFds'>): number {
  return request.stdio.filter(Boolean).length + (request.cwdFd ? 1 : 0) + (request.passFds?.length ?? 0);
}
