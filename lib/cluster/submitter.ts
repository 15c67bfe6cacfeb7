// Runs in a submitter's process (a Node program, or `pynwheel run --on`): cluster(url) queues
// signed jobs on BullMQ and resolves what the local run() and call() resolve, from the signed
// result a worker returns.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { parseTarget } from '../api/call';
import { AbortError, PackagesError, PythonError, TimeoutError, type RunFailure, type RunResult } from '../api/errors';
import { PynwheelError } from '../shared/errors';
import { packDirectory, DEFAULT_MAX_BUNDLE, type Packed } from './bundle-pack';
import { checkPackages, packagesFailure } from './package-gate';
import {
  bundleKey, cancelChannel, DEFAULT_EXPIRY_MS, DEFAULT_MAX_PAYLOAD, DEFAULT_QUEUE, KEEP_FINISHED, outputKey, replyChannel,
  type JobData, type JobPayload, type ResultData, type ResultPayload,
} from './job-format';
import { checkRedis, connection } from './redis';
import { clusterRunTasks, type ClusterTasksOptions } from './tasks-submit';
import type { TaskSpec, TasksReport } from '../api/tasks';
import { decodeJson, encodeJson, rebuildError, type ErrorDescription } from './result-codec';
import { checkKey, jobSigningBytes, loadKey, resultSigningBytes, sign, verify } from './signing';

/** How long a bundle stays in Redis after its last use (seconds). */
const BUNDLE_TTL_S = 7 * 24 * 3600;
/** Pending jobs whose completion event has not come are looked up this often (a missed event: a reconnect). */
const SWEEP_MS = 1000;

export interface ClusterOptions {
  queue?: string;
  /** The cluster's key; default from keyFile, else $PYNWHEEL_CLUSTER_KEY. */
  key?: string | Buffer;
  keyFile?: string;
  /** The code directory for every job; default: each script's (or target file's) directory. */
  codeDir?: string;
  /** Largest code bundle in bytes; default 100 MiB. */
  maxBundleBytes?: number;
  maxPayloadBytes?: number;
}

export interface ClusterJobOptions {
  /** The code directory of this job (the default: the cluster's codeDir, else the file's directory). */
  codeDir?: string;
  /** The job's cwd: a directory inside the code directory; default its root. */
  cwd?: string;
  pythonOptions?: readonly string[];
  /** run(): written to the script's stdin. */
  input?: string | Uint8Array;
  encoding?: BufferEncoding | 'buffer';
  /** run(): default true, a non-zero exit rejects with a PythonError. */
  reject?: boolean;
  /** call(): keyword arguments. */
  kwargs?: Record<string, unknown>;
  /** Milliseconds from submission; the job is cancelled and the call rejects with a TimeoutError. */
  timeout?: number;
  signal?: AbortSignal;
  /** Runs of a raised exception (or non-zero exit): default 1, no retry. */
  attempts?: number;
  backoff?: number | { type: 'fixed' | 'exponential'; delay: number };
  /** PEP 440 requirements (`numpy>=1.20`) the worker's python must have: a worker without them leaves the job to another; none has them: PackagesError (EPACKAGES). */
  packages?: readonly string[];
  /** call() of a module target: the packages its code imports at its top (module names), so the worker calls it in the zygote that has them. */
  imports?: readonly string[];
  /** Told the job id once it is queued. */
  onJob?: (id: string) => void;
  /** The job's output as it is written, from every attempt (at least once: a retried job's output comes again). */
  onOutput?: (stream: 1 | 2, chunk: Buffer) => void;
  /** The job's progress: queued, started on a worker (its name), retried (after a fault: its worker died; or an error, with attempts), finished. */
  onProgress?: (event: ClusterProgressEvent) => void;
}

export type ClusterProgressEvent =
  | { event: 'queued'; jobId: string }
  | { event: 'started'; jobId: string; worker: string; retry: number }
  | { event: 'retried'; jobId: string; reason: 'fault' | 'error' }
  | { event: 'finished'; jobId: string; worker: string }
  /** The job's own: pynwheel.progress(data) in Python. */
  | { event: 'progress'; jobId: string; worker: string; data: unknown };

export interface ClusterRunResult extends RunResult { jobId: string; worker: string }

interface Pending {
  resolve: (r: ResultData) => void;
  reject: (e: Error) => void;
  since: number;
}

