// Runs in the daemon: it accepts clients on the runtime directory's socket, checks who they
// are, and hands each run to the zygote of its interpreter. It never touches a run's stdio:
// the caller's fds go straight through to the zygote.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FdChannel } from '../shared/channel';
import { PYTHON_PACKAGE_HOME } from '../shared/python-home';
import { debugWanted } from '../shared/debug';
import { PynwheelError } from '../shared/errors';
import { closeQuietly } from '../shared/fds';
import type { RunRequest, WarmRequest } from '../shared/messages';
import { native, type Poller } from '../shared/native';
import { MAX_CLIENT_FRAME } from '../shared/protocol-constants';
import type { Frame } from '../shared/wire';
import type { RuntimePaths } from '../shared/runtime-dir';
import { isAlive, sessionOf } from '../shared/proc-stat';
import { forwardableSignal, signalNumber } from '../shared/signals';
import { VERSION } from '../shared/version';
import { boundLog, debugLog, log } from './log';
import { ClusterSession, type ClusterSessionStatus } from './cluster-session';
import { confinementOf, directReason } from './confinement';
import { checkRunFds, checkRunRequest, checkWarmRequest } from './request-check';
import { Routes } from './routes';
import { ownMemory, Zygote, type MemoryPart, type ZygoteStatus } from './zygote';
import { keyFor, keyString, withFamily, withSession, type ZygoteKey } from './zygote-key';

/** A connection that has not sent its request by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How often the daemon checks that its socket is still in place. */
const WATCH_INTERVAL_MS = 2_000;
/** Read by python at start-up but applied by each run itself: a zygote must not bake them in. */
const PER_RUN_ENV = new Set(['PYTHONIOENCODING', 'PYTHONUNBUFFERED', 'PYTHONINSPECT']);

/** A run moves to a new zygote (unfit module, changed files) at most this many times. */
const MAX_RETRIES = 8;
/** Files that keep changing (a pip install in progress) get the run a plain interpreter. */
const MAX_STALE_RETRIES = 3;

export interface DaemonOptions {
  /** Exit after this long without runs or clients. */
  idleMs: number;
  /** At most this many zygotes per terminal session (of all the session's interpreters and families). */
  maxSessionZygotes: number;
  /** At most this many zygotes; starting another first stops the least recently used idle one. */
  maxZygotes: number;
  /** A zygote without runs for this long exits (its memory is the user's). */
  zygoteIdleMs: number;
}

interface Run {
  id: number;
  conn: FdChannel;
  request: RunRequest;
  /** The daemon's copies of the caller's fds, kept until the zygote has forked. */
  fds: number[];
  zygote?: Zygote;
  /** Times the run moved to a new zygote. */
  retries: number;
  /** The client's pid, from SO_PEERCRED: the run takes its umask and resource limits. */
  callerPid: number;
  done: boolean;
  /** Signals the client passed on before the run started: a zygote the run moves to gets them. */
  earlySignals?: number[];
  /** The family of modules a zygote found the script needs (see Zygote's `route`). */
  family?: string[];
  /** The script as the daemon remembers families (set when the run is first dispatched). */
  scriptKey?: string;
  /** How the run came to the zygote it is dispatched to now, when not at once (see Zygote's `paths`). */
  path?: 'routed' | 'stale';
  /** The request's env has PYNWHEEL_DEBUG=1: the daemon says in its log what it does with the run. */
  debug: boolean;
  /** The client's terminal session (request.session, checked against /proc/<client>/stat). */
  session?: number;
}

/** A warm-up: `pynwheel warm`, or the one a cold run asked for (its client ran python itself). */
interface Warming {
  id: number;
  request: WarmRequest;
  /** Its client, told the outcome (null for a warm-up nobody waits for: a cold run's). */
  conn: FdChannel | null;
  zygote?: Zygote;
  retries: number;
  family?: string[];
  scriptKey?: string;
  startedAt: number;
  done: boolean;
}

/** A warm request's script as a run's target: `--packages a,b` is the code that imports them. */
function warmTarget(request: WarmRequest): { file?: string; module?: string; code?: string; cwd: string } {
  if (request.packages !== undefined) return { code: request.packages.map((p) => `import ${p}\n`).join(''), cwd: request.cwd };
  return { file: request.file, module: request.module, code: request.code, cwd: request.cwd };
}

function describeTarget(request: WarmRequest): string {
  if (request.packages !== undefined) return `--packages ${request.packages.join(',')}`;
  if (request.module !== undefined) return `-m ${request.module}`;
  return request.code !== undefined ? '-c CODE' : request.file!;
}

/**
 * A cold run's warm-up waits for the run (its client's process) to end, at most this long: on a
 * machine of few CPUs zygotes importing beside it would slow the run itself (as native/runner/cold.cc).
 */
const COLD_WARM_DELAY_MS = 1000;
const COLD_WARM_POLL_MS = 5;

