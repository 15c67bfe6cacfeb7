// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): the typed loader for
// the C++ addon (native/), the contract between them. The addon is a thin layer over the
// syscalls Node does not expose; all protocol logic stays in TypeScript.
import * as path from 'node:path';

/** Credentials of the process at the other end of a Unix socket (SO_PEERCRED). */
export interface PeerCred { pid: number; uid: number; gid: number }

/** One recvmsg(2): the bytes read and the fds that came with them (already CLOEXEC). */
export interface Received { data: Buffer; fds: number[] }

export type PollCallback = (err: Error | null, readable: boolean, writable: boolean) => void;

/** Watches an fd on the libuv loop (uv_poll_t). Does not own the fd. */
export interface Poller {
  /** Start (or change) watching: r = readable, w = writable. */
  start(readable: boolean, writable: boolean): void;
  /** Stop watching; may be started again. */
  stop(): void;
  /** Stop for good and release the handle. Safe to call twice. */
  close(): void;
  /** Keep the event loop alive while watching (default true). */
  ref(): void;
  unref(): void;
}

export interface Binding {
  /** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC). Both ends blocking. */
  socketpair(): [number, number];
  /** A listening AF_UNIX stream socket bound to `socketPath`, non-blocking, CLOEXEC. */
  listen(socketPath: string, backlog: number): number;
  /** accept4(SOCK_NONBLOCK | SOCK_CLOEXEC); null when no connection is pending (EAGAIN). */
  accept(listenFd: number): number | null;
  /** A blocking connect to `socketPath`; returns a CLOEXEC fd. */
  connect(socketPath: string): number;
  peerCred(fd: number): PeerCred;
  /**
   * sendmsg(2) with MSG_NOSIGNAL; `fds` go as one SCM_RIGHTS message (data must be non-empty
   * when fds are given). Returns the bytes sent, or -1 if the socket is non-blocking and full.
   */
  sendMsg(fd: number, data: Uint8Array, fds: number[]): number;
  /**
   * recvmsg(2) with MSG_CMSG_CLOEXEC, room for `maxFds` fds. null on EAGAIN; data of length 0 is EOF.
   * MSG_CTRUNC closes whatever fds arrived and throws an error with code 'ECTRUNC'.
   */
  recvMsg(fd: number, maxBytes: number, maxFds: number): Received | null;
  setNonBlocking(fd: number, on: boolean): void;
  close(fd: number): void;
  /** flock(LOCK_EX | LOCK_NB): true if taken, false if someone else holds it. */
  tryLockExclusive(fd: number): boolean;
  /** What fstat says the fd is: 'file', 'dir', 'socket', 'fifo', 'chr', 'blk', 'link', 'unknown'; null if closed. */
  fdKind(fd: number): string | null;
  /** Reset `signo` to SIG_DFL, unblock it, optionally set RLIMIT_CORE to 0, raise it; _exit(128+signo) if still alive. */
  dieBySignal(signo: number, allowCore: boolean): never;
  Poller: new (fd: number, callback: PollCallback) => Poller;
  /** This process's umask (from /proc/self/status) and getrlimit values, -1 for unlimited; undefined if /proc cannot tell. */
  processAttributes(): { umask: number; limits: Array<[number, number, number]> } | undefined;
  /**
   * Starts argv (argv[0] the program's path) with env ("NAME=value" items) detached, as a
   * grandchild in a process group of its own in this process's session: fds[0] becomes its fd
   * 3, fds[1] and fds[2] its stdout and stderr, /dev/null its stdin (a terminal session's
   * zygote, native/posix/spawn.h), and only once process `after` (if given) has ended. Throws
   * fork's error.
   */
  spawnDetached(argv: string[], env: string[], fds: [number, number, number], after?: number): void;
  /** This process's nice value, CPUs, ioprio_get value and oom_score_adj (a request's "sched"); undefined if one cannot be read. */
  scheduling(): Scheduling | undefined;
  /** The fds above 2 that this process would pass on to a program it execs (not close-on-exec), ascending. */
  inheritableFds(): number[];
  /** memfd_create(name, MFD_CLOEXEC): an anonymous memory file's fd. */
  memfdCreate(name: string): number;
  /** mmap(MAP_PRIVATE, read-write) of the whole file: an ArrayBuffer over it, unmapped when collected. */
  mapFile(fd: number): ArrayBuffer;
}

export interface Scheduling { nice: number; cpus: number[]; ioprio: number; oomScoreAdj: number }

function load(): Binding {
  const root = path.resolve(__dirname, '..', '..');
  const candidates = [
    path.join(root, 'build', 'Release', 'pynwheel.node'),
    path.join(root, 'build', 'Debug', 'pynwheel.node'),
  ];
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(candidate) as Binding;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`pynwheel: the native addon is not built (run \`npm install\` or \`npx node-gyp rebuild\`): ${String(lastError)}`);
}

export const native: Binding = load();