export class Cluster {
  readonly queueName: string;
  private readonly key: Buffer;
  private readonly redis: Redis;
  private queue!: Queue;
  private events: QueueEvents | null = null;
  private readonly pending = new Map<string, Pending>();
  /** Jobs whose submitter wants progress: BullMQ's progress and stalled events for them. */
  private readonly watchers = new Map<string, ProgressWatcher>();
  private readonly storedBundles = new Map<string, number>();
  /** The last pack of each code directory: the next job re-reads only the files whose stat changed. */
  private readonly packs = new Map<string, Packed>();
  private readonly ready: Promise<void>;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly connections: Redis[] = [];
  private closed = false;
  /** Cancellations under way: close() lets them reach Redis before it disconnects. */
  private readonly cancelling = new Set<Promise<void>>();
  /** Where workers push this handle's results (JobData.reply): a channel of its own. */
  private readonly reply: string;

  constructor(private readonly url: string, private readonly options: ClusterOptions = {}) {
    this.queueName = options.queue ?? DEFAULT_QUEUE;
    this.key = options.key !== undefined ? checkKey(Buffer.from(options.key), 'options.key') : loadKey(options.keyFile);
    this.redis = connection(url);
    this.redis.on('error', () => undefined); // reconnects; a command waits for it
    this.reply = replyChannel(this.queueName, randomUUID());
    this.ready = this.begin();
    this.ready.catch(() => undefined);
  }

  private own(c: Redis): Redis {
    c.on('error', () => undefined); // it reconnects; what fails is reported by the command that waited
    this.connections.push(c);
    return c;
  }

  private async begin(): Promise<void> {
    // Nothing is queued before Redis is known to be fit.
    await checkRedis(this.url);
    if (this.closed) throw new PynwheelError('ECLUSTER', 'the cluster handle is closed');
    // Made only for a Redis known to be fit (BullMQ would reconnect to a wrong one forever).
    // BullMQ leaves connections it was given open on close(): they are ours to end.
    this.queue = new Queue(this.queueName, { connection: this.own(connection(this.url)) });
    this.queue.on('error', () => undefined);
    this.events = new QueueEvents(this.queueName, { connection: this.own(connection(this.url)), autorun: false });
    this.events.on('error', () => undefined);
    this.events.on('completed', ({ jobId, returnvalue }) => this.settle(jobId, () => parseReturn(returnvalue)));
    this.events.on('failed', ({ jobId, failedReason }) => this.fail(jobId, failedReason));
    this.events.on('progress', ({ jobId, data }) => this.watchers.get(jobId)?.on('progress', data));
    this.events.on('stalled', ({ jobId }) => this.watchers.get(jobId)?.on('stalled', null));
    await this.redis.connect();
    // Results pushed by the workers: a job's answer one hop after the worker has it. A message
    // lost (a reconnect) leaves the job to BullMQ's event or the sweeper, as before.
    const replies = this.own(connection(this.url));
    await replies.connect();
    await replies.subscribe(this.reply);
    replies.on('message', (_channel: string, text: string) => {
      let envelope: ResultData;
      try {
        envelope = JSON.parse(text) as ResultData;
      } catch {
        return;
      }
      if (envelope && typeof envelope.id === 'string') this.settle(envelope.id, () => envelope);
    });
    void this.events.run().catch(() => undefined);
    await this.events.waitUntilReady();
    await this.queue.waitUntilReady();
  }

  /** Resolves once Redis is reached and checked (every job waits for it too); rejects with why not. */
  connect(): Promise<void> {
    return this.ready;
  }