/** Scripts whose family the daemon remembers, so that their runs go to its zygote at once. */
const MAX_REMEMBERED_SCRIPTS = 4096;

/** A script as its runs name it: the same words in the same directory are the same script (-c's code by its hash: it may be megabytes). */
function scriptKey(base: string, request: Pick<RunRequest, 'cwd' | 'module' | 'code' | 'file'>): string {
  const code = request.code !== undefined ? `-c ${createHash('sha256').update(request.code).digest('hex')}` : undefined;
  return `${base}\0${request.cwd}\0${request.module !== undefined ? `-m ${request.module}` : code ?? request.file}`;
}

export class Daemon {
  private listenFd = -1;
  private listenPoller?: Poller;
  private socketIno = 0;
  private lockFd = -1;
  private readonly zygotes = new Map<string, Zygote>();
  /** Modules each interpreter's zygote must not keep, with the reason (see Zygote's `unfit`). */
  private readonly unfitModules = new Map<string, Map<string, string>>();
  private readonly families = new Map<string, string[]>();
  private readonly connections = new Set<FdChannel>();
  private readonly runs = new Map<number, Run>();
  private readonly warmings = new Set<Warming>();
  /** Python programs' cluster sessions (pynwheel.futures.Executor(cluster=URL)), each of its connection. */
  private readonly clusterSessions = new Map<number, ClusterSession>();
  private nextRunId = 1;
  private runsServed = 0;
  private readonly startedAt = Date.now();
  private watchTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private stopping = false;
  private readonly routes: Routes;
  /** Its cgroup and namespaces (its zygotes'): a client's must be the same (confinement.ts). */
  private readonly confinement = confinementOf('self');
  private lanesStarted = 0;
  /** Each terminal session with zygotes: when its leader started, to know it is still the same session. */
  private readonly sessionLeaders = new Map<number, number>();

  constructor(private readonly paths: RuntimePaths, private readonly options: DaemonOptions) {
    this.routes = new Routes(paths.dir);
  }

