// Runs in the daemon: the entry point of the detached daemon process (dist/daemon/main.js,
// started by the first client that finds none).
import { Daemon } from './daemon';
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
  if (!daemon.start()) {
    // Another daemon holds the lock: two clients raced to start one, and it won.
    process.exit(0);
  }
}

main();
