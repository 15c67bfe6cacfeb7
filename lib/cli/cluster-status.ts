// Runs in the CLI: `pynwheel status --on URL [--queue NAME] [--json]`: the workers of a cluster's
// queue (each refreshes its record every 5 s: lib/cluster/worker.ts) and the queue's job counts.
import { Queue } from 'bullmq';
import { DEFAULT_QUEUE, workersKey } from '../cluster/job-format';
import { checkRedis, connection, redact } from '../cluster/redis';
import { takeOptions } from './cluster-args';
import { UsageError } from './run-args';
import { say } from './say';

/** A worker not heard from for this long is gone (killed, or its machine is). */
const STALE_MS = 15000;

export async function clusterStatusCommand(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  let values: Record<string, string>;
  try {
    ({ values } = takeOptions(argv.filter((a) => a !== '--json'), ['on', 'queue'], false));
  } catch (err) {
    if (err instanceof UsageError) {
      say(2, `pynwheel: ${err.message}\nusage: pynwheel status --on URL [--queue NAME] [--json]`);
      return 2;
    }
    throw err;
  }
  const queueName = values.queue ?? DEFAULT_QUEUE;
  await checkRedis(values.on);
  const redis = connection(values.on);
  redis.on('error', () => undefined);
  const queue = new Queue(queueName, { connection: redis });
  try {
    const records = Object.values(await redis.hgetall(workersKey(queueName))).map((r) => JSON.parse(r) as { name: string; concurrency: number; threadsPerJob?: number; running: number; served: number; seen: number });
    const now = Date.now();
    const live = records.filter((r) => now - r.seen < STALE_MS).sort((a, b) => (a.name < b.name ? -1 : 1));
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
    if (json) say(1, JSON.stringify({ queue: queueName, workers: live, jobs: counts }, null, 2));
    else {
      const lines = [`cluster ${redact(values.on)} queue ${queueName}: ${live.length} worker${live.length === 1 ? '' : 's'}`];
      for (const w of live) lines.push(`  worker ${w.name}: concurrency ${w.concurrency}, ${threadsOf(w.threadsPerJob)}running ${w.running}, served ${w.served}, seen ${((now - w.seen) / 1000).toFixed(1)} s ago`);
      lines.push(`  jobs: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
      say(1, lines.join('\n'));
    }
    return live.length ? 0 : 3;
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

/** A worker's --threads-per-job, as its heartbeat says (a worker of an older version says nothing). */
function threadsOf(threads: number | undefined): string {
  if (threads === undefined) return '';
  return threads === 0 ? 'threads per job not set, ' : `${threads} thread${threads === 1 ? '' : 's'} per job, `;
}
