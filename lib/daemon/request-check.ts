// Runs in the daemon: the checks a client's run request must pass before anything is done for
// it (a lane's spare makes the same checks in the zygote's own copy). Each failure has a stable
// requestChecks code of lib/shared/protocol.json, the PynwheelError's `reason`.
import { constants } from 'node:os';
import { PynwheelError } from '../shared/errors';
import { fdCountOf, type RunRequest, type WarmRequest } from '../shared/messages';
import { MAX_ARGS, MAX_LIMITS, NOTIFY_SIGNAL_NAMES, NOTIFY_TOKEN_BELOW, type RequestCheck } from '../shared/protocol-constants';
import { MAX_SIGNAL } from '../shared/signals';
import type { Message } from '../shared/wire';

/** Signal numbers a run's status may come by (see RunRequest.notify): SIGURG, SIGWINCH. */
const NOTIFY_SIGNALS: readonly unknown[] = NOTIFY_SIGNAL_NAMES.map((name) => (constants.signals as Record<string, number>)[name]);

const FD_BELOW = 2 ** 31;

/** An array of integers from `min` to below `below`, strictly ascending (so each once). */
function ascending(list: unknown, min: number, below: number): list is number[] {
  if (!Array.isArray(list)) return false;
  let last = min - 1;
  for (const n of list) {
    if (!Number.isInteger(n) || n <= last || n >= below) return false;
    last = n;
  }
  return true;
}

/** Signal numbers as Linux has them (1-64), but SIGKILL and SIGSTOP, which no process can ignore or block. */
function areSignals(list: unknown): boolean {
  return ascending(list, 1, MAX_SIGNAL + 1) && !list.includes(constants.signals.SIGKILL) && !list.includes(constants.signals.SIGSTOP);
}

const MODULE_NAME = /^[\p{L}_][\p{L}\p{N}_]*(\.[\p{L}_][\p{L}\p{N}_]*)*$/u;

/** A call's function, as its target names it after the colon: `f`, `Class.method` (ASCII names). */
const ATTRIBUTE_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

function bad(reason: RequestCheck, what: string): never {
  throw new PynwheelError('EBADREQUEST', `bad run request: ${what}`, { reason });
}

/** Validates a decoded run request; throws PynwheelError('EBADREQUEST') saying what is wrong. */
export function checkRunRequest(message: Message, fdCount: number): RunRequest {
  const m = message as Record<string, unknown>;
  if ([m.file, m.module, m.code].filter((t) => typeof t === 'string').length !== 1) {
    bad('file-or-module', 'exactly one of "file", "module" and "code" must be a string');
  }
  if (typeof m.code === 'string' && m.code.includes('\0')) bad('bad-code', '"code" has a NUL');
  if (typeof m.file === 'string' && (m.file.length === 0 || m.file.includes('\0'))) bad('bad-file', '"file" is empty or has a NUL');
  if (typeof m.module === 'string' && !MODULE_NAME.test(m.module)) bad('bad-module', '"module" is not a module name');
  if (!Array.isArray(m.args) || m.args.length > MAX_ARGS || !m.args.every((a) => typeof a === 'string' && !a.includes('\0'))) bad('bad-args', '"args" must be an array of strings');
  if (typeof m.cwd !== 'string' || !m.cwd.startsWith('/') || m.cwd.includes('\0')) bad('bad-cwd', '"cwd" must be an absolute path without NUL');
  if (typeof m.env !== 'object' || m.env === null || Array.isArray(m.env)) bad('bad-env', '"env" must be an object');
  for (const [k, v] of Object.entries(m.env as object)) {
    if (typeof v !== 'string' || k.length === 0 || k.includes('=') || k.includes('\0') || v.includes('\0')) bad('bad-env', `environment entry ${JSON.stringify(k)}`);
  }
  if (typeof m.python !== 'string' || !m.python.startsWith('/')) bad('bad-python', '"python" must be an absolute path');
  if (typeof m.argv0 !== 'string') bad('bad-argv0', '"argv0" must be a string');
  if (!Array.isArray(m.stdio) || m.stdio.length !== 3 || !m.stdio.every((b) => typeof b === 'boolean')) bad('bad-stdio', '"stdio" must be three booleans');
  if (typeof m.cwdFd !== 'boolean') bad('bad-cwd-fd', '"cwdFd" must be a boolean');
  if (m.umask !== undefined && !(Number.isInteger(m.umask) && (m.umask as number) >= 0 && (m.umask as number) <= 0o777)) bad('bad-umask', '"umask" must be an integer from 0 to 0o777');
  if (m.limits !== undefined) {
    const isLimit = (l: unknown) => Array.isArray(l) && l.length === 3 && Number.isSafeInteger(l[0]) && l[0] >= 0 && l[0] < MAX_LIMITS &&
      l.slice(1).every((v) => Number.isSafeInteger(v) && v >= -1);
    if (!Array.isArray(m.limits) || m.limits.length > MAX_LIMITS || !m.limits.every(isLimit)) bad('bad-limits', '"limits" must be [resource, soft, hard] triples');
    if (m.umask === undefined) bad('bad-limits', '"limits" come with "umask"');
  }
  if (m.notify !== undefined) {
    const n = m.notify;
    if (!Array.isArray(n) || n.length !== 2 || !NOTIFY_SIGNALS.includes(n[0]) || !Number.isInteger(n[1]) || n[1] <= 0 || n[1] >= NOTIFY_TOKEN_BELOW) {
      bad('bad-notify', '"notify" must be [SIGURG or SIGWINCH, a positive integer]');
    }
  }
  if (m.session !== undefined) {
    const s = m.session;
    if (!Array.isArray(s) || s.length !== 2 || !s.every((n) => Number.isSafeInteger(n) && n > 0)) {
      bad('bad-session', '"session" must be [sid, pgid], two positive integers');
    }
  }
  if (m.sched !== undefined) {
    const s = m.sched as Record<string, unknown>;
    const isInt = (v: unknown) => Number.isSafeInteger(v);
    if (typeof s !== 'object' || s === null || Array.isArray(s) || !isInt(s.nice) || !isInt(s.ioprio) || !isInt(s.oomScoreAdj) ||
      !Array.isArray(s.cpus) || s.cpus.length > 65536 || !s.cpus.every((c) => isInt(c) && (c as number) >= 0)) {
      bad('bad-sched', '"sched" must be {nice, cpus, ioprio, oomScoreAdj}');
    }
  }
  if (m.signals !== undefined) {
    const s = m.signals as Record<string, unknown>;
    if (typeof s !== 'object' || s === null || Array.isArray(s) || !areSignals(s.ignored) || !areSignals(s.blocked)) {
      bad('bad-signals', '"signals" must be {ignored, blocked}, each ascending catchable signal numbers');
    }
  }
  if (m.passFds !== undefined && !ascending(m.passFds, 3, FD_BELOW)) bad('bad-pass-fds', '"passFds" must be ascending fd numbers from 3');
  if (m.call !== undefined) {
    const given = m.args as string[];
    if (!Number.isInteger(m.call) || !Array.isArray(m.passFds) || !(m.passFds as unknown[]).includes(m.call) || given.length === 0 || !ATTRIBUTE_PATH.test(given[0])) {
      bad('bad-call', '"call" must be the number of one of "passFds", and "args" begin with the function\'s attribute path');
    }
  }
  const request = m as unknown as RunRequest;
  if (fdCountOf(request) !== fdCount) bad('fd-count', `it announces ${fdCountOf(request)} fds but carries ${fdCount}`);
  return request;
}

