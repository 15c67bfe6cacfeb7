// Runs in a worker's process (`pynwheel worker`): a BullMQ Worker that runs each signed job
// through this machine's pynwheel daemon (lib/api run()/call(): a fork of a warm zygote),
// streams its output to Redis and returns a signed result.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { call } from '../api/call';
import { PythonError } from '../api/errors';
import { spawn } from '../api/spawn';
import { BundleCache } from './bundle-cache';
import { WorkerDirectory, workersRoot } from './worker-directory';
import { defaultThreadsPerJob, describeJobThreads, withJobThreads } from './job-threads';
import { PackageGate } from './package-gate';
import { familyTarget } from './family-shim';
import { runOneTask } from './tasks-worker';
import {
  cancelChannel, DEFAULT_FAULT_RETRIES, DEFAULT_MAX_RESULT, DEFAULT_QUEUE, doneKey, KEY_PREFIX, OUTPUT_TTL_S, outputKey, workersKey,
  type EncodedValue, type JobData, type JobPayload, type ResultData, type ResultPayload,
} from './job-format';
import { checkRedis, connection, redact } from './redis';
import { decodeJson, describeError, encodeJson } from './result-codec';
import { ensureRuntimeDir, runtimeDirFor } from '../shared/runtime-dir';
import { jobSigningBytes, resultSigningBytes, sign, verify } from './signing';

/** Results up to this size are also pushed to their submitter; larger ones come by BullMQ's event alone. */
const REPLY_MAX = 1 << 20;

export interface WorkerOptions {
  redis: string;
  queue?: string;
  concurrency?: number;
  python?: string;
  key: Buffer;
  /** Where bundles are unpacked; default <runtime>/cluster-code or ~/.cache/pynwheel/cluster. */
  cacheDir: string;
  /** The runtime directory whose workers/<pid>/ holds this worker's record and its jobs' temporary files (lib/cluster/worker-directory.ts); default the user's. */
  runtimeDir?: string;
  /** How often a job whose worker died goes to another (BullMQ's maxStalledCount); default 3. */
  faultRetries?: number;
  /** BullMQ's lock duration: a dead worker's job is taken back after about this long. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Threads a job's numeric libraries may start (lib/cluster/job-threads.ts); default cores / concurrency, 0: not set. */
  threadsPerJob?: number;
  log: (line: string) => void;
}

export class ClusterWorker {
  readonly name = `${os.hostname()}:${process.pid}`;
  private readonly queue: string;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly cache: BundleCache;
  private readonly own: WorkerDirectory;
  private readonly startedAt = Date.now();
  private readonly packages: PackageGate;
  /** BullMQ's connection: given to it, so ours to end after its close(). */
  private readonly bullConnection: Redis;
  private worker!: Worker;
  private heartbeat: NodeJS.Timeout | null = null;
  private running = 0;
  private served = 0;
  private readonly threadsPerJob: number;
  /** Every job's environment: the worker's, with the thread variables it lacks. */
  private readonly jobEnv: NodeJS.ProcessEnv;

  static async start(options: WorkerOptions): Promise<ClusterWorker> {
    await checkRedis(options.redis);
    const w = new ClusterWorker(options);
    await w.begin();
    return w;
  }

  private constructor(private readonly options: WorkerOptions) {
    this.queue = options.queue ?? DEFAULT_QUEUE;
    this.redis = connection(options.redis);
    this.subscriber = connection(options.redis);
    this.bullConnection = connection(options.redis);
    for (const c of [this.redis, this.subscriber]) c.on('error', (err: Error) => this.note(`redis: ${err.message}`));
    this.cache = new BundleCache(options.cacheDir, this.redis);
    this.own = WorkerDirectory.open(workersRoot(options.runtimeDir ?? ensureRuntimeDir(runtimeDirFor()).dir));
    this.threadsPerJob = options.threadsPerJob ?? defaultThreadsPerJob(options.concurrency ?? 1);
    this.jobEnv = withJobThreads(process.env, this.threadsPerJob);
    this.packages = new PackageGate(this.redis, this.queue, this.name, options.python);
  }

