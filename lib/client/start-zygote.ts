// Runs in the Node CLI: starting a zygote of its terminal session when the daemon asks
// (`start-zygote`, lib/daemon/daemon.ts): only a process born in the session can open the
// session's terminal, so a client there starts it, detached (native/posix/spawn.h).
import { closeQuietly } from '../shared/fds';
import { native } from '../shared/native';
import type { DebugWriter } from './debug';

/** Starts the zygote of a `start-zygote` reply with the 3 fds that came with it, and closes ours. */
export function startSessionZygote(reply: { argv: string; env: string }, fds: number[], debug: DebugWriter | undefined): void {
  try {
    if (fds.length !== 3 || typeof reply.argv !== 'string' || typeof reply.env !== 'string') {
      debug?.(`a start-zygote reply with ${fds.length} fds: not started`);
      return;
    }
    const argv = reply.argv.split('\0');
    // It starts once this process has ended: python runs this run meanwhile, undisturbed.
    native.spawnDetached(argv, reply.env === '' ? [] : reply.env.split('\0'), fds as [number, number, number], process.pid);
    debug?.(`started a zygote of this terminal session (${argv[0]})`);
  } catch (err) {
    // The daemon gives up on it after a while; this run goes on without it.
    debug?.(`could not start the session's zygote: ${(err as Error).message}`);
  } finally {
    fds.forEach(closeQuietly);
  }
}
