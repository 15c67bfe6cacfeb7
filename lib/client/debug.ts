// Runs in the Node client (the CLI, or a Node API caller's process): its PYNWHEEL_DEBUG=1 lines,
// on fd 2 with fs.writeSync (never process.stderr: libuv would make a shared pipe non-blocking).
import * as fs from 'node:fs';
import { debugLine, debugWanted } from '../shared/debug';

export type DebugWriter = (text: string) => void;

/** A writer of the client's debug lines when the caller's `env` asks for them, else undefined. */
export function clientDebug(env: NodeJS.ProcessEnv): DebugWriter | undefined {
  if (!debugWanted(env)) return undefined;
  return (text) => {
    try {
      fs.writeSync(2, debugLine('client', text));
    } catch {
      /* no stderr: nowhere to say it */
    }
  };
}