  private lastNote = '';
  /** Connection errors repeat every retry while Redis is down: each different one is logged once. */
  private note(line: string): void {
    if (line === this.lastNote) return;
    this.lastNote = line;
    this.options.log(line);
  }

  private async begin(): Promise<void> {
    await this.redis.connect();
    await this.subscriber.connect();
    await this.subscriber.subscribe(cancelChannel(this.queue));
    this.subscriber.on('message', (_channel: string, id: string) => {
      if (this.worker.cancelJob(id, 'cancelled by its submitter')) this.options.log(`job ${id}: cancelled by its submitter`);
    });
    const concurrency = this.options.concurrency ?? 1;
    this.bullConnection.on('error', () => undefined); // the Worker's 'error' event says it
    this.worker = new Worker(this.queue, (job, token, signal) => this.process(job, signal, token), {
      connection: this.bullConnection,
      concurrency,
      maxStalledCount: this.options.faultRetries ?? DEFAULT_FAULT_RETRIES,
      lockDuration: this.options.lockDurationMs ?? 30000,
      stalledInterval: this.options.stalledIntervalMs ?? 30000,
      name: this.name,
    });
    this.worker.on('error', (err) => this.note(`worker: ${err.message}`));
    this.worker.on('ready', () => { this.lastNote = ''; });
    this.worker.on('stalled', (id) => this.options.log(`job ${id}: its worker died; it goes to another worker`));
    await this.worker.waitUntilReady();
    this.beat();
    this.heartbeat = setInterval(() => this.beat(), 5000);
    this.heartbeat.unref();
    this.options.log(`worker ${this.name} on ${redact(this.options.redis)} queue ${this.queue}, concurrency ${concurrency}, ${describeJobThreads(process.env, this.threadsPerJob)}, python ${this.options.python ?? '(default)'}`);
  }

  /** Who works on the queue, for `pynwheel status` and `tasks`: a hash of name -> JSON, refreshed. */
  private beat(): void {
    const record = JSON.stringify({ name: this.name, pid: process.pid, host: os.hostname(), concurrency: this.options.concurrency ?? 1, threadsPerJob: this.threadsPerJob, running: this.running, served: this.served, seen: Date.now() });
    this.redis.hset(workersKey(this.queue), this.name, record).catch(() => undefined);
    this.recordHere();
  }

  /** This machine's `pynwheel status` reads it: at each beat and as each job starts and ends. */
  private recordHere(): void {
    this.own.record({
      name: this.name, pid: process.pid, redis: redact(this.options.redis), queue: this.queue, concurrency: this.options.concurrency ?? 1, threadsPerJob: this.threadsPerJob,
      python: this.options.python ?? null, running: this.running, served: this.served, startedAt: this.startedAt, updatedAt: Date.now(),
    });
  }