/** Validates a decoded warm request (the run request's checks for the fields they share). */
export function checkWarmRequest(message: Message): WarmRequest {
  const m = message as Record<string, unknown>;
  const named = [m.file, m.module, m.code].filter((t) => typeof t === 'string').length + (m.packages !== undefined ? 1 : 0);
  if (named !== 1) bad('file-or-module', 'exactly one of "file", "module", "code" and "packages" must be given');
  if (m.packages !== undefined && (!Array.isArray(m.packages) || m.packages.length === 0 || m.packages.length > 1000 ||
    !m.packages.every((p) => typeof p === 'string' && MODULE_NAME.test(p)))) {
    bad('bad-module', '"packages" must be a list of module names');
  }
  if (m.progress !== undefined && typeof m.progress !== 'boolean') bad('file-or-module', '"progress" must be a boolean');
  if (m.after !== undefined && !(Number.isSafeInteger(m.after) && (m.after as number) > 0)) bad('file-or-module', '"after" must be a pid');
  if (m.why !== undefined && (typeof m.why !== 'string' || m.why.length > 200)) bad('file-or-module', '"why" must be a short string');
  // The fields a run has too, checked as a run's (no stdio or fds: nothing runs).
  checkRunRequest({ ...m, type: 'run', args: [], argv0: '', stdio: [false, false, false], cwdFd: false, passFds: undefined, call: undefined,
    ...(m.packages !== undefined ? { code: '' } : {}) } as Message, 0);
  return m as unknown as WarmRequest;
}

const STREAM_NAMES = ['stdin', 'stdout', 'stderr'];

/**
 * The fds must be what they claim: stdio may be anything python accepts (a tty, pipe, file,
 * socket, /dev/null) but not a directory, which python refuses at start-up; the cwd fd must be a
 * directory. `kindOf` is fstat's answer (see native.fdKind).
 */
export function checkRunFds(request: RunRequest, fds: number[], kindOf: (fd: number) => string | null): void {
  let next = 0;
  request.stdio.forEach((present, i) => {
    if (!present) return;
    const kind = kindOf(fds[next++]);
    if (kind === null) bad('stdio-not-open', `${STREAM_NAMES[i]} is not an open fd`);
    if (kind === 'dir') bad('stdio-is-directory', `${STREAM_NAMES[i]} is a directory`);
  });
  if (request.cwdFd && kindOf(fds[next]) !== 'dir') bad('cwd-fd-not-directory', 'the cwd fd is not a directory');
}
