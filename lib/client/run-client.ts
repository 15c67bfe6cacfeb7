// Runs in the Node client (the CLI, or a Node API caller's process): one run as seen from the
// caller. Send the request with our fds (to the script's lane if it has one, else to the
// daemon), pass signals on, and learn how the run ended.
import * as fs from 'node:fs';
import { FdChannel } from '../shared/channel';
import { PynwheelError } from '../shared/errors';
import { closeQuietly } from '../shared/fds';
import { fdCountOf, type LaneDecline, type RunReply, type RunRequest } from '../shared/messages';
import { native } from '../shared/native';
import { MAX_CLIENT_FRAME } from '../shared/protocol-constants';
import { encodeFrame } from '../shared/wire';
import { ensureRuntimeDir, runtimeDirFor, type RuntimePaths } from '../shared/runtime-dir';
import { FORWARDED_SIGNALS, terminalJobSignals, signalName, signalNumber } from '../shared/signals';
import { VERSION } from '../shared/version';
import { startDaemonWarming } from './cold';
import { connectOrStart, replaceDaemon, tryConnect } from './connect';
import { clientDebug, type DebugWriter } from './debug';
import { pythonArgsFor, runDirectly } from './direct';
import type { Interpreter } from './interpreter';
import type { Caller } from '../cli/caller';
import { connectLane } from './lane';
import { socketInFlight } from '../shared/socket-closes';
import { startSessionZygote } from './start-zygote';
import { isStopped, terminalSession } from '../shared/proc-stat';

export interface RunTarget {
  file?: string;
  module?: string;
  /** -c CODE */
  code?: string;
  args: string[];
  /** A call's value channel: this fd goes to the run at its number (RunRequest.call). */
  call?: number;
}

export interface ClientOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  interpreter: Interpreter;
  /** The fds that become the run's 0, 1 and 2; null for one the caller has closed. */
  stdio: [number | null, number | null, number | null];
  /** Pass the signals a terminal or a user sends us on to the run (the CLI does). */
  forwardSignals: boolean;
  /** Node API: told the run's pid once the zygote has forked it. */
  onStarted?: (pid: number) => void;
  /** Node API: given a way to signal the run as soon as the request is on its way (again on a retry). */
  onControl?: (sendSignal: (signal: NodeJS.Signals) => void) => void;
  /** Default true: when the zygotes cannot be trusted (ESTALE), run the interpreter here. The Node API does that itself, to keep its pid and kill(). */
  directFallback?: boolean;
  /** When the interpreter runs it itself: its arguments (python's options included) and environment; default the target's and `env`. */
  direct?: { argv: string[]; env: NodeJS.ProcessEnv };
  /**
   * The CLI: if this process has a controlling terminal, its run comes from a zygote of its
   * terminal session, in its process group (RunRequest.session). The Node API keeps
   * child_process.spawn's behaviour: its runs are in no terminal's job.
   */
  terminal?: boolean;
  /** The CLI: its caller's signals and other fds (lib/cli/caller.ts), which the run has too. The Node API has none: its runs start as spawn's children do. */
  caller?: Caller;
  /** The request carries a socket (a call's value channel). */
  carriesSocket?: boolean;
  /**
   * The CLI: when no warm zygote can take the run (no daemon, or its zygote is not ready), run
   * python here at once and have the daemon warm the zygote for the next run (RunRequest.cold).
   */
  cold?: boolean;
}

export interface RunOutcome {
  /** Exit status, or null when the run died of a signal. */
  exitCode: number | null;
  /** Name of the signal the run died of, or null. */
  signal: string | null;
  signo: number | null;
  core: boolean;
  pid: number | null;
}

export async function runThroughDaemon(target: RunTarget, options: ClientOptions): Promise<RunOutcome> {
  const paths = ensureRuntimeDir(runtimeDirFor(options.env));
  const debug = clientDebug(options.env);
  try {
    const outcome = await runOnce(paths, target, options, debug);
    if (!('direct' in outcome)) return outcome;
    // No zygote is ready (a cold run, a terminal session's first): python, as fast as python.
    debug?.(`running python directly (${outcome.direct})`);
    return runDirectly(options.interpreter, options.direct?.argv ?? pythonArgsFor(target), options.cwd, options.direct?.env ?? options.env, options.stdio, options.forwardSignals, options.caller);
  } catch (err) {
    if (!(err instanceof PynwheelError)) throw err;
    if ((err.code === 'ESTALE' || err.code === 'EDIRECT') && options.directFallback !== false) {
      // Modules are changing on disk right now (an install in progress): no zygote can be
      // trusted; or no zygote may run this caller's run (its priority, cgroup or namespaces).
      // The run had not started, so the interpreter runs it itself.
      debug?.(`running python directly (${err.code}: ${err.message})`);
      return runDirectly(options.interpreter, options.direct?.argv ?? pythonArgsFor(target), options.cwd, options.direct?.env ?? options.env, options.stdio, options.forwardSignals, options.caller);
    }
    // A daemon of another version refuses before anything runs: replace it, once.
    if (err.code !== 'EVERSION') throw err;
    debug?.(`the daemon is of another version (${err.message}): replacing it`);
    await replaceDaemon(paths);
    const outcome = await runOnce(paths, target, options, debug);
    if (!('direct' in outcome)) return outcome;
    return runDirectly(options.interpreter, options.direct?.argv ?? pythonArgsFor(target), options.cwd, options.direct?.env ?? options.env, options.stdio, options.forwardSignals, options.caller);
  }
}