  /** False if another daemon already serves this directory. */
  start(): boolean {
    this.lockFd = fs.openSync(this.paths.lock, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    if (!native.tryLockExclusive(this.lockFd)) {
      fs.closeSync(this.lockFd);
      return false;
    }
    // We hold the lock, so a socket left here belongs to a daemon that died.
    fs.rmSync(this.paths.socket, { force: true });
    this.removeLanes();
    this.routes.reset();
    this.listenFd = native.listen(this.paths.socket, 128);
    this.socketIno = fs.statSync(this.paths.socket).ino;
    fs.writeFileSync(`${this.paths.dir}/daemon.pid`, `${process.pid}\n`);
    this.listenPoller = new native.Poller(this.listenFd, (err) => {
      if (err) return this.shutdown(`listening socket failed: ${err.message}`);
      this.acceptAll();
    });
    this.listenPoller.start(true, false);
    this.watchTimer = setInterval(() => this.watch(), WATCH_INTERVAL_MS);
    this.watchTimer.unref();
    this.touch();
    log(`daemon ${VERSION} started on ${this.paths.socket} (node ${process.version})`);
    return true;
  }

  shutdown(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    log(`daemon stopping: ${reason}`);
    clearInterval(this.watchTimer);
    clearTimeout(this.idleTimer);
    this.listenPoller?.close();
    if (this.listenFd >= 0) closeQuietly(this.listenFd);
    if (this.ownsSocket()) {
      fs.rmSync(this.paths.socket, { force: true });
      fs.rmSync(`${this.paths.dir}/daemon.pid`, { force: true });
      this.routes.remove();
    }
    for (const run of [...this.runs.values()]) {
      releaseFds(run);
      this.fail(run, 'ESTOPPED', `the pynwheel daemon stopped (${reason})`);
    }
    for (const warming of [...this.warmings]) this.endWarming(warming, 'ESTOPPED', `the pynwheel daemon stopped (${reason})`);
    for (const session of this.clusterSessions.values()) session.close();
    for (const zygote of this.zygotes.values()) zygote.stop();
    for (const conn of this.connections) conn.end();
    if (this.lockFd >= 0) closeQuietly(this.lockFd);
    // Let queued replies go out, then leave even if a peer does not read them.
    setTimeout(() => process.exit(0), 200).unref();
  }

  /** Lane sockets (and their zygotes' page and import records) a daemon that died left behind (their zygotes died with it). */
  private removeLanes(): void {
    for (const name of fs.readdirSync(this.paths.dir)) {
      if (/^lane\d+(\.hot(\.\d+)?|\.imports)?$/.test(name)) fs.rmSync(`${this.paths.dir}/${name}`, { force: true });
    }
  }

  private ownsSocket(): boolean {
    try {
      return fs.statSync(this.paths.socket).ino === this.socketIno;
    } catch {
      return false;
    }
  }

  /** A tmp cleaner or a newer daemon may have taken our socket away: then we are unreachable. */
  private watch(): void {
    if (!this.ownsSocket()) return this.shutdown('its socket was removed or replaced');
    boundLog(this.paths.log);
    const now = Date.now();
    this.endFinishedSessions();
    for (const zygote of this.zygotes.values()) {
      if (zygote.activeRuns === 0 && now - zygote.lastUsed > this.options.zygoteIdleMs) {
        log(`stopping zygote ${zygote.pid} for ${zygote.python}: idle for ${Math.round((now - zygote.lastUsed) / 1000)} s`);
        zygote.stop();
      }
    }
  }

  /**
   * A terminal session whose leader has gone (the shell exited, its terminal closed) has no
   * more clients: its zygotes take no runs, and leave once their runs are over (a `nohup` run
   * lives on, as python's would).
   */
  private endFinishedSessions(): void {
    for (const [sid, leaderStart] of this.sessionLeaders) {
      const leader = sessionOf(sid);
      const ended = leader === null || leader.startTime !== leaderStart;
      const zygotes = [...this.zygotes.values()].filter((z) => z.key.session === sid && !z.isDead);
      if (zygotes.length === 0) {
        this.sessionLeaders.delete(sid);
        continue;
      }
      if (!ended) continue;
      for (const zygote of zygotes) {
        if (zygote.acceptsRuns) {
          log(`session ${sid} ended: zygote ${zygote.pid} takes no more runs`);
          zygote.retire();
          this.routes.forget(zygote.lane);
        }
        if (zygote.activeRuns === 0) zygote.stop();
      }
    }
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    if (this.runs.size > 0 || this.connections.size > 0 || this.warmings.size > 0 || this.clusterSessions.size > 0) return;
    if ([...this.zygotes.values()].some((z) => z.activeRuns > 0)) return; // lane runs
    this.idleTimer = setTimeout(() => this.shutdown(`idle for ${this.options.idleMs} ms`), this.options.idleMs);
    this.idleTimer.unref();
  }

  private acceptAll(): void {
    for (;;) {
      let fd: number | null;
      try {
        fd = native.accept(this.listenFd);
      } catch (err) {
        log(`accept failed: ${(err as Error).message}`);
        return; // EMFILE and the like: try again on the next wake-up
      }
      if (fd === null) return;
      this.onConnection(fd);
    }
  }

  private onConnection(fd: number): void {
    let peer;
    try {
      peer = native.peerCred(fd);
    } catch (err) {
      log(`peer credentials unavailable: ${(err as Error).message}`);
      closeQuietly(fd);
      return;
    }
    const conn = new FdChannel(fd, MAX_CLIENT_FRAME);
    this.connections.add(conn);
    clearTimeout(this.idleTimer);
    const ourUid = process.getuid!();
    if (peer.uid !== ourUid) {
      log(`refused a client of uid ${peer.uid} (pid ${peer.pid}): this daemon serves uid ${ourUid} only`);
      conn.send({ type: 'error', code: 'EPERM', message: `this pynwheel daemon serves uid ${ourUid} only` });
      conn.end();
      conn.on('close', () => { this.connections.delete(conn); this.touch(); });
      return;
    }
    const handshake = setTimeout(() => conn.destroy(new PynwheelError('ETIMEDOUT', 'no request')), HANDSHAKE_TIMEOUT_MS);
    let run: Run | undefined;
    let session: ClusterSession | null = null;
    let asked = false;
    conn.on('frame', (frame) => {
      clearTimeout(handshake);
      if (run) return this.onRunFrame(run, frame);
      if (session) return session.onFrame(frame);
      if (!asked && frame.message.type === 'cluster') {
        asked = true;
        session = this.openClusterSession(conn, frame, peer.pid);
        return;
      }
      if (asked) return frame.fds.forEach(closeQuietly); // (a warm request's client has nothing more to say)
      asked = true;
      run = this.onRequest(conn, frame, peer.pid);
    });
    conn.on('close', (err) => {
      clearTimeout(handshake);
      this.connections.delete(conn);
      if (err && (err as PynwheelError).code === 'EPROTO') log(`dropped a client (pid ${peer.pid}): ${err.message}`);
      if (run && !run.done) this.abandon(run);
      session?.close();
      this.touch();
    });
  }

  /** A cluster session for the program at the other end of `conn`, or null (it has been told why). */
  private openClusterSession(conn: FdChannel, frame: Frame, peerPid: number): ClusterSession | null {
    frame.fds.forEach(closeQuietly);
    const refused = this.refusedClient(frame.message as unknown as { client: string }, peerPid, 'run');
    if (refused) {
      conn.send({ type: 'error', code: refused[0], message: refused[1] });
      conn.end();
      return null;
    }
    const id = this.nextRunId++;
    const session = ClusterSession.open(id, conn, frame.message, peerPid, () => {
      this.clusterSessions.delete(id);
      this.touch();
    });
    if (session) this.clusterSessions.set(id, session);
    return session;
  }

  /**
   * What a run or warm request's client must be: of this version, in the terminal session it
   * names (a run is born there), and asking a daemon that is not stopping. A refusal, or null.
   */
  private refusedClient(request: { client: string; session?: [number, number] }, peerPid: number, what: 'run' | 'warm'): [string, string, string?] | null {
    if (request.client !== VERSION) return ['EVERSION', `this daemon is pynwheel ${VERSION}, the client is ${String(request.client)}`];
    if (request.session !== undefined) {
      const own = sessionOf(peerPid);
      if (own === null || own.ttyNr === 0 || own.sid !== request.session[0] || own.pgid !== request.session[1]) {
        return ['EBADREQUEST', `bad ${what} request: "session" ${JSON.stringify(request.session)} is not the client's` +
          (what === 'run' ? ` (${own === null ? 'gone' : own.ttyNr === 0 ? 'no terminal' : `[${own.sid}, ${own.pgid}]`})` : ''), 'bad-session'];
      }
    }
    if (this.stopping) return ['ESTOPPED', 'the pynwheel daemon is stopping'];
    return null;
  }

  /** The first frame of a connection says what it wants. */
  private onRequest(conn: FdChannel, { message, fds }: Frame, peerPid: number): Run | undefined {
    const refuse = (code: string, text: string, reason?: string): undefined => {
      fds.forEach(closeQuietly);
      conn.send({ type: 'error', code, message: text, ...(reason !== undefined ? { reason } : {}) });
      conn.end();
      return undefined;
    };
    switch (message.type) {
      case 'run': {
        let request: RunRequest;
        try {
          request = checkRunRequest(message, fds.length);
          checkRunFds(request, fds, native.fdKind);
        } catch (err) {
          return refuse((err as PynwheelError).code ?? 'EBADREQUEST', (err as Error).message, (err as PynwheelError).reason);
        }
        const refused = this.refusedClient(request, peerPid, 'run');
        if (refused) return refuse(...refused);
        if (isPynwheelItself(request.python)) {
          // A zygote of it would be a pynwheel run, whose zygote would be another, and so on.
          return refuse('EBADREQUEST', `bad run request: the interpreter ${request.python} is pynwheel itself (a link of \`pynwheel shims\`), not a python`, 'bad-python');
        }
        const direct = directReason(request, peerPid, this.confinement);
        if (direct !== null) {
          if (debugWanted(request.env)) debugLog(`a run of ${request.file ?? (request.module !== undefined ? `-m ${request.module}` : '-c CODE')} from client ${peerPid}: ${direct[1]} (${direct[0]}): the client runs python directly (EDIRECT)`);
          return refuse('EDIRECT', `${direct[1]}: python runs it directly`, direct[0]);
        }
        const run: Run = {
          id: this.nextRunId++, conn, request, fds, retries: 0, done: false, callerPid: peerPid, earlySignals: [],
          debug: debugWanted(request.env), session: request.session?.[0],
        };
        this.runs.set(run.id, run);
        this.debug(run, `accepted from the client (pid ${peerPid})`);
        this.dispatch(run);
        return run;
      }
      case 'warm': {
        fds.forEach(closeQuietly);
        let request: WarmRequest;
        try {
          request = checkWarmRequest(message);
        } catch (err) {
          return refuse((err as PynwheelError).code ?? 'EBADREQUEST', (err as Error).message, (err as PynwheelError).reason);
        }
        const refused = this.refusedClient(request, peerPid, 'warm');
        if (refused) return refuse(...refused);
        this.warm(request, conn);
        return undefined;
      }
      case 'status':
        fds.forEach(closeQuietly);
        void this.status().then((status) => { conn.send({ type: 'status', ...status }); conn.end(); });
        return undefined;
      case 'stop':
        fds.forEach(closeQuietly);
        conn.send({ type: 'stopping', pid: process.pid });
        conn.end();
        this.shutdown('asked to stop by a client');
        return undefined;
      default:
        return refuse('EBADREQUEST', `unknown request type ${JSON.stringify(message.type)}`);
    }
  }

  private onRunFrame(run: Run, { message, fds }: Frame): void {
    fds.forEach(closeQuietly);
    if (message.type === 'signal' && (typeof message.signal === 'string' || Number.isInteger(message.signo))) {
      // By name (the Node client) or by number (the native runner: realtime signals have no name).
      const signo = typeof message.signal === 'string' ? signalNumber(message.signal) : forwardableSignal(message.signo as number);
      if (signo === undefined) return;
      run.earlySignals?.push(signo);
      run.zygote?.signal(run.id, signo);
      return;
    }
    run.conn.destroy(new PynwheelError('EPROTO', `unexpected ${JSON.stringify(message.type)} during a run`));
  }

  private dispatch(run: Run): void {
    const zygote = this.zygoteFor(run);
    if (zygote === null) return; // the client runs python itself (a terminal session's zygote is not ready)
    run.zygote = zygote;
    if (run.debug) this.debug(run, `given to ${zygote.pid ? `zygote ${zygote.pid}` : 'a new zygote'} (${describeKey(zygote.key)})`);
    // The run's fds are released only once the zygote has them (or never will): closing them
    // while the frame may still be queued would make the zygote's sendmsg fail.
    void zygote.dispatch(run.id, run.request, run.fds, run.callerPid, {
      started: (pid) => {
        releaseFds(run);
        run.earlySignals = undefined;
        if (run.path) zygote.paths[run.path]++;
        if (!run.done) run.conn.send({ type: 'started', pid });
        this.debug(run, `started by zygote ${zygote.pid} as pid ${pid}`);
        // The next runs of this script go straight to this zygote's lane.
        if (zygote.lanePath && run.request.file !== undefined) {
          const route = this.routes.publish(run.request.python, run.request.cwd, run.request.file, zygote.lanePath, run.session);
          if (route !== null) this.debug(run, `route r/${route} published (to ${zygote.lanePath})`);
        }
        // And new scripts of its family may go straight there too (native/runner/guess.h).
        if (zygote.lanePath) this.routes.publishFamily(zygote.key.python, zygote.key.family, zygote.lanePath, zygote.key.session);
      },
      exited: (outcome) => {
        this.runsServed++;
        this.finish(run);
        run.conn.send({ type: 'exit', ...outcome });
        run.conn.end();
      },
      failed: (code, message) => {
        releaseFds(run);
        this.fail(run, code, message);
      },
      unfit: (module, reason) => {
        log(`not keeping ${module} in the zygote of ${run.request.python}: it ${reason}; replacing the zygote`);
        this.unfitFor(run.request.python).set(module, reason);
        if (run.done) return releaseFds(run);
        if (++run.retries > MAX_RETRIES) {
          releaseFds(run);
          return this.fail(run, 'EZYGOTE', 'too many modules unfit for a zygote');
        }
        this.debug(run, `unfit: zygote ${zygote.pid} cannot keep ${module} (it ${reason}); retried on a zygote without it`);
        this.dispatch(run);
      },
      stopped: (signal) => {
        if (!run.done) run.conn.send({ type: 'stopped', signal });
      },
      route: (family) => {
        // The zygote read the script's imports: its family's zygote takes it (and the next
        // run of this script goes there at once).
        this.rememberFamily(run.scriptKey!, family);
        if (run.done) return releaseFds(run);
        if (++run.retries > MAX_RETRIES) {
          releaseFds(run);
          return this.fail(run, 'EZYGOTE', `the zygotes keep routing this run (last to ${JSON.stringify(family)})`);
        }
        run.family = family;
        run.path = 'routed';
        this.debug(run, `routed to family ${family.length ? family.join(', ') : '(base)'} by zygote ${zygote.pid}`);
        this.dispatch(run);
      },
      stale: (reason) => {
        if (run.done) return releaseFds(run);
        if (++run.retries > MAX_STALE_RETRIES) {
          // Files keep changing under the zygotes: the client runs the interpreter itself.
          releaseFds(run);
          this.debug(run, `stale again (${reason}): the client runs python directly (ESTALE)`);
          return this.fail(run, 'ESTALE', `modules keep changing on disk (last: ${reason})`);
        }
        run.path = 'stale';
        this.debug(run, `stale: zygote ${zygote.pid} ${reason}; retried on its successor`);
        this.dispatch(run); // to the successor, which already has the zygote's place
      },
    });
    // A run that moves (routed, stale, unfit) takes the signals its client sent meanwhile along.
    for (const signo of run.earlySignals ?? []) zygote.signal(run.id, signo);
  }

  /**
   * A warm-up: the zygote of the script's key and family (found as a run's would be: the base
   * zygote reads the script and routes it) imports what the script does and forks its spares.
   * `conn` hears `importing` (if asked) and then `warm` or `error`; the warm-up goes on if it
   * leaves. A terminal session's zygote is started by its client (`start-zygote`, as for runs).
   */
  warm(request: WarmRequest, conn: FdChannel | null, known: { family?: string[]; scriptKey?: string } = {}): void {
    const warming: Warming = { id: this.nextRunId++, request, conn, retries: 0, startedAt: Date.now(), done: false, ...known };
    this.warmings.add(warming);
    clearTimeout(this.idleTimer);
    if (request.after === undefined) return this.warmOn(warming);
    const until = Date.now() + COLD_WARM_DELAY_MS;
    const poll = (): void => {
      if (warming.done) return;
      if (Date.now() < until && isAlive(request.after!)) return void setTimeout(poll, COLD_WARM_POLL_MS);
      this.warmOn(warming);
    };
    poll();
  }

  private warmOn(warming: Warming): void {
    const { request } = warming;
    if (isPynwheelItself(request.python)) return this.endWarming(warming, 'EBADREQUEST', `the interpreter ${request.python} is pynwheel itself (a shim of pynwheel shims)`);
    const session = request.session?.[0];
    const base = keyFor(request.python, realPath(request.python), request.env);
    const target = warmTarget(request);
    warming.scriptKey ??= scriptKey(keyString(base), target);
    const key = withSession(withFamily(base, warming.family ?? this.families.get(warming.scriptKey) ?? []), session);
    let zygote = this.zygotes.get(keyString(key));
    if (!zygote?.acceptsRuns) {
      if (session !== undefined && warming.conn === null) return this.endWarming(warming, 'EBADREQUEST', 'a terminal session\'s zygote is started by a client of the session');
      this.makeRoomForAZygote(session);
      const env = Object.fromEntries(Object.entries(request.env).filter(([k]) => !k.startsWith('PYNWHEEL_') && !PER_RUN_ENV.has(k)));
      zygote = this.startZygote(key, env, []);
      if (session !== undefined) {
        const launch = zygote.launch()!;
        const leader = sessionOf(session);
        if (!this.sessionLeaders.has(session) && leader !== null) this.sessionLeaders.set(session, leader.startTime);
        log(`session ${session}: its client starts a zygote (${describeKey(zygote.key)}) to warm it`);
        warming.conn!.send({ type: 'start-zygote', argv: launch.argv.join('\0'), env: Object.entries(launch.env).map(([k, v]) => `${k}=${v}`).join('\0') },
          [launch.fd, 1, 2]);
        warming.conn!.on('close', () => closeQuietly(launch.fd)); // once the frame is out
      }
    }
    const warmingZygote = zygote;
    warming.zygote = warmingZygote;
    const retry = (why: string): void => {
      if (++warming.retries > MAX_RETRIES) return this.endWarming(warming, 'EZYGOTE', `the zygotes keep moving this warm-up (${why})`);
      this.warmOn(warming);
    };
    void warmingZygote.warm(warming.id, target, {
      warmed: (preloaded) => {
        if (request.file !== undefined && warmingZygote.lanePath) {
          this.routes.publish(request.python, request.cwd, request.file, warmingZygote.lanePath, session);
        }
        if (warmingZygote.lanePath) {
          this.routes.publishFamily(warmingZygote.key.python, warmingZygote.key.family, warmingZygote.lanePath, warmingZygote.key.session);
        }
        const ms = Date.now() - warming.startedAt;
        warmingZygote.noteWarmed({ why: request.why ?? 'pynwheel warm', target: describeTarget(request), at: warming.startedAt, ms });
        log(`warmed zygote ${warmingZygote.pid} (${describeKey(warmingZygote.key)}) for ${describeTarget(request)} in ${ms} ms (${request.why ?? 'pynwheel warm'})`);
        this.endWarming(warming, null, '', { type: 'warm', pid: warmingZygote.pid, family: warmingZygote.key.family, preloaded, ms });
      },
      route: (family) => {
        this.rememberFamily(warming.scriptKey!, family);
        warming.family = family;
        retry(`routed to ${JSON.stringify(family)}`);
      },
      unfit: (module, reason) => {
        log(`not keeping ${module} in the zygote of ${request.python}: it ${reason}; replacing the zygote`);
        this.unfitFor(request.python).set(module, reason);
        retry(`${module} unfit`);
      },
      stale: (reason) => retry(`stale: ${reason}`),
      failed: (code, message) => this.endWarming(warming, code, message),
      started: () => undefined,
      exited: () => undefined,
      stopped: () => undefined,
    });
  }

  /** The zygote a warm-up is importing in said it imports `module`: its client hears it, if it asked. */
  private onImporting(zygote: Zygote, module: string): void {
    for (const warming of this.warmings) {
      if (warming.zygote === zygote && warming.request.progress && warming.conn !== null && !warming.done) {
        warming.conn.send({ type: 'importing', module, ms: Date.now() - warming.startedAt });
      }
    }
  }

  private endWarming(warming: Warming, code: string | null, message: string, reply?: Record<string, unknown>): void {
    if (warming.done) return;
    warming.done = true;
    this.warmings.delete(warming);
    if (code !== null) log(`warm-up of ${describeTarget(warming.request)} failed: ${message}`);
    if (warming.conn !== null) {
      warming.conn.send(code !== null ? { type: 'error', code, message } : reply!);
      warming.conn.end();
    }
    this.touch();
  }

  /** The zygote to run it, or null when the client runs python itself (it has been told). */
  private zygoteFor(run: Run): Zygote | null {
    const { request } = run;
    const base = keyFor(request.python, realPath(request.python), request.env);
    // (A script's family is known across sessions: scripts are the same in every terminal.)
    run.scriptKey ??= scriptKey(keyString(base), request);
    const key = withSession(withFamily(base, run.family ?? this.families.get(run.scriptKey) ?? []), run.session);
    const id = keyString(key);
    const existing = this.zygotes.get(id);
    if (existing?.acceptsRuns) {
      if (existing.isReady) return existing;
      if (run.session === undefined && !request.cold) return existing; // (the Node API waits for it)
      // Its first runs must be no slower than python's: it is still starting.
      if (run.session === undefined) return this.runCold(run, `the zygote (${describeKey(key)}) is starting`);
      return this.runDirectly(run, `the session's zygote (${describeKey(key)}) is starting`);
    }
    if (run.session === undefined && request.cold) {
      // A cold run: python runs it now, and the zygote its next run needs warms up meanwhile.
      return this.runCold(run, `no zygote of its key (${describeKey(key)}) is ready`);
    }
    this.makeRoomForAZygote(run.session);
    const env = Object.fromEntries(Object.entries(request.env).filter(([k]) => !k.startsWith('PYNWHEEL_') && !PER_RUN_ENV.has(k)));
    const zygote = this.startZygote(key, env, []);
    if (run.session === undefined) return zygote;
    return this.launchInSession(run, zygote);
  }

  /**
   * A zygote of the client's terminal session: the client starts it (it is born in that
   * session), and runs this one python itself meanwhile.
   */
  private launchInSession(run: Run, zygote: Zygote): null {
    const launch = zygote.launch()!;
    const sid = run.session!;
    const leader = sessionOf(sid);
    if (!this.sessionLeaders.has(sid) && leader !== null) this.sessionLeaders.set(sid, leader.startTime);
    log(`session ${sid}: its client (pid ${run.callerPid}) starts a zygote (${describeKey(zygote.key)})`);
    if (!run.done) {
      run.conn.send({ type: 'start-zygote', argv: launch.argv.join('\0'), env: Object.entries(launch.env).map(([k, v]) => `${k}=${v}`).join('\0') },
        [launch.fd, 1, 2]);
    }
    // Closed once the frame is out (the connection's end comes after it).
    run.conn.on('close', () => closeQuietly(launch.fd));
    return this.runDirectly(run, 'a zygote of its terminal session is starting');
  }

  /**
   * A cold run: its client runs python itself (`direct`), and the zygote of the script's key
   * and family warms up for the next run (its family as far as the daemon knows it: the warm-up
   * finds the rest, as a run would).
   */
  private runCold(run: Run, reason: string): null {
    const { request } = run;
    const target = request.module !== undefined ? { module: request.module } : request.code !== undefined ? { code: request.code } : { file: request.file };
    const warm: WarmRequest = {
      type: 'warm', client: request.client, ...target, cwd: request.cwd, env: request.env, python: request.python, why: 'cold run', after: run.callerPid,
    };
    this.runDirectly(run, `cold run: ${reason}; warming it`);
    this.warm(warm, null, { family: run.family, scriptKey: run.scriptKey });
    return null;
  }

  /** The client runs python itself: the reply `direct`, and the run is over for the daemon. */
  private runDirectly(run: Run, reason: string): null {
    releaseFds(run);
    this.debug(run, `run by python itself (${reason.startsWith('cold run') ? 'cold' : 'session-start'}: ${reason})`);
    if (!run.done) {
      this.finish(run);
      run.conn.send({ type: 'direct', reason });
      run.conn.end();
    }
    return null;
  }

  private startZygote(key: ZygoteKey, env: Record<string, string>, preload: string[]): Zygote {
    const id = keyString(key);
    const lane = `${this.paths.dir}/lane${++this.lanesStarted}`;
    const zygote = new Zygote(key, env, [...this.unfitFor(key.python).keys()], preload, lane);
    this.zygotes.set(id, zygote);
    log(`starting a zygote for ${key.python}${key.family.length ? ` (family ${key.family.join(', ')})` : ''}` +
      `${Object.keys(key.env).length ? ` with ${JSON.stringify(key.env)}` : ''}` +
      `${preload.length ? `, preloading ${preload.join(', ')}` : ''}`);
    zygote.on('importing', (module) => this.onImporting(zygote, module));
    zygote.on('lane', (served) => {
      this.runsServed += served;
      this.touch();
    });
    zygote.on('learnt', (cwd, file) => {
      // A spare took a new script's run by its family's route: its own route from now on.
      if (zygote.lanePath) this.routes.publish(key.python, cwd, file, zygote.lanePath, key.session);
    });
    zygote.on('dead', (reason) => {
      this.routes.forget(lane);
      fs.rmSync(`${lane}.hot`, { force: true }); // its record of the pages runs write to (one it left if killed)
      fs.rmSync(`${lane}.imports`, { force: true }); // and of what its runs imported (python/_pynwheel/learn.py)
      if (this.zygotes.get(id) === zygote) this.zygotes.delete(id);
      if (!this.stopping) log(`zygote ${zygote.pid || '(not started)'} for ${key.python} ended: ${reason}`);
    });
    zygote.on('stale', (reason, preloaded) => {
      log(`replacing zygote ${zygote.pid} for ${key.python}: ${reason}`);
      // (A terminal session's successor is started by the session's next client.)
      if (!this.stopping && this.zygotes.get(id) === zygote && key.session === undefined) this.startZygote(key, zygote.env, preloaded);
    });
    return zygote;
  }

  /**
   * PYNWHEEL_MAX_ZYGOTES (and PYNWHEEL_SESSION_ZYGOTES for a terminal session's): the least
   * recently used zygote without runs goes first.
   */
  private makeRoomForAZygote(session?: number): void {
    if (session !== undefined) {
      const ofSession = [...this.zygotes.values()].filter((z) => !z.isDead && z.key.session === session);
      const idle = ofSession.filter((z) => z.activeRuns === 0).sort((a, b) => a.lastUsed - b.lastUsed);
      if (ofSession.length >= this.options.maxSessionZygotes && idle[0]) {
        log(`stopping zygote ${idle[0].pid}: least recently used of session ${session}'s ${ofSession.length} (PYNWHEEL_SESSION_ZYGOTES=${this.options.maxSessionZygotes})`);
        idle[0].stop();
      }
    }
    const live = [...this.zygotes.values()].filter((z) => !z.isDead);
    if (live.length < this.options.maxZygotes) return;
    const idle = live.filter((z) => z.activeRuns === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    const victim = idle[0];
    if (!victim) return; // every zygote is busy: allow one more for now
    log(`stopping zygote ${victim.pid} for ${victim.python}: least recently used of ${live.length} (PYNWHEEL_MAX_ZYGOTES=${this.options.maxZygotes})`);
    victim.stop();
  }

  /** Which family of modules a script needs, as its last run's zygote found: most recent last. */
  private rememberFamily(key: string, family: string[]): void {
    this.families.delete(key);
    this.families.set(key, family);
    if (this.families.size > MAX_REMEMBERED_SCRIPTS) this.families.delete(this.families.keys().next().value!);
  }

  private unfitFor(python: string): Map<string, string> {
    let unfit = this.unfitModules.get(python);
    if (!unfit) this.unfitModules.set(python, (unfit = new Map()));
    return unfit;
  }

  /** A PYNWHEEL_DEBUG=1 line about the run, if its request asked for them. */
  private debug(run: Run, text: string): void {
    if (!run.debug) return;
    const { file, module } = run.request;
    debugLog(`run ${run.id} of ${module !== undefined ? `-m ${module}` : file ?? '-c CODE'} ${text}`);
  }

  private fail(run: Run, code: string, message: string): void {
    if (run.done) return;
    this.finish(run);
    log(`run ${run.id} failed: ${message}`);
    run.conn.send({ type: 'error', code, message });
    run.conn.end();
  }

  /** The client went away: no run outlives its client. */
  private abandon(run: Run): void {
    this.finish(run);
    run.zygote?.kill(run.id);
  }

  private finish(run: Run): void {
    run.done = true;
    this.runs.delete(run.id);
    this.touch();
  }

  private async status(): Promise<{ pid: number; version: string; startedAt: number; runs: number; active: number; memory: MemoryPart; zygotes: Array<ZygoteStatus & { unfit: Record<string, string> }>; clusterSessions: ClusterSessionStatus[] }> {
    const zygotes = await Promise.all([...this.zygotes.values()].map(async (z) => ({
      ...(await z.status()),
      unfit: Object.fromEntries(this.unfitFor(z.python)),
    })));
    const clusterSessions = [...this.clusterSessions.values()].map((s) => s.status());
    return { pid: process.pid, version: VERSION, startedAt: this.startedAt, runs: this.runsServed, active: this.runs.size, memory: ownMemory(), zygotes, clusterSessions };
  }
}

/** A zygote's key in a few words: its family and the key variables set. */
function describeKey(key: ZygoteKey): string {
  const family = key.family.length ? `family ${key.family.join(', ')}` : 'base';
  const env = Object.entries(key.env).map(([k, v]) => `${k}=${v}`).join(' ');
  return `${family}${env ? `; key ${env}` : ''}${key.session !== undefined ? `; session ${key.session}` : ''}`;
}

function releaseFds(run: Run): void {
  run.fds.forEach(closeQuietly);
  run.fds = [];
}

function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file; // the zygote's start will say what is wrong with it
  }
}

/** pynwheel's own command (the runner, its bin/ copy or shim): what `pynwheel shims` links python3 to. */
const PYNWHEEL_COMMANDS = new Set([
  path.resolve(PYTHON_PACKAGE_HOME, '..', 'build', 'Release', 'pynwheel-runner'),
  path.resolve(PYTHON_PACKAGE_HOME, '..', 'bin', 'pynwheel'),
].map(realPath));

function isPynwheelItself(python: string): boolean {
  return PYNWHEEL_COMMANDS.has(realPath(python));
}
