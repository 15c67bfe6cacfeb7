// Runs in the daemon: its handle on one zygote, a python process running
// python/pynwheel_zygote.py, reached over a socketpair that carries each run's fds.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FdChannel } from '../shared/channel';
import { closeQuietly } from '../shared/fds';
import type { RunRequest } from '../shared/messages';
import { native } from '../shared/native';
import { MAX_ZYGOTE_FRAME } from '../shared/protocol-constants';
import { PYTHON_PACKAGE_HOME } from '../shared/python-home';
import type { Message } from '../shared/wire';
import { VERSION } from '../shared/version';
import { IMPORT_TIME_ENV, PYTHON_STARTUP_ENV, type ZygoteKey } from './zygote-key';

export const ZYGOTE_SCRIPT = path.join(PYTHON_PACKAGE_HOME, 'pynwheel_zygote.py');
const HELLO_TIMEOUT_MS = 60_000;
const STATUS_TIMEOUT_MS = 5_000;
const EXIT_REASON_WAIT_MS = 250;

/** What the daemon learns about a run from the zygote. */
export interface RunListener {
  started(pid: number): void;
  exited(outcome: { code?: number; signal?: number; core?: boolean }): void;
  /** The zygote could not fork it, or died under it. */
  failed(code: string, message: string): void;
  /** The zygote imported a module unfit to keep (output, warnings, threads) and is leaving. */
  unfit(module: string, reason: string): void;
  /** The zygote's modules changed on disk; it is leaving and a successor takes the run. */
  stale(reason: string): void;
  /** The script belongs to another family of modules: the zygote for that family takes it. */
  route(family: string[]): void;
  /** The run was stopped by a signal (it continues on SIGCONT). */
  stopped(signal: number): void;
  /** A warm-up's end: what the zygote has imported now (see `warm`). */
  warmed?(preloaded: string[]): void;
}

/** What a zygote was warmed for, ahead of runs (`pynwheel warm`, a cold run's warm-up): for `status`. */
export interface WarmedFor {
  why: string;
  /** The script as the warm-up named it: a file, `-m MODULE`, `-c CODE` or `--packages a,b`. */
  target: string;
  /** Unix time ms it was asked for, and how long it took. */
  at: number;
  ms: number;
}

/** Processes' memory: their count, PSS (shared pages divided among their sharers) and own (private) pages, KiB. */
export interface MemoryPart { count: number; pssKiB: number; ownKiB: number }

export interface ZygoteStatus {
  pid: number;
  python: string;
  key: ZygoteKey;
  /** Resident and proportional set sizes (PSS shares pages with the runs forked from it). */
  rssKiB: number | null;
  pssKiB: number | null;
  version: string;
  runs: number;
  active: number;
  preloaded: string[];
  /** Modules whose import failed in the zygote (the run then imports them itself). */
  failed: Record<string, string>;
  /** Modules scripts named that are never kept, with the reason. */
  notShared: Record<string, string>;
  /** Modules the zygote imported because its runs imported them lazily (python/_pynwheel/learn.py), and those it will not. */
  learned: string[];
  notLearned: Record<string, string>;
  /** Runs handed to a pre-forked child, and runs that had to wait for a fork. */
  forks: { spare: number; onDemand: number };
  /** Runs whose client came straight to the zygote's lane (see lib/daemon/routes.ts), and its path. */
  lane: { path: string | null; served: number; active: number };
  /**
   * Runs by the path they took to this zygote: `lane` (a spare took it straight from its
   * client) and `daemon` (relayed from the daemon), as the zygote counts them (absent from a
   * zygote that does not); `routed` (sent here by the base zygote, for its family) and `stale`
   * (sent here because the zygote before had stale modules), as the daemon counts them.
   */
  paths: { lane?: number; daemon?: number; routed: number; stale: number };
  /** Lane declines by code (laneDeclines or requestChecks), and the last few: [code, message, unix time s]. */
  declines: Record<string, number>;
  recentDeclines: Array<[string, string, number]>;
  /** Directories watched for changes to imported modules, and what one check costs (ns, mean). */
  watchedDirectories: number;
  staleCheckNs: number | null;
  /**
   * What it costs, as the zygote reads it: itself, its waiting spares (each one's pages copied
   * ahead), its runs (each one's own pages) and the runs' clients (their pids from SO_PEERCRED).
   */
  memory: { zygote: MemoryPart; spares: MemoryPart; runs: MemoryPart; clients: MemoryPart } | null;
  skipped: string[];
  startedAt: number;
  /** The warm-ups it had (the last few), and what it is importing now. */
  warmedFor: WarmedFor[];
  importing: string | null;
}

