// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): the PYNWHEEL_DEBUG=1
// switch, which makes each process say which path a run took and why. Its lines start with
// `pynwheel debug: <process>: `; without the variable nothing is said.
import { DEBUG_PREFIX, DEBUG_VARIABLE } from './protocol-constants';

/** Whether a run's caller asked for debug lines (in its own environment, or the run's). */
export function debugWanted(env: NodeJS.ProcessEnv | Record<string, string>): boolean {
  return env[DEBUG_VARIABLE] === '1';
}

export function debugLine(who: 'client' | 'daemon', text: string): string {
  return `${DEBUG_PREFIX}${who}: ${text}\n`;
}