  /** Runs a script of the code directory on a worker: resolves as run() does, plus the job id and worker. */
  async run(file: string, args: readonly string[] = [], options: ClusterJobOptions = {}): Promise<ClusterRunResult> {
    const abs = path.resolve(file);
    if (!fs.existsSync(abs)) throw new PynwheelError('ECLUSTER', `no such script: ${abs}`);
    const codeDir = path.resolve(options.codeDir ?? this.options.codeDir ?? path.dirname(abs));
    const rel = relativeInside(codeDir, abs, 'the script');
    const input = options.input === undefined ? null : Buffer.from(options.input).toString('base64');
    const payload: JobPayload = {
      kind: 'run', file: rel, args: [...args], cwd: this.jobCwd(codeDir, options), pythonOptions: [...(options.pythonOptions ?? [])],
      stdin: input, stream: options.onOutput !== undefined, timeout: options.timeout ?? 0,
    };
    const command = ['python3', ...payload.pythonOptions, rel, ...payload.args];
    const { id, result, started } = await this.submit(codeDir, payload, options);
    const r = result as Extract<ResultPayload, { kind: 'run' }> | Extract<ResultPayload, { kind: 'error' }>;
    const decode = (b64: string): Buffer | string => {
      const bytes = Buffer.from(b64, 'base64');
      return options.encoding && options.encoding !== 'buffer' ? bytes.toString(options.encoding) : bytes;
    };
    const failure: RunFailure = {
      exitCode: r.kind === 'run' ? r.exitCode : null, signal: r.kind === 'run' ? r.signal : null,
      stdout: decode(r.stdout), stderr: decode(r.stderr), durationMs: performance.now() - started, pid: undefined, command,
    };
    if (r.kind === 'error') throw withJob(rebuildError(r as unknown as ErrorDescription, failure, rel), id, r.worker);
    const out: ClusterRunResult = {
      exitCode: r.exitCode, signal: r.signal, stdout: failure.stdout as Buffer, stderr: failure.stderr as Buffer, durationMs: failure.durationMs, jobId: id, worker: r.worker,
    };
    if (options.reject !== false && (r.exitCode !== 0 || r.signal !== null)) throw withJob(new PythonError(failure), id, r.worker);
    return out;
  }

  /** Calls a function on a worker ('./file.py:f', or 'module:f' of the code directory): resolves its value. */
  async call(target: string, args: readonly unknown[] = [], options: ClusterJobOptions = {}): Promise<unknown> {
    const parsed = parseTarget(target);
    let codeDir: string;
    let where: string;
    if (parsed.file !== undefined) {
      const abs = path.resolve(parsed.file);
      if (!fs.existsSync(abs)) throw new PynwheelError('ECLUSTER', `no such file: ${abs}`);
      codeDir = path.resolve(options.codeDir ?? this.options.codeDir ?? path.dirname(abs));
      where = `${relativeInside(codeDir, abs, 'the target\'s file')}:${parsed.attribute}`;
    } else {
      codeDir = path.resolve(options.codeDir ?? this.options.codeDir ?? process.cwd());
      where = target;
    }
    const value = encodeJson({ args: [...args], kwargs: options.kwargs ?? {} }, 'args');
    const payload: JobPayload = {
      kind: 'call', target: where, module: parsed.module !== undefined, value, cwd: this.jobCwd(codeDir, options),
      stream: options.onOutput !== undefined, timeout: options.timeout ?? 0,
      ...(options.imports?.length && parsed.module !== undefined ? { imports: [...options.imports] } : {}),
    };
    const { id, result, started } = await this.submit(codeDir, payload, options);
    if (result.kind === 'value') return decodeJson(result.value);
    const r = result as Extract<ResultPayload, { kind: 'error' }>;
    const failure: RunFailure = {
      exitCode: null, signal: null, stdout: Buffer.from(r.stdout ?? '', 'base64'), stderr: Buffer.from(r.stderr ?? '', 'base64'),
      durationMs: performance.now() - started, pid: undefined, command: ['python3', '-c', `call ${where}`],
    };
    throw withJob(rebuildError(r as unknown as ErrorDescription, failure, target), id, r.worker);
  }

  /**
   * Runs pyATS-style tasks on the workers, each task a job of its own: resolves what the local
   * runTasks() resolves, with the tasks' logs laid out in the local log directory.
   */
  runTasks(tasks: readonly TaskSpec[], options: ClusterTasksOptions = {}): Promise<TasksReport> {
    return clusterRunTasks(async (task, codeDir, cwd, signal, onEvent) => {
      const spec = { ...task, ...(task.file !== undefined ? { file: relativeInside(codeDir, task.file, `task ${task.id}'s file`) } : {}) };
      const payload: JobPayload = { kind: 'task', task: spec, cwd: relativeInside(codeDir, cwd, 'cwd') || '.', stream: false, timeout: 0 };
      const { id, result } = await this.submit(codeDir, payload, {
        signal, packages: options.packages, onProgress: (e) => { if (e.event !== 'finished') onEvent(e as Parameters<typeof onEvent>[0]); },
      });
      if (result.kind === 'task') return { outcome: result.outcome, files: result.files, jobId: id, worker: result.worker };
      const r = result as Extract<ResultPayload, { kind: 'error' }>;
      throw withJob(new PynwheelError('ECLUSTER', `task ${task.id} (job ${id}) on worker ${r.worker}: ${r.name}: ${r.message}`), id, r.worker);
    }, this.options.codeDir, tasks, options);
  }

