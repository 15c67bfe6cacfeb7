// Runs in the daemon: the entry point of the detached daemon process (dist/daemon/main.js,
// started by the first client that finds none).
import { Daemon } from './daemon';
import { checkWarmRequest } from './request-check';
import { FdChannel } from '../shared/channel';
import { MAX_CLIENT_FRAME } from '../shared/protocol-constants';
import type { RuntimePaths } from '../shared/runtime-dir';
import type { Message } from '../shared/wire';
import { boundLog, log } from './log';
import { native } from '../shared/native';
import { ensureRuntimeDir, runtimeDirFor } from '../shared/runtime-dir';

const DEFAULT_IDLE_SECONDS = 30 * 60;

const DEFAULT_ZYGOTE_IDLE_SECONDS = 10 * 60;
// Each interpreter has a base zygote and one per family of third-party packages its scripts
// import (numpy, torch, ...): room for the usual few of each.
const DEFAULT_MAX_ZYGOTES = 12;
// A terminal session's own zygotes (its clients' runs can open the terminal): the base one and
// a family or two.
const DEFAULT_MAX_SESSION_ZYGOTES = 3;

/** A positive number from the environment, or the default. */
function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * fds its starter left inheritable (spawn passes every one on: a client's `9>file`, a pipe of a
 * Node API caller's) are not the daemon's: held open they would keep a pipe's reader waiting,
 * and reach every zygote and run. (Its starter is a Node process, which marked its own
 * inherited fds below 17 close-on-exec at its start: only higher ones come this far. The
 * daemon's own fds are all close-on-exec.)
 */
function closeInheritedFds(): void {
  try {
    for (const fd of native.inheritableFds()) native.close(fd);
  } catch {
    /* no /proc: nothing to do */
  }
}

function main(): void {
  closeInheritedFds();
  process.title = 'pynwheel-daemon';
  process.chdir('/'); // hold no directory busy
  const paths = ensureRuntimeDir(runtimeDirFor());
  boundLog(paths.log);
  const daemon = new Daemon(paths, {
    idleMs: setting('PYNWHEEL_IDLE', DEFAULT_IDLE_SECONDS) * 1000,
    zygoteIdleMs: setting('PYNWHEEL_ZYGOTE_IDLE', DEFAULT_ZYGOTE_IDLE_SECONDS) * 1000,
    maxZygotes: Math.floor(setting('PYNWHEEL_MAX_ZYGOTES', DEFAULT_MAX_ZYGOTES)),
    maxSessionZygotes: Math.floor(setting('PYNWHEEL_SESSION_ZYGOTES', DEFAULT_MAX_SESSION_ZYGOTES)),
  });
  process.on('uncaughtException', (err) => {
    log(`internal error: ${err.stack ?? String(err)}`);
    daemon.shutdown('internal error');
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => daemon.shutdown(`received ${signal}`));
  }
  // A cold run's client started it with the warm-up its run needs (lib/client/cold.ts).
  const warm = warmArgument(process.argv.slice(2));
  if (!daemon.start()) {
    // Another daemon holds the lock: two clients raced to start one, and it won; it gets our warm-up.
    if (warm === null) process.exit(0);
    void handOver(paths, warm).finally(() => process.exit(0));
    return;
  }
  if (warm !== null) {
    try {
      daemon.warm(checkWarmRequest(warm), null);
    } catch (err) {
      log(`the warm-up it was started with is not one: ${(err as Error).message}`);
    }
  }
}

/** `--warm JSON`: a warm request (docs/PROTOCOL.md), or null. */
function warmArgument(args: string[]): Message | null {
  const at = args.indexOf('--warm');
  if (at < 0 || args[at + 1] === undefined) return null;
  try {
    const value = JSON.parse(args[at + 1]) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(value as object), type: 'warm' } as Message : null;
  } catch {
    return null;
  }
}

/** The warm-up to the daemon that won the lock, once it listens (it may not yet). */
async function handOver(paths: RuntimePaths, warm: Message): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    let fd: number;
    try {
      fd = native.connect(paths.socket);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
      continue;
    }
    const channel = new FdChannel(fd, MAX_CLIENT_FRAME);
    await new Promise<void>((resolve) => {
      channel.on('frame', () => channel.destroy()); // its first reply: it has the warm-up
      channel.on('close', () => resolve());
      channel.send(warm);
    });
    return;
  }
}

main();
