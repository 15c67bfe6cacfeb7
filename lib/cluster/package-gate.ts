// Runs in a worker's process (`pynwheel worker`): the packages a job names (JobPayload.packages,
// PEP 440 requirements) checked against this worker's python before anything of the job runs.
// The matcher is Python's (python/pynwheel/requirements.py, run by that python: it is the one
// implementation); answers are cached. A worker that lacks one hands the job back (delayed a
// little, so another worker takes it) and notes what it lacks in Redis; the worker that finds
// every live worker of the queue noted fails the job with EPACKAGES, naming each and what it lacks.
import { execFile } from 'node:child_process';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { resolveInterpreter } from '../client/interpreter';
import { PYTHON_PACKAGE_HOME } from '../shared/python-home';
import { PynwheelError } from '../shared/errors';
import { lacksKey, MAX_PACKAGE_CHARS, MAX_PACKAGES, PACKAGES_FAILURE_PREFIX, WORKER_STALE_MS, workersKey } from './job-format';

/** A worker's answer for a requirement is trusted this long (a pip install meanwhile is seen after it). */
const CACHE_MS = 60_000;
/** A job handed back waits this long before a worker may take it again. */
const HAND_BACK_MS = 100;
const CHECK_TIMEOUT_MS = 30_000;
const CHECK_CODE = 'import sys; sys.path.insert(0, sys.argv[1]); from pynwheel.requirements import main; main(sys.argv[2:])';

export type Lacks = Record<string, string>;

export class PackageGate {
  private readonly known = new Map<string, { why: string | null; at: number }>();

  constructor(private readonly redis: Redis, private readonly queue: string, private readonly worker: string, private readonly python: string | undefined) {}

  /**
   * Resolves when this worker has every package (the job runs here); otherwise throws BullMQ's
   * DelayedError (the job went back to the queue) or an UnrecoverableError naming what each
   * live worker lacks (no worker can run it).
   */
  async admit(job: Job, token: string | undefined, packages: readonly string[]): Promise<void> {
    const lacks = await this.lacking(packages);
    if (Object.keys(lacks).length === 0) return;
    const id = job.id!;
    const key = lacksKey(this.queue, id);
    const [, , [, records], [, noted]] = (await this.redis.multi()
      .hset(key, this.worker, JSON.stringify(lacks)).pexpire(key, 24 * 3600 * 1000)
      .hgetall(workersKey(this.queue)).hgetall(key).exec()) as [unknown, unknown, [unknown, Record<string, string>], [unknown, Record<string, string>]];
    const now = Date.now();
    const live = Object.entries(records ?? {}).filter(([, text]) => {
      try {
        return now - (JSON.parse(text) as { seen: number }).seen < WORKER_STALE_MS;
      } catch {
        return false;
      }
    }).map(([name]) => name);
    if (!live.includes(this.worker)) live.push(this.worker);
    if (live.every((name) => noted?.[name] !== undefined)) {
      await this.redis.del(key).catch(() => undefined);
      const each = Object.fromEntries(live.sort().map((name) => [name, JSON.parse(noted[name]) as Lacks]));
      throw new UnrecoverableError(`${PACKAGES_FAILURE_PREFIX}${JSON.stringify(each)}`);
    }
    await job.moveToDelayed(now + HAND_BACK_MS, token);
    throw new DelayedError();
  }

  /** What this worker's python lacks of them: {requirement: why}, from the cache where it can. */
  async lacking(packages: readonly string[]): Promise<Lacks> {
    const now = Date.now();
    const unknown = packages.filter((p) => { const k = this.known.get(p); return k === undefined || now - k.at > CACHE_MS; });
    if (unknown.length > 0) {
      const answer = await this.ask(unknown);
      for (const p of unknown) this.known.set(p, { why: answer[p] ?? null, at: now });
    }
    const out: Lacks = {};
    for (const p of packages) {
      const why = this.known.get(p)?.why;
      if (why) out[p] = why;
    }
    return out;
  }

  private ask(packages: string[]): Promise<Lacks> {
    const python = resolveInterpreter(this.python, process.env, process.cwd()).path;
    return new Promise((resolve) => {
      execFile(python, ['-c', CHECK_CODE, PYTHON_PACKAGE_HOME, JSON.stringify(packages)], { timeout: CHECK_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (err) {
          // The check itself failed: every requirement lacks, with why (the job is not run here).
          const why = `the package check failed on this worker: ${(stderr || err.message).trim().split('\n').pop()}`;
          return resolve(Object.fromEntries(packages.map((p) => [p, why])));
        }
        try {
          resolve(JSON.parse(stdout) as Lacks);
        } catch {
          resolve(Object.fromEntries(packages.map((p) => [p, 'the package check said nothing readable'])));
        }
      });
    });
  }
}

/** The EPACKAGES failure's details ({worker: {requirement: why}}) from a failed job's reason, or null. */
export function packagesFailure(reason: string): Record<string, Lacks> | null {
  if (!reason.startsWith(PACKAGES_FAILURE_PREFIX)) return null;
  try {
    return JSON.parse(reason.slice(PACKAGES_FAILURE_PREFIX.length)) as Record<string, Lacks>;
  } catch {
    return null;
  }
}

/** A job's `packages` as the submitter checks them: strings, not too many or too long (their syntax is the worker's python's to judge). */
export function checkPackages(packages: readonly unknown[]): string[] {
  if (!Array.isArray(packages) || packages.length > MAX_PACKAGES ||
    !packages.every((p) => typeof p === 'string' && p.trim().length > 0 && p.length <= MAX_PACKAGE_CHARS && !p.includes('\0'))) {
    throw new PynwheelError('ECLUSTER', `packages must be at most ${MAX_PACKAGES} requirement strings such as "numpy>=1.20", each at most ${MAX_PACKAGE_CHARS} characters`);
  }
  return [...packages] as string[];
}