  /** Stops listening; jobs already queued stay queued. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const [id, p] of this.pending) p.reject(new PynwheelError('ECLUSTER', `the cluster handle was closed before job ${id} finished`));
    this.pending.clear();
    await this.ready.catch(() => undefined);
    await Promise.allSettled([...this.cancelling]);
    if (this.events) await Promise.allSettled([this.events.close(), this.queue.close()]);
    this.redis.disconnect();
    for (const c of this.connections) c.disconnect();
  }

  private jobCwd(codeDir: string, options: ClusterJobOptions): string {
    return options.cwd === undefined ? '.' : relativeInside(codeDir, path.resolve(options.cwd), 'cwd') || '.';
  }

  private async submit(codeDir: string, payload: JobPayload, options: ClusterJobOptions): Promise<{ id: string; result: ResultPayload; started: number }> {
    if (this.closed) throw new PynwheelError('ECLUSTER', 'the cluster handle is closed');
    const started = performance.now();
    if (options.signal?.aborted) throw new AbortError(emptyFailure(started), options.signal.reason);
    await this.ready;
    const bundle = packDirectory(codeDir, { maxBytes: this.options.maxBundleBytes ?? DEFAULT_MAX_BUNDLE, previous: this.packs.get(codeDir) });
    this.packs.set(codeDir, bundle);
    await this.storeBundle(bundle.hash, bundle.bytes);
    const id = randomUUID();
    if (options.onProgress) payload.progress = true;
    if (options.packages !== undefined && options.packages.length > 0) payload.packages = checkPackages(options.packages);
    const text = JSON.stringify(payload);
    const max = this.options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD;
    if (text.length > max) throw new PynwheelError('ECLUSTER', `the job's payload is ${text.length} bytes, over the limit of ${max} (maxPayloadBytes)`);
    const expires = Date.now() + (payload.timeout > 0 ? payload.timeout : DEFAULT_EXPIRY_MS);
    const data: JobData = { v: 1, id, expires, code: bundle.hash, payload: text, sig: sign(this.key, jobSigningBytes(id, expires, bundle.hash, text)), reply: this.reply };
    const attempts = options.attempts ?? 1;
    if (!(Number.isInteger(attempts) && attempts >= 1)) throw new RangeError('pynwheel: attempts must be an integer >= 1');
    const backoff = options.backoff === undefined ? undefined : typeof options.backoff === 'number' ? { type: 'fixed' as const, delay: options.backoff } : options.backoff;
    const done = new Promise<ResultData>((resolve, reject) => this.pending.set(id, { resolve, reject, since: Date.now() }));
    done.catch(() => undefined);
    this.startSweeper();
    let output: Following | null = null;
    if (options.onOutput) output = this.follow(id, options.onOutput);
    const progress = options.onProgress;
    if (progress) this.watchers.set(id, watchProgress(id, progress));
    const forget = (): void => {
      this.pending.delete(id);
      this.watchers.delete(id);
      void output?.stop();
    };
    // An abort while the bundle was stored: nothing is queued.
    if (options.signal?.aborted) {
      forget();
      throw new AbortError(emptyFailure(started, payload), options.signal.reason);
    }
    try {
      await this.queue.add(payload.kind, data, { jobId: id, attempts, backoff, removeOnComplete: KEEP_FINISHED, removeOnFail: KEEP_FINISHED });
    } catch (err) {
      forget();
      throw err;
    }
    options.onJob?.(id);
    this.watchers.get(id)?.queued(); // ('queued', then what came while add's reply was on its way)
    const cleanups: Array<() => void> = [];
    const stop = (err: Error): void => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      p.reject(err);
      const cancelled = this.cancel(id);
      this.cancelling.add(cancelled);
      void cancelled.finally(() => this.cancelling.delete(cancelled));
    };
    if (payload.timeout > 0) {
      const timer = setTimeout(() => stop(new TimeoutError(emptyFailure(started, payload), payload.timeout)), payload.timeout);
      cleanups.push(() => clearTimeout(timer));
    }
    if (options.signal) {
      const onAbort = (): void => stop(new AbortError(emptyFailure(started, payload), options.signal!.reason));
      // (aborted during queue.add or by onJob/onProgress above: no 'abort' event will come)
      if (options.signal.aborted) onAbort();
      else {
        options.signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => options.signal!.removeEventListener('abort', onAbort));
      }
    }
    let envelope: ResultData;
    try {
      envelope = await done;
    } catch (err) {
      if (output) await output.stop();
      throw withJob(err as Error, id, undefined);
    } finally {
      cleanups.forEach((c) => c());
      this.watchers.delete(id);
    }
    const result = this.open(envelope, id);
    progress?.({ event: 'finished', jobId: id, worker: result.worker });
    if (output) await drainOutput(output, result);
    return { id, result, started };
  }

  /** The result's payload, if its signature is right. */
  private open(envelope: ResultData, id: string): ResultPayload & { attempt?: string } {
    if (!envelope || envelope.id !== id || typeof envelope.payload !== 'string' || !verify(this.key, resultSigningBytes(id, envelope.payload), envelope.sig)) {
      throw new PynwheelError('ECLUSTER', `job ${id}: its result is not signed with this cluster's key: it is not read`);
    }
    return JSON.parse(envelope.payload) as ResultPayload & { attempt?: string };
  }

