// Entry point of the detached daemon process (started by the first client that finds none).
import { Daemon } from './daemon';
import { boundLog, log } from './log';
import { ensureRuntimeDir, runtimeDirFor } from './runtime-dir';

const DEFAULT_IDLE_SECONDS = 30 * 60;

function idleMs(): number {
  const seconds = Number(process.env.PYNWHEEL_IDLE ?? DEFAULT_IDLE_SECONDS);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_IDLE_SECONDS) * 1000;
}

function main(): void {
  process.title = 'pynwheel-daemon';
  process.chdir('/'); // hold no directory busy
  const paths = ensureRuntimeDir(runtimeDirFor());
  boundLog(paths.log);
  const daemon = new Daemon(paths, { idleMs: idleMs() });
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