type Exchanged = RunOutcome | { direct: string };

async function runOnce(paths: RuntimePaths, target: RunTarget, options: ClientOptions, debug: DebugWriter | undefined): Promise<Exchanged> {
  const session = options.terminal ? terminalSession() : undefined;
  const env = stringEnv(options.env);
  const cwdFd = openDirectory(options.cwd);
  const stdioFds = options.stdio.filter((fd): fd is number => fd !== null);
  // The caller's fds above 2 and a call's channel, each to the run at its number, ascending.
  const passFds = [...(options.caller?.passFds ?? [])];
  if (target.call !== undefined && !passFds.includes(target.call)) passFds.push(target.call);
  passFds.sort((a, b) => a - b);
  const request: RunRequest = {
    type: 'run',
    client: VERSION,
    ...(target.module !== undefined ? { module: target.module } : target.code !== undefined ? { code: target.code } : { file: target.file }),
    args: target.args,
    cwd: options.cwd,
    env,
    python: options.interpreter.path,
    argv0: options.interpreter.argv0,
    stdio: options.stdio.map((fd) => fd !== null) as [boolean, boolean, boolean],
    cwdFd: cwdFd !== null,
    // Ours, which python started from here would have (the run need not read /proc for them).
    ...native.processAttributes(),
    ...(session !== undefined ? { session } : {}),
    ...(options.caller?.signals ? { signals: options.caller.signals } : {}),
    ...(options.caller || target.call !== undefined ? { passFds } : {}),
    ...(target.call !== undefined ? { call: target.call } : {}),
    ...(options.cold ? { cold: true } : {}),
  };
  const sched = native.scheduling();
  if (sched !== undefined) request.sched = sched;
  const fds = [...stdioFds, ...(cwdFd === null ? [] : [cwdFd]), ...passFds];
  if (fdCountOf(request) !== fds.length) throw new Error('internal: fd count mismatch');
  // Encoded before connecting: a spare that accepts waits for nothing but the sending.
  const frame = encodeFrame(request, fds.length);
  try {
    // Straight to the zygote that ran this script last, if the daemon left a route to it.
    const lane = request.file !== undefined ? connectLane(paths, request.python, request.cwd, request.file, session?.[0]) : null;
    let held: NodeJS.Signals[] = [];
    if (lane === null) {
      debug?.(`${request.code !== undefined ? '-c' : 'module'} run (module-run); asking the daemon`);
    } else if (lane.fd === null) {
      debug?.(`${lane.miss === 'no-route' ? 'no route' : `route ${lane.route} gone`} (${lane.miss}${lane.errno === 'ENOENT' || lane.errno === 'ECONNREFUSED' ? '' : `, ${lane.errno}`}); asking the daemon`);
    } else {
      const outcome = await exchange(new FdChannel(lane.fd, MAX_CLIENT_FRAME), frame, fds, options, lane.route, [], debug, session);
      if (!('declined' in outcome)) return outcome;
      debug?.(`${outcome.why}; asking the daemon`);
      // Signals that came while the lane decided: the daemon's run gets them (the Node API
      // replays its own to each new control, below).
      held = options.onControl ? [] : outcome.held;
    }
    let daemon = tryConnect(paths);
    if (daemon === null && options.cold) {
      // A cold run: python now, and a daemon that warms the zygote for the next run meanwhile.
      startDaemonWarming(paths, options.env, request);
      return { direct: 'cold-start: no daemon listening; started one to warm the zygote for the next run' };
    }
    daemon ??= await connectOrStart(paths, options.env);
    const channel = new FdChannel(daemon, MAX_CLIENT_FRAME);
    const outcome = await exchange(channel, frame, fds, options, null, held, debug, session);
    if ('declined' in outcome) throw new Error('internal: the daemon declined');
    return outcome;
  } finally {
    if (cwdFd !== null) closeQuietly(cwdFd);
  }
}

/**
 * Sends the request and follows the run to its end. From a lane (`route` names it), a run
 * declined (or a lane closed) before it started resolves `{ declined }` with the signals held
 * meanwhile and why: nothing ran. `session`: the run joins our process group (a terminal
 * session's run), and gets the terminal's signals itself.
 */