export class Zygote extends EventEmitter<{ dead: [string]; stale: [string, string[]]; lane: [number]; importing: [string]; learnt: [string, string] }> {
  readonly python: string;
  readonly startedAt = Date.now();
  pid = 0;
  version = '';
  lastUsed = Date.now();
  /** Runs the daemon gave it after a route or a stale zygote (see ZygoteStatus.paths). */
  readonly paths = { routed: 0, stale: 0 };
  /** Its warm-ups (WarmedFor), most recent last; the module it is importing now (null once it is done). */
  readonly warmedFor: WarmedFor[] = [];
  importing: string | null = null;
  /** Where clients reach its spares directly (null until its hello, or if it has no path). */
  lanePath: string | null = null;
  private laneActive = 0;
  private laneServed = 0;
  /** Started here; a terminal session's zygote is started by a client in that session (`launch`). */
  private readonly child: ChildProcess | null;
  /** For a zygote its client starts: the command, and its end of the socketpair until then. */
  private pendingLaunch: { argv: string[]; env: Record<string, string>; fd: number } | null = null;
  private helloReceived = false;
  private readonly channel: FdChannel;
  private readonly runs = new Map<number, RunListener>();
  /** Runs this zygote has forked: only runs it never started may move to another zygote. */
  private readonly started = new Set<number>();
  private readonly statusWaiters: Array<(m: Message | null) => void> = [];
  private readonly ready: Promise<void>;
  private helloTimer: NodeJS.Timeout;
  private dead = false;
  private retiring = false;
  private exitReason: string | null = null;

  /**
   * `lane`: the path of the socket its spares will accept runs on. A zygote of a terminal
   * session (`key.session`) is not started here but by a client in that session (`launch()`),
   * as only a process born in a session can open its terminal.
   */
  constructor(readonly key: ZygoteKey, readonly env: Record<string, string>, readonly skipped: string[], preload: string[], readonly lane: string) {
    super();
    const python = key.python;
    this.python = python;
    const [ours, theirs] = native.socketpair();
    this.channel = new FdChannel(ours, MAX_ZYGOTE_FRAME);
    // What the spares check a lane client's request against: the daemon's own key for it.
    const laneConfig = {
      socket: lane, client: VERSION, python, keyNames: [...PYTHON_STARTUP_ENV, ...IMPORT_TIME_ENV], keyEnv: key.env,
      ...(key.session !== undefined ? { session: key.session } : {}),
    };
    const args = [ZYGOTE_SCRIPT, '3', skipped.join(','), preload.join(','), key.family.join(','), JSON.stringify(laneConfig)];
    // Never through pynwheel itself: an interpreter that is (or leads to) pynwheel's shims
    // (a version manager's `system`) would run the zygote as a pynwheel run, whose cold run
    // would warm a zygote of its own, and so on. (Runs get their caller's environment.)
    const zygoteEnv = { ...env, PYNWHEEL_DISABLE: '1' };
    if (key.session !== undefined) {
      this.child = null;
      this.pendingLaunch = { argv: [python, ...args], env: zygoteEnv, fd: theirs };
    } else {
      this.child = spawn(python, args, {
        // The zygote's own output (never a run's) goes to the daemon's log.
        stdio: ['ignore', 'inherit', 'inherit', theirs],
        env: zygoteEnv,
        cwd: '/',
      });
      closeQuietly(theirs);
    }
    let helloReceived!: () => void;
    this.ready = new Promise((resolve) => { helloReceived = resolve; });
    this.helloTimer = setTimeout(() => this.die(`no hello within ${HELLO_TIMEOUT_MS} ms`), HELLO_TIMEOUT_MS);
    this.child?.on('error', (err) => this.die(`could not start ${python}: ${err.message}`));
    this.child?.on('exit', (code, signal) => {
      this.exitReason = signal ? `killed by ${signal}` : `exited with status ${code}`;
      // Frames it sent before exiting may still be unread: the socket's EOF ends it, after them.
      setTimeout(() => this.die(this.exitReason!), EXIT_REASON_WAIT_MS * 4).unref();
    });
    this.channel.on('close', (err) => {
      if (this.exitReason) return this.die(this.exitReason);
      // EOF usually comes just before the exit status: wait a moment so the message can say
      // "killed by SIGKILL" rather than only "closed its connection".
      const reason = err ? `connection failed: ${err.message}` : 'closed its connection';
      setTimeout(() => this.die(this.exitReason ?? reason), EXIT_REASON_WAIT_MS).unref();
    });
    this.channel.on('frame', ({ message, fds }) => {
      fds.forEach(closeQuietly); // a zygote never sends fds
      if (message.type === 'hello') {
        clearTimeout(this.helloTimer);
        this.helloReceived = true;
        this.importing = null;
        this.pid = Number(message.pid);
        this.version = String(message.version ?? '');
        this.lanePath = typeof message.lane === 'string' ? message.lane : null;
        helloReceived();
      } else {
        this.onMessage(message);
      }
    });
  }