  /** Finishes the running jobs, then leaves (SIGTERM). */
  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.worker.close();
    await this.redis.hdel(workersKey(this.queue), this.name).catch(() => undefined);
    this.subscriber.disconnect();
    this.redis.disconnect();
    this.bullConnection.disconnect();
    this.own.close();
  }

  private async process(job: Job, signal: AbortSignal | undefined, token?: string): Promise<ResultData> {
    const data = job.data as JobData;
    const refusal = this.check(job, data);
    if (refusal !== null) {
      this.options.log(`job ${job.id}: refused: ${refusal}`);
      throw new UnrecoverableError(`refused by worker ${this.name}: ${refusal}`);
    }
    // A job that already ran is not run again: a replay of it, or BullMQ delivering it once more
    // because its completion was lost (Redis restarted between our result and BullMQ's move).
    // Either way its signed result, kept with the mark, is the answer.
    // (the code directory is looked up while the mark is read: neither runs anything)
    const marked = this.redis.get(doneKey(this.queue, data.id));
    const located = this.cache.directory(data.code);
    located.catch(() => undefined);
    const done = await marked;
    if (done !== null) {
      this.options.log(`job ${job.id}: it already ran: its result again, not run (a replay, or a delivery after a lost completion)`);
      return JSON.parse(done) as ResultData;
    }
    const payload = JSON.parse(data.payload) as JobPayload;
    // Nothing of a job runs on a worker that lacks a package it names: it goes to another.
    if (payload.packages?.length) await this.admitPackages(job, token, payload.packages);
    const dir = await located;
    const attempt = randomBytes(6).toString('hex');
    const what = payload.kind === 'run' ? `run ${[payload.file, ...payload.args].join(' ')}` : payload.kind === 'task' ? `task ${payload.task.id}` : `call ${payload.target}`;
    this.options.log(`job ${job.id}: ${what} (code ${data.code.slice(0, 12)}, attempt ${attempt}${job.attemptsMade || job.stalledCounter ? `, retry ${job.attemptsMade + job.stalledCounter}` : ''})`);
    // The submitter's progress events: started here, and the how-manieth time (a retry after a fault or an error).
    if (payload.progress) void job.updateProgress({ event: 'started', worker: this.name, attempt, retry: job.attemptsMade + job.stalledCounter }).catch(() => undefined);
    this.running++;
    this.recordHere();
    const output = new OutputStream(this.redis, outputKey(this.queue, data.id), attempt, payload.stream);
    let result: ResultPayload;
    const progressFile = payload.progress ? new ProgressFile(job, this.name, this.own.scratch('progress-'), this.jobEnv) : null;
    try {
      result = await this.execute(payload, dir, output, signal, progressFile?.env ?? this.jobEnv);
    } finally {
      await progressFile?.close();
      this.running--;
      this.served++;
      this.recordHere();
    }
    await output.end();
    const retry = result.kind === 'error' && result.name === 'PythonError' && job.attemptsMade + 1 < (job.opts.attempts ?? 1);
    this.options.log(`job ${job.id}: ${result.kind === 'run' ? `exit ${result.signal ?? result.exitCode}` : result.kind === 'task' ? result.outcome.result : result.kind === 'value' ? 'returned' : `raised ${result.name}: ${result.message.split('\n')[0]}`} in ${Math.round(result.durationMs)} ms${retry ? '; retried, as its submitter asked' : ''}`);
    if (retry) throw new Error(result.kind === 'error' ? result.message : 'retry');
    let text = JSON.stringify({ ...result, attempt });
    if (text.length > DEFAULT_MAX_RESULT) {
      text = JSON.stringify({ kind: 'error', name: 'PynwheelError', code: 'ERESULTSIZE', message: `pynwheel: the job's result is ${text.length} bytes, over the limit of ${DEFAULT_MAX_RESULT}`, exception: null, durationMs: result.durationMs, worker: this.name, stdout: '', stderr: '', attempt });
    }
    const answer: ResultData = { v: 1, id: data.id, payload: text, sig: sign(this.options.key, resultSigningBytes(data.id, text)) };
    const stored = JSON.stringify(answer);
    // The mark and the push to the submitter in one MULTI, on BullMQ's own connection and not
    // waited for: Redis runs a connection's commands in order, so the mark is set before the
    // completion BullMQ sends next on it, and the two take one round trip, not two (this worker's
    // next job waits for the completion).
    const multi = this.bullConnection.multi().set(doneKey(this.queue, data.id), stored, 'PX', Math.max(1000, data.expires - Date.now()));
    if (typeof data.reply === 'string' && stored.length <= REPLY_MAX && data.reply.startsWith(`${KEY_PREFIX}:${this.queue}:reply:`)) multi.publish(data.reply, stored);
    multi.exec().then((replies) => {
      const failed = replies?.find(([err]) => err !== null);
      // The result still goes by BullMQ's completion; only a replay of this id is no longer refused once BullMQ forgets the job.
      if (replies === null || failed) this.options.log(`job ${job.id}: its done mark was not stored: ${(failed?.[0] as Error | undefined)?.message ?? 'the transaction was discarded'}`);
    }, (err: Error) => this.options.log(`job ${job.id}: its done mark was not stored: ${err.message}`));
    return answer;
  }

  /** Jobs this worker has handed back for their packages: each is logged once, not at every return. */
  private readonly handedBack = new Set<string>();

  private async admitPackages(job: Job, token: string | undefined, packages: string[]): Promise<void> {
    try {
      await this.packages.admit(job, token, packages);
    } catch (err) {
      const failed = err instanceof UnrecoverableError;
      if (failed || !this.handedBack.has(job.id!)) {
        const lacks = await this.packages.lacking(packages);
        this.options.log(`job ${job.id}: this worker lacks ${Object.values(lacks).join('; ')}: ${failed ? 'no live worker has them: failed (EPACKAGES)' : 'handed back for another worker'}`);
      }
      if (!failed && this.handedBack.add(job.id!).size > 1000) this.handedBack.delete(this.handedBack.values().next().value!);
      throw err;
    }
  }

  /** Why the job must not run, or null. */
  private check(job: Job, data: JobData): string | null {
    if (typeof data !== 'object' || data === null || data.v !== 1 || typeof data.payload !== 'string' || typeof data.code !== 'string' || typeof data.id !== 'string' || typeof data.expires !== 'number') return 'not a pynwheel job';
    if (data.sig === undefined) return 'no signature';
    if (!verify(this.options.key, jobSigningBytes(data.id, data.expires, data.code, data.payload), data.sig)) return 'wrong signature (not signed with this cluster\'s key, or changed since)';
    if (data.id !== job.id) return `signed for job id ${data.id}, queued as ${job.id}`;
    if (data.expires < Date.now()) return `expired at ${new Date(data.expires).toISOString()}`;
    return null;
  }

  private async execute(payload: JobPayload, dir: string, output: OutputStream, signal: AbortSignal | undefined, env?: NodeJS.ProcessEnv): Promise<ResultPayload> {
    const started = performance.now();
    const cwd = path.join(dir, payload.cwd);
    const timeout = payload.timeout > 0 ? payload.timeout : undefined;
    const common = { worker: this.name };
    if (payload.kind === 'task') {
      const task = { ...payload.task, ...(payload.task.file !== undefined ? { file: path.join(dir, payload.task.file) } : {}) };
      try {
        const ran = await runOneTask(task, cwd, this.options.python, signal, this.own.scratch('task-'), env);
        return { kind: 'task', ...ran, durationMs: performance.now() - started, ...common, stdout: '', stderr: '' };
      } catch (err) {
        return { kind: 'error', ...describeError(err), durationMs: performance.now() - started, ...common, stdout: '', stderr: '' };
      }
    }
    if (payload.kind === 'run') {
      const child = spawn(path.join(dir, payload.file), payload.args, {
        cwd, env, pythonPath: this.options.python, pythonOptions: payload.pythonOptions, timeout, signal,
        stdio: [payload.stdin === null ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        input: payload.stdin === null ? undefined : Buffer.from(payload.stdin, 'base64'),
        reject: false, maxBuffer: DEFAULT_MAX_RESULT / 4,
      });
      child.stdout?.on('data', (chunk: Buffer) => output.write(1, chunk));
      child.stderr?.on('data', (chunk: Buffer) => output.write(2, chunk));
      try {
        const r = await child.result;
        return { kind: 'run', exitCode: r.exitCode, signal: r.signal, stdout: toBase64(r.stdout), stderr: toBase64(r.stderr), durationMs: performance.now() - started, ...common };
      } catch (err) {
        return { kind: 'error', ...describeError(err), durationMs: performance.now() - started, ...common, stdout: '', stderr: '' };
      }
    }
    const out = new PassThrough();
    const errOut = new PassThrough();
    const captured = { 1: [] as Buffer[], 2: [] as Buffer[] };
    out.on('data', (chunk: Buffer) => { captured[1].push(chunk); output.write(1, chunk); });
    errOut.on('data', (chunk: Buffer) => { captured[2].push(chunk); output.write(2, chunk); });
    const target = payload.module ? familyTarget(path.join(this.options.cacheDir, 'families'), payload.target, payload.imports) : `./${payload.target}`;
    const { args, kwargs } = decodeArguments(payload.value);
    try {
      const value = await call(target, args, { cwd, env, kwargs, pythonPath: this.options.python, timeout, signal, stdio: ['ignore', out, errOut] });
      return { kind: 'value', value: encodeJson(value, 'result'), stdout: Buffer.concat(captured[1]).toString('base64'), stderr: Buffer.concat(captured[2]).toString('base64'), durationMs: performance.now() - started, ...common };
    } catch (err) {
      if (!(err instanceof PythonError) && (err as Error).name === 'PynwheelError') throw err; // the daemon's trouble: a fault, not a result
      return { kind: 'error', ...describeError(err), durationMs: performance.now() - started, ...common, stdout: Buffer.concat(captured[1]).toString('base64'), stderr: Buffer.concat(captured[2]).toString('base64') };
    }
  }
}

