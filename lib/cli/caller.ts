// Runs in the CLI: what the caller's process passes on to python that Node's own start hides
// from this process: the signals the caller left ignored and the ones it blocks (Node resets
// both) and its inheritable fds above 2 (Node marks those below 17 close-on-exec). The native
// runner reads them before it hands over and says them in PYNWHEEL_CALLER
// (native/runner/caller.h); without it (`node bin/pynwheel.js`) the signals are unknown and the
// fds are those Node left inheritable.
import * as os from 'node:os';
import { native } from '../shared/native';
import { MAX_SIGNAL, signalName } from '../shared/signals';

export const CALLER_VARIABLE = 'PYNWHEEL_CALLER';

export interface Caller {
  /** The caller's ignored and blocked signals (RunRequest.signals), if the runner said them. */
  signals?: { ignored: number[]; blocked: number[] };
  /** Its inheritable fds above 2 (RunRequest.passFds), ascending. */
  passFds: number[];
}

let taken: Caller | undefined;

/**
 * Once, first thing: the variable is removed before anything else reads the environment (the
 * run, a daemon started from here, python run directly never see it), and each signal the
 * caller ignores is kept from ending this process (a listener that does nothing; it is not
 * passed on: the run ignores it too).
 */
export function takeCaller(env: NodeJS.ProcessEnv = process.env): Caller {
  if (taken !== undefined) return taken;
  const value = env[CALLER_VARIABLE];
  delete env[CALLER_VARIABLE];
  const parts = typeof value === 'string' ? value.split(';') : [];
  const [ignored, blocked, fds] = parts.map(numbers);
  const signals = ignored && blocked ? { ignored: ignored.filter(isSignal), blocked: blocked.filter(isSignal) } : undefined;
  taken = { signals, passFds: fds?.filter((fd) => fd > 2) ?? listInheritable() };
  for (const signo of signals?.ignored ?? []) keepIgnoring(signo);
  return taken;
}

/** "1,2,15" -> [1, 2, 15]; "" -> []; undefined if not all numbers, or not ascending. */
function numbers(text: string): number[] | undefined {
  if (text === '') return [];
  const list = text.split(',').map(Number);
  return list.every((n, i) => Number.isInteger(n) && n >= 0 && (i === 0 || n > list[i - 1])) ? list : undefined;
}

function isSignal(signo: number): boolean {
  return signo >= 1 && signo <= MAX_SIGNAL && signo !== os.constants.signals.SIGKILL && signo !== os.constants.signals.SIGSTOP;
}

function listInheritable(): number[] {
  try {
    return native.inheritableFds();
  } catch {
    return []; // no /proc: the run gets none, as before
  }
}

function keepIgnoring(signo: number): void {
  const name = signalName(signo);
  if (!name.startsWith('SIG')) return; // a realtime signal: Node has no name to listen by
  try {
    process.on(name as NodeJS.Signals, ignore);
  } catch {
    /* one Node does not let a listener have */
  }
}

function ignore(): void {}
