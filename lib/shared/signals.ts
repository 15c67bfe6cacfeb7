// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): signal names and
// numbers as this kernel has them, and which signals a client passes on to its run.
import * as os from 'node:os';

const byName = os.constants.signals as Record<string, number>;
const byNumber = new Map<number, string>(Object.entries(byName).map(([name, n]) => [n, name]));

export function signalNumber(name: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(byName, name) ? byName[name] : undefined;
}

export function signalName(signo: number): string {
  return byNumber.get(signo) ?? `signal ${signo}`;
}

/** Signals a client passes on to its run (the terminal's and the user's). */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = [
  'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH',
  'SIGALRM', 'SIGVTALRM', 'SIGPWR', 'SIGURG', 'SIGIO',
];

/**
 * What a terminal sends its foreground job (keys, a resize, a hangup) and what a shell's `fg`
 * sends it: a run in its client's process group (RunRequest.session) gets these itself, so a
 * client that cannot tell who sent a signal (Node) does not pass them on a second time.
 */
export const TERMINAL_JOB_SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGQUIT', 'SIGTSTP', 'SIGWINCH', 'SIGHUP', 'SIGCONT']);

/**
 * Of those, what reaches `session`'s client alone: a hangup sends SIGHUP to the session's
 * leader only (its group gets one when the leader has gone), so a leader passes it on.
 */
export function terminalJobSignals(session: [number, number] | undefined): ReadonlySet<string> {
  if (session === undefined) return new Set();
  return session[0] === process.pid ? new Set([...TERMINAL_JOB_SIGNALS].filter((s) => s !== 'SIGHUP')) : TERMINAL_JOB_SIGNALS;
}

/** Linux's highest signal number (SIGRTMAX). */
export const MAX_SIGNAL = 64;

/** A signal number a client may pass on: any this kernel has but SIGKILL and SIGSTOP (not catchable). */
export function forwardableSignal(signo: number): number | undefined {
  return Number.isInteger(signo) && signo >= 1 && signo <= MAX_SIGNAL && signo !== byName.SIGKILL && signo !== byName.SIGSTOP ? signo : undefined;
}