function decodeArguments(value: EncodedValue): { args: unknown[]; kwargs: Record<string, unknown> } {
  const decoded = decodeJson(value) as { args?: unknown[]; kwargs?: Record<string, unknown> };
  return { args: decoded.args ?? [], kwargs: decoded.kwargs ?? {} };
}

function toBase64(data: unknown): string {
  if (data === null || data === undefined) return '';
  return Buffer.isBuffer(data) ? data.toString('base64') : Buffer.from(String(data)).toString('base64');
}

/**
 * A job's live output: entries of a Redis stream (s: 1 or 2, d: bytes, a: the attempt), then
 * one with e: the attempt, when it is over. Writes are pipelined and kept in order.
 */
class OutputStream {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(private readonly redis: Redis, private readonly key: string, private readonly attempt: string, private readonly live: boolean) {}

  write(stream: 1 | 2, chunk: Buffer): void {
    if (!this.live) return;
    this.chain = this.chain.then(() => this.redis.xadd(this.key, 'MAXLEN', '~', '100000', '*', 's', String(stream), 'a', this.attempt, 'd', chunk)).catch(() => undefined);
  }

  async end(): Promise<void> {
    if (!this.live) return;
    await this.chain;
    await this.redis.multi().xadd(this.key, '*', 'e', this.attempt).expire(this.key, OUTPUT_TTL_S).exec().catch(() => undefined);
  }
}

