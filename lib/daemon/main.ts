// Runs in the daemon: the entry point of the detached daemon process (dist/daemon/main.js,
// started by the first client that finds none).
import { Daemon } from './daemon';
import { boundLog, log } from './log';
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

function main(): void {
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
