// The messages clients and the daemon exchange, and the checks a request must pass before
// anything is done for it.
import { constants } from 'node:os';
import { PynwheelError } from './errors';
import type { Message } from './protocol';

/** Client -> daemon: run a script. Carries the caller's present stdio fds, then its cwd fd. */
export interface RunRequest {
  type: 'run';
  /** pynwheel's version, so that a daemon of another version is noticed. */
  client: string;
  file?: string;
  module?: string;
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
}

export const MAX_LIMITS = 64;

/** Signals a run's status may come by (see RunRequest.notify): SIGURG, SIGWINCH. */
export const NOTIFY_SIGNALS: readonly unknown[] = [constants.signals.SIGURG, constants.signals.SIGWINCH];

/** Daemon -> client. */
export type RunReply =
  | { type: 'started'; pid: number }
  /** The run was stopped (SIGTSTP, SIGSTOP, ...): a CLI client stops itself too, as a shell's job. */
  | { type: 'stopped'; signal: number }
  | { type: 'exit'; code?: number; signal?: number; core?: boolean }
  | { type: 'error'; code: string; message: string };

export const MAX_ARGS = 100_000;

export function fdCountOf(request: Pick<RunRequest, 'stdio' | 'cwdFd'>): number {
  return request.stdio.filter(Boolean).length + (request.cwdFd ? 1 : 0);
}

/** Validates a decoded run request; throws PynwheelError('EBADREQUEST') saying what is wrong. */
export function checkRunRequest(message: Message, fdCount: number): RunRequest {
  const m = message as Record<string, unknown>;
  const bad = (what: string): never => { throw new PynwheelError('EBADREQUEST', `bad run request: ${what}`); };
  if ((typeof m.file === 'string') === (typeof m.module === 'string')) bad('exactly one of "file" and "module" must be a string');
  if (typeof m.file === 'string' && (m.file.length === 0 || m.file.includes('\0'))) bad('"file" is empty or has a NUL');
  if (typeof m.module === 'string' && !/^[\p{L}_][\p{L}\p{N}_]*(\.[\p{L}_][\p{L}\p{N}_]*)*$/u.test(m.module)) bad('"module" is not a module name');
  if (!Array.isArray(m.args) || m.args.length > MAX_ARGS || !m.args.every((a) => typeof a === 'string' && !a.includes('\0'))) bad('"args" must be an array of strings');
  if (typeof m.cwd !== 'string' || !m.cwd.startsWith('/')) bad('"cwd" must be an absolute path');
  if (typeof m.env !== 'object' || m.env === null || Array.isArray(m.env)) bad('"env" must be an object');
  for (const [k, v] of Object.entries(m.env as object)) {
    if (typeof v !== 'string' || k.length === 0 || k.includes('=') || k.includes('\0') || v.includes('\0')) bad(`environment entry ${JSON.stringify(k)}`);
  }
  if (typeof m.python !== 'string' || !m.python.startsWith('/')) bad('"python" must be an absolute path');
  if (typeof m.argv0 !== 'string') bad('"argv0" must be a string');
  if (!Array.isArray(m.stdio) || m.stdio.length !== 3 || !m.stdio.every((b) => typeof b === 'boolean')) bad('"stdio" must be three booleans');
  if (typeof m.cwdFd !== 'boolean') bad('"cwdFd" must be a boolean');
  if (m.umask !== undefined && !(Number.isInteger(m.umask) && (m.umask as number) >= 0 && (m.umask as number) <= 0o777)) bad('"umask" must be an integer from 0 to 0o777');
  if (m.limits !== undefined) {
    const isLimit = (l: unknown) => Array.isArray(l) && l.length === 3 && Number.isSafeInteger(l[0]) && l[0] >= 0 && l[0] < MAX_LIMITS &&
      l.slice(1).every((v) => Number.isSafeInteger(v) && v >= -1);
    if (!Array.isArray(m.limits) || m.limits.length > MAX_LIMITS || !m.limits.every(isLimit)) bad('"limits" must be [resource, soft, hard] triples');
    if (m.umask === undefined) bad('"limits" come with "umask"');
  }
  if (m.notify !== undefined) {
    const n = m.notify;
    if (!Array.isArray(n) || n.length !== 2 || !NOTIFY_SIGNALS.includes(n[0]) || !Number.isSafeInteger(n[1]) || n[1] <= 0) {
      bad('"notify" must be [SIGURG or SIGWINCH, a positive integer]');
    }
  }
  const request = m as unknown as RunRequest;
  if (fdCountOf(request) !== fdCount) bad(`it announces ${fdCountOf(request)} fds but carries ${fdCount}`);
  return request;
}

const STREAM_NAMES = ['stdin', 'stdout', 'stderr'];

/**
 * The fds must be what they claim: stdio may be anything python accepts (a tty, pipe, file,
 * socket, /dev/null) but not a directory, which python refuses at start-up; the cwd fd must be a
 * directory. `kindOf` is fstat's answer (see native.fdKind).
 */
export function checkRunFds(request: RunRequest, fds: number[], kindOf: (fd: number) => string | null): void {
  const bad = (what: string): never => { throw new PynwheelError('EBADREQUEST', `bad run request: ${what}`); };
  let next = 0;
  request.stdio.forEach((present, i) => {
    if (!present) return;
    const kind = kindOf(fds[next++]);
    if (kind === null) bad(`${STREAM_NAMES[i]} is not an open fd`);
    if (kind === 'dir') bad(`${STREAM_NAMES[i]} is a directory`);
  });
  if (request.cwdFd && kindOf(fds[next]) !== 'dir') bad('the cwd fd is not a directory');
}
