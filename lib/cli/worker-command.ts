// Runs in the CLI: `pynwheel worker --redis URL [--queue NAME] [--concurrency N] [--python PATH]
// [--key-file FILE] [--cache-dir DIR] [--threads-per-job N]`: joins the cluster (lib/cluster/worker.ts) until SIGTERM or
// SIGINT, then finishes its running jobs and exits 0. Its log goes to stderr, a line per event.
import * as path from 'node:path';
import { ClusterWorker } from '../cluster/worker';
import { loadKey } from '../cluster/signing';
import { ensureRuntimeDir, runtimeDirFor } from '../shared/runtime-dir';
import { PynwheelError } from '../shared/errors';
import { positiveInteger, takeOptions } from './cluster-args';
import { UsageError } from './run-args';
import { say } from './say';

const USAGE = `usage: pynwheel worker --redis URL [--queue NAME] [--concurrency N] [--python PATH] [--key-file FILE] [--cache-dir DIR] [--threads-per-job N]
  URL: redis://[user:password@]host[:port][/db], rediss://... (TLS) or unix:///path/redis.sock
  the cluster's key: --key-file FILE, else $PYNWHEEL_CLUSTER_KEY (the same on every worker and submitter)
  --threads-per-job N: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, ... of each job, where the
    worker's environment sets none (default: cores / concurrency, at least 1; 0: set none)`;

export async function workerCommand(argv: string[]): Promise<number> {
  let values: Record<string, string>;
  let threadsPerJob: number | undefined;
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      say(1, USAGE);
      return 0;
    }
    ({ values } = takeOptions(argv, ['redis', 'queue', 'concurrency', 'python', 'key-file', 'cache-dir', 'fault-retries', 'threads-per-job'], false));
    if (!values.redis) throw new UsageError('--redis URL is needed');
    threadsPerJob = values['threads-per-job'] === undefined ? undefined : threadCount(values['threads-per-job']);
  } catch (err) {
    if (err instanceof UsageError) {
      say(2, `pynwheel: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  const log = (line: string): void => say(2, `${new Date().toISOString()} pynwheel worker: ${line}`);
  const key = loadKey(values['key-file']);
  // Test and tuning knob: how soon a dead worker's job is taken back (BullMQ's lock duration).
  const lockMs = process.env.PYNWHEEL_CLUSTER_LOCK_MS ? Number(process.env.PYNWHEEL_CLUSTER_LOCK_MS) : undefined;
  const worker = await ClusterWorker.start({
    redis: values.redis,
    queue: values.queue,
    concurrency: positiveInteger(values.concurrency, '--concurrency'),
    python: values.python,
    key,
    cacheDir: path.resolve(values['cache-dir'] ?? path.join(ensureRuntimeDir(runtimeDirFor()).dir, 'cluster-code')),
    threadsPerJob,
    faultRetries: values['fault-retries'] === undefined ? undefined : Number(values['fault-retries']),
    lockDurationMs: lockMs,
    stalledIntervalMs: lockMs === undefined ? undefined : Math.max(250, Math.floor(lockMs / 2)),
    log,
  }).catch((err: unknown) => {
    if (err instanceof PynwheelError) throw err;
    throw new PynwheelError('ECLUSTER', `the worker could not start: ${(err as Error).message}`);
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal}: finishing the running jobs, then leaving`);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await worker.close();
  log('stopped');
  return 0;
}

/** --threads-per-job: 0 (set none) or a positive integer. */
function threadCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new UsageError(`--threads-per-job must be 0 or a positive integer, not ${JSON.stringify(text)}`);
  return n;
}