  get isDead(): boolean {
    return this.dead;
  }

  /** False once it is dead or on its way out: new runs go to a new zygote. */
  get acceptsRuns(): boolean {
    return !this.dead && !this.retiring && this.exitReason === null;
  }

  /** It said hello: runs given to it now wait for nothing but a spare. */
  get isReady(): boolean {
    return this.helloReceived && this.acceptsRuns;
  }

  /**
   * For a terminal session's zygote: what its client must start (lib/client/start-zygote.ts),
   * once; the fd is the zygote's end of its socketpair with us, to be closed here once sent.
   */
  launch(): { argv: string[]; env: Record<string, string>; fd: number } | null {
    const launch = this.pendingLaunch;
    this.pendingLaunch = null;
    return launch;
  }

  /** A session zygote whose session ended: no new runs; it stops once its runs are over (Daemon.watch). */
  retire(): void {
    this.retiring = true;
  }

  get activeRuns(): number {
    return this.runs.size + this.laneActive;
  }

  /** Hand a run to the zygote. `fds` stay the caller's to close (after `started`). */
  async dispatch(id: number, request: RunRequest, fds: number[], callerPid: number, listener: RunListener): Promise<void> {
    this.lastUsed = Date.now();
    this.runs.set(id, listener);
    await this.ready;
    if (this.dead) return; // die() already told the listener
    const { file, module, code, args, cwd, env, argv0, stdio, cwdFd, umask, limits, notify, session, sched, signals, passFds, call } = request;
    this.channel.send({ type: 'run', id, file, module, code, args, cwd, env, argv0, stdio, cwdFd, callerPid, umask, limits, notify, session, sched, signals, passFds, call }, fds);
  }

  /**
   * Make it ready for runs of this script: its imports preloaded, the script known to its lane,
   * spares forked ahead; nothing runs. The listener hears `warmed`, or `route`, `unfit`,
   * `stale`, `failed` as a run's would.
   */
  async warm(id: number, target: { file?: string; module?: string; code?: string; cwd: string }, listener: RunListener): Promise<void> {
    this.lastUsed = Date.now();
    this.runs.set(id, listener);
    await this.ready;
    if (this.dead) return;
    this.channel.send({ type: 'warm', id, file: target.file, module: target.module, code: target.code, cwd: target.cwd });
  }

  /** A warm-up it had, for `status` (the last few). */
  noteWarmed(warmed: WarmedFor): void {
    this.warmedFor.push(warmed);
    this.warmedFor.splice(0, Math.max(0, this.warmedFor.length - 8));
  }