function exchange(channel: FdChannel, frame: Buffer, fds: number[], options: ClientOptions, route: string | null,
  carried: NodeJS.Signals[], debug: DebugWriter | undefined, session?: [number, number]): Promise<Exchanged | { declined: true; held: NodeJS.Signals[]; why: string }> {
  const lane = route !== null;
  const inOurGroup = session !== undefined;
  const itsOwn = terminalJobSignals(session);
  return new Promise((resolve, reject) => {
    let pid: number | null = null;
    let settled = false;
    // A lane's run is someone's only once it has started: signals wait until then.
    const held: NodeJS.Signals[] = [];
    const sendSignal = (signal: NodeJS.Signals): void => {
      if (lane && pid === null) held.push(signal);
      else channel.send({ type: 'signal', signal });
    };
    const forwarders = new Map<NodeJS.Signals, () => void>();
    // A call's request carries its value channel, a socket: until a process has received it
    // (`started`, or the exchange is over) this process's socket closes wait (socket-closes.ts).
    const landed = options.carriesSocket ? socketInFlight() : () => undefined;
    const settle = (fn: () => void): void => {
      landed();
      if (settled) return;
      settled = true;
      for (const [signal, handler] of forwarders) process.removeListener(signal, handler);
      fn();
    };
    const decline = (why: string): void => {
      settle(() => resolve({ declined: true, held, why }));
      channel.destroy();
    };
    if (options.forwardSignals) {
      // Ctrl-Z reaches the client only (the run is not in the terminal's job): it is passed
      // on, and once the run has stopped ('stopped' below) we stop too; `fg` continues us, and
      // we continue the run. A script that handles SIGTSTP does not stop, and neither do we.
      for (const signal of [...FORWARDED_SIGNALS, 'SIGTSTP', 'SIGCONT'] as NodeJS.Signals[]) {
        if (options.caller?.signals?.ignored.includes(signalNumber(signal) ?? 0)) continue; // ignored here and in the run
        // (In our group the run had its own; Node cannot tell a terminal's from a kill(1) of us.)
        const handler = (): void => { if (!(pid !== null && itsOwn.has(signal))) sendSignal(signal); };
        forwarders.set(signal, handler);
        process.on(signal, handler);
      }
    }
    channel.on('frame', ({ message, fds: stray }) => {
      const reply = message as unknown as RunReply | LaneDecline;
      if (reply.type === 'start-zygote' && !lane) return startSessionZygote(reply, stray, debug);
      stray.forEach(closeQuietly);
      if (lane && pid === null && reply.type !== 'started') return decline(declineReason(reply));
      if (reply.type === 'started') {
        landed();
        pid = reply.pid;
        if (lane) debug?.(`lane taken (route ${route})`);
        options.onStarted?.(reply.pid);
        if (lane) held.splice(0).forEach(sendSignal);
      } else if (reply.type === 'stopped') {
        // In our group, the terminal stopped us with it, and `fg` may have continued both by
        // the time this comes: stop only if it is still stopped.
        if (options.forwardSignals && (!inOurGroup || isStopped(pid))) process.kill(process.pid, 'SIGSTOP');
      } else if (reply.type === 'exit') {
        const signo = typeof reply.signal === 'number' ? reply.signal : null;
        settle(() => resolve({
          exitCode: signo === null ? Number(reply.code ?? 0) : null,
          signal: signo === null ? null : signalName(signo),
          signo,
          core: reply.core === true,
          pid,
        }));
        channel.destroy();
      } else if (reply.type === 'direct') {
        settle(() => resolve({ direct: String(reply.reason) }));
        channel.destroy();
      } else if (reply.type === 'error') {
        settle(() => reject(new PynwheelError(reply.code, reply.message, { reason: reply.reason })));
        channel.destroy();
      }
    });
    channel.on('close', (err) => {
      landed();
      if (lane && pid === null) return decline('lane closed (lane-closed)');
      if (err instanceof PynwheelError && err.code === 'EVERSION' && pid === null) return settle(() => reject(err));
      // On a lane the zygote says so when the daemon's end ends the run: a bare close there is
      // the zygote's own end (killed), not the daemon's.
      const lost = lane ? ['EZYGOTE', "the run's Python zygote ended during the run"] as const : ['EDAEMON', 'lost the pynwheel daemon during the run'] as const;
      settle(() => reject(new PynwheelError(lost[0], `${lost[1]}${err ? ` (${err.message})` : ''}`)));
    });
    channel.sendEncoded(frame, fds);
    carried.forEach(sendSignal);
    options.onControl?.(sendSignal);
  });
}

/**
 * A lane's reply other than `started`, in words: `{decline, reason: code, message}`, or the
 * older `{decline, reason: sentence}`; either way the run did not start.
 */
function declineReason(reply: RunReply | LaneDecline): string {
  if (reply.type !== 'decline') return `lane answered ${JSON.stringify(reply.type)}`;
  const reason = typeof reply.reason === 'string' ? reply.reason : 'no reason given';
  return `lane declined: ${reason}${typeof reply.message === 'string' ? ` (${reply.message})` : ''}`;
}


/** An fd of the caller's cwd: the run chdirs by fd, so a renamed or deleted cwd still works. */
function openDirectory(dir: string): number | null {
  try {
    return fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch {
    return null;
  }
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v;
  return out;
}
