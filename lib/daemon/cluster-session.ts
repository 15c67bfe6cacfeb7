// Runs in the daemon: a cluster session of a Python program (pynwheel.futures.Executor(cluster=
// URL), python/pynwheel/cluster.py). The program stays standard-library only: it sends its
// pickled tasks here over its connection, and the daemon holds the cluster(url) handle
// (lib/cluster/submitter.ts) and submits each as a `call` job of pynwheel.cluster_job:run (what
// the worker runs: python/pynwheel/cluster_job.py). The session ends with its connection: its
// jobs in flight are cancelled and the handle closed, and the daemon goes on serving others.
import { PynwheelError } from '../shared/errors';
import type { FdChannel } from '../shared/channel';
import { closeQuietly } from '../shared/fds';
import type { Frame } from '../shared/wire';
import type { Cluster } from '../cluster/submitter';
import { checkClusterRequest, checkSessionFrame, type ClusterRequest, type SubmitFrame } from './cluster-check';
import { log } from './log';

/** The function every Executor job calls on its worker, with the pickled task as its argument. */
const JOB_TARGET = 'pynwheel.cluster_job:run';

export interface ClusterSessionStatus { id: number; pid: number; url: string; queue: string; inFlight: number; submitted: number; startedAt: number }

export class ClusterSession {
  private handle: Cluster | null = null;
  private readonly inFlight = new Map<number, AbortController>();
  private submitted = 0;
  private closed = false;
  private readonly startedAt = Date.now();
  private readonly queue: string;

  /** Starts the session the request asks for; the client hears `cluster-ready` or an error. */
  static open(id: number, conn: FdChannel, message: Frame['message'], pid: number, onEnd: () => void): ClusterSession | null {
    let request: ClusterRequest;
    try {
      request = checkClusterRequest(message);
    } catch (err) {
      conn.send({ type: 'error', code: 'ECLUSTER', message: (err as Error).message, reason: (err as PynwheelError).reason });
      conn.end();
      return null;
    }
    return new ClusterSession(id, conn, request, pid, onEnd);
  }

  private constructor(readonly id: number, private readonly conn: FdChannel, private readonly request: ClusterRequest, readonly pid: number, private readonly onEnd: () => void) {
    this.queue = request.queue ?? 'pynwheel';
    void this.begin();
  }

  private async begin(): Promise<void> {
    try {
      // (Loaded with the first session: the daemon of local runs never pays for BullMQ.)
      const { cluster } = require('../cluster/submitter') as typeof import('../cluster/submitter');
      this.handle = cluster(this.request.url, { queue: this.request.queue, key: this.request.key, keyFile: this.request.keyFile });
      await this.handle.connect();
      if (this.closed) return;
      log(`cluster session ${this.id} of pid ${this.pid}: ${redacted(this.request.url)} queue ${this.queue}`);
      this.conn.send({ type: 'cluster-ready', session: this.id, queue: this.queue });
    } catch (err) {
      const e = err as PynwheelError;
      this.conn.send({ type: 'error', code: e.code ?? 'ECLUSTER', message: e.message });
      this.conn.end();
    }
  }

  onFrame({ message, fds }: Frame): void {
    fds.forEach(closeQuietly);
    let frame;
    try {
      frame = checkSessionFrame(message, new Set(this.inFlight.keys()));
    } catch (err) {
      // A bad frame fails that one job (if it names one) and loses nothing else.
      const id = (message as { id?: unknown }).id;
      this.conn.send({ type: 'failed', id: Number.isSafeInteger(id) ? id : 0, code: 'ECLUSTER', name: 'PynwheelError', message: (err as Error).message, reason: (err as PynwheelError).reason });
      return;
    }
    if (frame.type === 'cancel') {
      this.inFlight.get(frame.id)?.abort(new Error('cancelled by its submitter'));
      return;
    }
    void this.submit(frame);
  }

  private async submit(frame: SubmitFrame): Promise<void> {
    const abort = new AbortController();
    this.inFlight.set(frame.id, abort);
    this.submitted++;
    try {
      await this.handle!.connect(); // (a submit may come before cluster-ready is read)
      const value = await this.handle!.call(JOB_TARGET, [Buffer.from(frame.payload, 'base64')], {
        codeDir: frame.codeDir, timeout: frame.timeout, packages: frame.packages, imports: frame.imports, signal: abort.signal,
        onJob: (jobId) => { if (!this.closed) this.conn.send({ type: 'queued', id: frame.id, jobId }); },
      });
      if (!Buffer.isBuffer(value) && !(value instanceof Uint8Array)) throw new PynwheelError('ECLUSTER', `${JOB_TARGET} returned no pickle`);
      if (!this.closed) this.conn.send({ type: 'result', id: frame.id, value: Buffer.from(value).toString('base64') });
    } catch (err) {
      const e = err as Error & { code?: string; lacking?: unknown; jobId?: string; worker?: string };
      if (!this.closed) {
        this.conn.send({
          type: 'failed', id: frame.id, code: typeof e.code === 'string' ? e.code : 'ECLUSTER', name: e.name, message: e.message,
          ...(e.lacking !== undefined ? { lacking: e.lacking } : {}), ...(e.jobId ? { jobId: e.jobId } : {}), ...(e.worker ? { worker: e.worker } : {}),
        });
      }
    } finally {
      this.inFlight.delete(frame.id);
    }
  }

  /** Its connection ended (the program closed the Executor, exited or was killed): nothing of it is left. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const cancelled = this.inFlight.size;
    for (const abort of this.inFlight.values()) abort.abort(new Error('the session ended'));
    void (this.handle?.close() ?? Promise.resolve()).catch(() => undefined).finally(() => {
      log(`cluster session ${this.id} of pid ${this.pid} ended: ${this.submitted} jobs submitted${cancelled ? `, ${cancelled} in flight cancelled` : ''}`);
      this.onEnd();
    });
  }

  status(): ClusterSessionStatus {
    return { id: this.id, pid: this.pid, url: redacted(this.request.url), queue: this.queue, inFlight: this.inFlight.size, submitted: this.submitted, startedAt: this.startedAt };
  }
}

/** The URL without its password (lib/cluster/redis.ts's redact, loaded only with a session). */
function redacted(url: string): string {
  return (require('../cluster/redis') as typeof import('../cluster/redis')).redact(url);
}