  /** Queued behind the run's own frame (promise callbacks keep order), so it is never lost. */
  signal(id: number, signo: number): void {
    if (this.runs.has(id)) void this.ready.then(() => this.channel.send({ type: 'signal', id, signo }));
  }

  /** The client is gone: end the run and everything in its process group. */
  kill(id: number): void {
    if (this.runs.has(id)) void this.ready.then(() => this.channel.send({ type: 'kill', id }));
  }

  async status(): Promise<ZygoteStatus> {
    const base = {
      pid: this.pid, python: this.python, key: this.key, version: this.version, skipped: this.skipped, startedAt: this.startedAt,
      warmedFor: [...this.warmedFor], importing: this.importing, ...memoryOf(this.pid),
    };
    const reply = this.dead ? null : await new Promise<Message | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), STATUS_TIMEOUT_MS);
      this.statusWaiters.push((m) => { clearTimeout(timer); resolve(m); });
      this.ready.then(() => this.channel.send({ type: 'status' }), () => undefined);
    });
    return {
      ...base,
      runs: Number(reply?.runs ?? 0),
      active: Number(reply?.active ?? this.runs.size),
      preloaded: (reply?.preloaded as string[]) ?? [],
      failed: (reply?.failed as Record<string, string>) ?? {},
      notShared: (reply?.notShared as Record<string, string>) ?? {},
      learned: (reply?.learned as string[]) ?? [],
      notLearned: (reply?.notLearned as Record<string, string>) ?? {},
      forks: (reply?.forks as { spare: number; onDemand: number }) ?? { spare: 0, onDemand: 0 },
      lane: { path: this.lanePath, served: this.laneServed, active: this.laneActive },
      paths: { ...zygotePaths(reply?.paths), ...this.paths },
      declines: declineCounts(reply?.declines),
      recentDeclines: recentDeclines(reply?.recentDeclines),
      watchedDirectories: Number(reply?.watchedDirectories ?? 0),
      staleCheckNs: reply?.staleChecks ? Math.round(Number(reply.staleCheckNs) / Number(reply.staleChecks)) : null,
      memory: memoryParts(reply?.memory),
    };
  }

  /** Closing the socket makes the zygote end its runs and exit. */
  stop(): void {
    this.die('stopped');
  }

  private onMessage(message: Message): void {
    if (message.type === 'status') {
      this.statusWaiters.shift()?.(message);
      return;
    }
    if (message.type === 'importing') {
      // (Before its hello, too: a family zygote imports its family first.)
      this.importing = String(message.module);
      this.emit('importing', this.importing);
      return;
    }
    if (message.type === 'lane') {
      // A lane run started or ended (the zygote says so after the fact, off the run's path).
      const served = Number(message.served) || 0;
      const added = Math.max(0, served - this.laneServed);
      this.laneServed = served;
      this.laneActive = Number(message.active) || 0;
      this.lastUsed = Date.now();
      this.emit('lane', added);
      return;
    }
    if (message.type === 'learnt' && typeof message.cwd === 'string' && typeof message.file === 'string') {
      // A spare read a new script itself and took its run (python/_pynwheel/newscript.py).
      this.emit('learnt', message.cwd, message.file);
      return;
    }
    if (message.type === 'stale') {
      // Its files changed: a successor takes its new runs; it leaves once its runs are over.
      this.retiring = true;
      this.emit('stale', String(message.reason), (message.preloaded as string[]) ?? []);
    }
    const id = Number(message.id);
    const listener = this.runs.get(id);
    if (!listener) return;
    switch (message.type) {
      case 'started':
        this.started.add(id);
        listener.started(Number(message.pid));
        break;
      case 'exit':
        this.runs.delete(id);
        this.started.delete(id);
        listener.exited({
          code: typeof message.code === 'number' ? message.code : undefined,
          signal: typeof message.signal === 'number' ? message.signal : undefined,
          core: message.core === true,
        });
        break;
      case 'failed':
        this.runs.delete(id);
        listener.failed('EFORK', String(message.message));
        break;
      case 'stale':
        this.runs.delete(id);
        listener.stale(String(message.reason));
        break;
      case 'unfit':
        this.retiring = true; // it takes no more runs, and leaves once its runs are over
        this.runs.delete(id);
        listener.unfit(String(message.module), String(message.reason));
        break;
      case 'stopped':
        listener.stopped(Number(message.signal));
        break;
      case 'route':
        this.runs.delete(id);
        listener.route(Array.isArray(message.family) ? message.family.map(String) : []);
        break;
      case 'warmed':
        this.runs.delete(id);
        this.importing = null;
        listener.warmed?.(Array.isArray(message.preloaded) ? message.preloaded.map(String) : []);
        break;
    }
  }

  private die(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.helloTimer);
    this.channel.destroy(); // (a zygote its client started leaves when it sees this)
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    if (this.pendingLaunch) closeQuietly(this.pendingLaunch.fd);
    this.pendingLaunch = null;
    this.laneActive = 0;
    fs.rmSync(this.lane, { force: true }); // killed, it could not remove its socket itself
    for (const waiter of this.statusWaiters.splice(0)) waiter(null);
    const orphans = [...this.runs];
    this.runs.clear();
    for (const [id, listener] of orphans) {
      // A zygote that left because its files changed never read the runs queued behind that
      // decision: nothing of them ran, so they go to its successor.
      if (this.retiring && !this.started.has(id)) listener.stale(`the zygote was replaced (${reason})`);
      else listener.failed('EZYGOTE', `the Python zygote (${this.python}) ${reason}`);
    }
    this.emit('dead', reason);
  }
}