/**
 * A job's own progress (pynwheel.progress() in Python): lines of JSON appended to a file named in
 * $PYNWHEEL_PROGRESS_FILE (not a zygote key: the job stays warm), read as they come and sent to
 * the submitter as BullMQ progress.
 */
class ProgressFile {
  readonly env: NodeJS.ProcessEnv;
  private readonly file: string;
  private readonly fd: number;
  private rest = '';
  private sent: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  /** `dir`: the job's own scratch directory, removed at close(); `base`: the job's environment. */
  constructor(private readonly job: Job, private readonly worker: string, private readonly dir: string, base: NodeJS.ProcessEnv) {
    this.file = path.join(dir, 'progress');
    fs.writeFileSync(this.file, '', { mode: 0o600 });
    this.fd = fs.openSync(this.file, 'r');
    this.env = { ...base, PYNWHEEL_PROGRESS_FILE: this.file };
    this.timer = setInterval(() => this.read(), 100);
  }

  private read(): void {
    const buffer = Buffer.alloc(65536);
    let n: number;
    while ((n = fs.readSync(this.fd, buffer, 0, buffer.length, null)) > 0) this.rest += buffer.toString('utf8', 0, n);
    const lines = this.rest.split('\n');
    this.rest = lines.pop()!;
    for (const line of lines) {
      let data: unknown;
      try {
        data = JSON.parse(line);
      } catch {
        continue;
      }
      // (chained: in order, and all sent before the job's result)
      this.sent = this.sent.then(() => this.job.updateProgress({ event: 'progress', worker: this.worker, data: data as object })).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.read();
    fs.closeSync(this.fd);
    fs.rmSync(this.dir, { recursive: true, force: true });
    await this.sent;
  }
}