  /** Reads the job's output stream as it grows, until stopped. */
  private follow(id: string, onOutput: (stream: 1 | 2, chunk: Buffer) => void): Following {
    const reader = this.redis.duplicate();
    reader.on('error', () => undefined);
    let stopped = false;
    const ended = new Set<string>();
    const key = outputKey(this.queueName, id);
    const loop = (async () => {
      let last = '0';
      while (!stopped) {
        let reply: Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
        try {
          reply = await reader.xreadBuffer('BLOCK', 200, 'STREAMS', key, last) as typeof reply;
        } catch {
          if (stopped) break;
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        for (const [, entries] of reply ?? []) {
          for (const [entryId, fields] of entries) {
            last = entryId.toString();
            const f: Record<string, Buffer> = {};
            for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i].toString()] = fields[i + 1];
            if (f.e) ended.add(f.e.toString());
            else if (f.s && f.d) onOutput(f.s.toString() === '2' ? 2 : 1, f.d);
          }
        }
      }
    })();
    return {
      ended,
      stop: async () => {
        stopped = true;
        await loop.catch(() => undefined);
        reader.disconnect();
      },
    };
  }

  private async storeBundle(hash: string, bytes: Buffer): Promise<void> {
    const refreshed = this.storedBundles.get(hash);
    if (refreshed !== undefined && Date.now() - refreshed < 3600_000) return;
    // Stored once per hash: a bundle already there is only kept longer.
    const set = await this.redis.set(bundleKey(hash), bytes, 'EX', BUNDLE_TTL_S, 'NX');
    if (set === null) await this.redis.expire(bundleKey(hash), BUNDLE_TTL_S);
    this.storedBundles.set(hash, Date.now());
  }

  private async cancel(id: string): Promise<void> {
    try {
      const job = await Job.fromId(this.queue, id);
      if (job && (await job.getState()) !== 'active') await job.remove().catch(() => undefined);
      await this.redis.publish(cancelChannel(this.queueName), id);
    } catch {
      /* Redis gone: the job's expiry stops it */
    }
  }

  private settle(id: string, read: () => ResultData): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    try {
      p.resolve(read());
    } catch (err) {
      p.reject(err as Error);
    }
  }

  private fail(id: string, reason: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const lacking = packagesFailure(reason);
    p.reject(lacking !== null ? new PackagesError(id, lacking) : new PynwheelError('ECLUSTER', `job ${id} failed on the cluster: ${reason}`));
  }

  /** Completion events missed across a reconnect: the job's own state says. */
  private startSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  private sweeping = false;
  private async sweep(): Promise<void> {
    if (this.sweeping || this.pending.size === 0) return;
    this.sweeping = true;
    try {
      const now = Date.now();
      const old = [...this.pending].filter(([, p]) => now - p.since > SWEEP_MS).slice(0, 500).map(([id]) => id);
      // One round trip for them all: the fields of BullMQ's job hashes (bull:<queue>:<id>).
      const pipeline = this.redis.pipeline();
      for (const id of old) pipeline.hmget(`bull:${this.queueName}:${id}`, 'finishedOn', 'returnvalue', 'failedReason', 'atm', 'opts');
      const replies = (await pipeline.exec()) ?? [];
      old.forEach((id, i) => {
        const [err, fields] = replies[i] ?? [null, null];
        if (err || !Array.isArray(fields)) return;
        const [finishedOn, returnvalue, failedReason, attemptsMade, opts] = fields as Array<string | null>;
        if (!finishedOn) return; // not finished, or not visible: the events still tell
        if (returnvalue && returnvalue !== 'null') this.settle(id, () => parseReturn(returnvalue));
        else if (failedReason && Number(attemptsMade ?? 0) >= (opts ? (JSON.parse(opts) as { attempts?: number }).attempts ?? 1 : 1)) this.fail(id, failedReason);
      });
    } catch {
      /* Redis down: next time */
    } finally {
      this.sweeping = false;
    }
  }
}