/** The zygote's own counts of `paths`, those it gives (a zygote of before them gives none). */
function zygotePaths(value: unknown): { lane?: number; daemon?: number } {
  const paths = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const out: { lane?: number; daemon?: number } = {};
  if (Number.isSafeInteger(paths.lane)) out.lane = paths.lane as number;
  if (Number.isSafeInteger(paths.daemon)) out.daemon = paths.daemon as number;
  return out;
}

function declineCounts(value: unknown): Record<string, number> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter(([, n]) => Number.isSafeInteger(n))) as Record<string, number>;
}

function recentDeclines(value: unknown): Array<[string, string, number]> {
  if (!Array.isArray(value)) return [];
  return value.filter((d): d is [string, string, number] =>
    Array.isArray(d) && typeof d[0] === 'string' && typeof d[1] === 'string' && typeof d[2] === 'number');
}

function memoryParts(value: unknown): ZygoteStatus['memory'] {
  const part = (p: unknown): MemoryPart | null => {
    const o = p as Record<string, unknown> | null;
    return o && typeof o === 'object' && [o.count, o.pssKiB, o.ownKiB].every((n) => typeof n === 'number')
      ? { count: o.count as number, pssKiB: o.pssKiB as number, ownKiB: o.ownKiB as number } : null;
  };
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== 'object') return null;
  const [zygote, spares, runs, clients] = [part(v.zygote), part(v.spares), part(v.runs), part(v.clients)];
  return zygote && spares && runs && clients ? { zygote, spares, runs, clients } : null;
}

/** The daemon's own memory, as a zygote's parts are counted. */
export function ownMemory(): MemoryPart {
  const own = smapsRollup('self');
  return { count: 1, pssKiB: own?.Pss ?? 0, ownKiB: (own?.Private_Clean ?? 0) + (own?.Private_Dirty ?? 0) };
}

/** RSS and PSS from /proc/<pid>/smaps_rollup, in KiB. */
function memoryOf(pid: number): { rssKiB: number | null; pssKiB: number | null } {
  const fields = smapsRollup(pid);
  return { rssKiB: fields?.Rss ?? null, pssKiB: fields?.Pss ?? null };
}

/** /proc/<pid>/smaps_rollup's fields, in KiB, or null if it cannot be read. */
function smapsRollup(pid: number | 'self'): Record<string, number> | null {
  try {
    const fields: Record<string, number> = {};
    for (const [, name, kib] of fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').matchAll(/^(\w+):\s+(\d+) kB$/gm)) fields[name] = Number(kib);
    return fields;
  } catch {
    return null;
  }
}