export function cluster(url: string, options?: ClusterOptions): Cluster {
  return new Cluster(url, options);
}

/** BullMQ's events of one job as progress: a start after a stall is a retry after a fault, any other later start one after an error. */
interface ProgressWatcher {
  on: (kind: 'progress' | 'stalled', data: unknown) => void;
  /** The job is queued (queue.add resolved): says so, then passes on what was held. */
  queued: () => void;
}

function watchProgress(jobId: string, onProgress: (event: ClusterProgressEvent) => void): ProgressWatcher {
  let retried = false;
  let starts = 0;
  // A worker can take the job and report its start before add's reply is read here: until
  // 'queued' is out, events wait, so the caller always sees 'queued' first.
  let held: Array<[kind: 'progress' | 'stalled', data: unknown]> | null = [];
  const queued = (): void => {
    if (held === null) return;
    onProgress({ event: 'queued', jobId });
    const waiting = held;
    held = null;
    for (const [kind, data] of waiting) handle(kind, data);
  };
  const on = (kind: 'progress' | 'stalled', data: unknown): void => {
    if (held !== null) held.push([kind, data]);
    else handle(kind, data);
  };
  return { on, queued };
  function handle(kind: 'progress' | 'stalled', data: unknown): void {
    if (kind === 'stalled') {
      retried = true;
      onProgress({ event: 'retried', jobId, reason: 'fault' });
      return;
    }
    const d = data as { event?: string; worker?: string; retry?: number; data?: unknown } | null;
    if (d?.event === 'progress' && typeof d.worker === 'string') {
      onProgress({ event: 'progress', jobId, worker: d.worker, data: d.data });
      return;
    }
    if (d?.event !== 'started' || typeof d.worker !== 'string') return;
    if (starts++ > 0 && !retried) onProgress({ event: 'retried', jobId, reason: 'error' });
    retried = false;
    onProgress({ event: 'started', jobId, worker: d.worker, retry: d.retry ?? 0 });
  }
}

function parseReturn(value: unknown): ResultData {
  return (typeof value === 'string' ? JSON.parse(value) : value) as ResultData;
}

function relativeInside(root: string, abs: string, what: string): string {
  const rel = path.relative(root, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new PynwheelError('ECLUSTER', `${what} ${abs} is not inside the code directory ${root}`);
  return rel.split(path.sep).join('/');
}

function emptyFailure(started: number, payload?: JobPayload): RunFailure {
  const command = payload?.kind === 'run' ? ['python3', payload.file, ...payload.args] : payload?.kind === 'call' ? ['python3', '-c', `call ${payload.target}`] : payload ? ['pynwheel', 'tasks', `${payload.task.id}`] : [];
  return { exitCode: null, signal: null, stdout: null, stderr: null, durationMs: performance.now() - started, pid: undefined, command };
}

function withJob<E extends Error>(err: E, id: string, worker: string | undefined): E {
  Object.assign(err, { jobId: id, ...(worker ? { worker } : {}) });
  return err;
}

/** A job's output being read: the attempts whose end entry came, and how to stop reading. */
interface Following { ended: Set<string>; stop: () => Promise<void> }

/** The output of the attempt whose result this is ends with its end entry: waited for (bounded), then reading stops. */
async function drainOutput(output: Following, result: { attempt?: string }): Promise<void> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && result.attempt && !output.ended.has(result.attempt)) await new Promise((r) => setTimeout(r, 10));
  await output.stop();
}
