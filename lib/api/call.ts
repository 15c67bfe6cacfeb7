// Runs in a Node API caller's process.
// call(), bind(), iterate(): a Python function's value, each call a fork of a warm zygote (run()'s
// machinery: PythonProcess, launch, the daemon or a lane) whose function's value comes back on a
// channel of its own (a socketpair passed with the request, RunRequest.call), never on stdout.
import { availableParallelism } from 'node:os';
import { FdChannel } from '../shared/channel';
import { closeQuietly } from '../shared/fds';
import { native } from '../shared/native';
import { MAX_ZYGOTE_FRAME } from '../shared/protocol-constants';
import type { Frame } from '../shared/wire';
import { CallValueError, encodeValue, type Tree } from './codec';
import { CallDiedError, CallTargetError, PythonError, type PythonException, type RunFailure, type RunResult } from './errors';
import { normalizeOptions, type RunOptions } from './options';
import { PythonProcess } from './python-process';
import { prepareValue, receiveValue, sendValue } from './value-channel';

export interface CallOptions extends Omit<RunOptions, 'module' | 'args' | 'scriptPath' | 'reject' | 'mode' | 'input'> {
  /** Keyword arguments of the function. */
  kwargs?: Record<string, unknown>;
  /** At most this many calls of this process run at once (the rest wait); default: the number of cores. */
  concurrency?: number;
}

/** What a target names: a file or a module, and the function's attribute path in it. */
export interface ParsedTarget { file?: string; module?: string; attribute: string }

/** How long frames may still come in after the call's process has ended (they are in the socket already). */
const AFTER_EXIT_MS = 100;
const ATTRIBUTE_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const MODULE_NAME = /^[\p{L}_][\p{L}\p{N}_]*(\.[\p{L}_][\p{L}\p{N}_]*)*$/u;

/** 'pkg.mod:f', 'pkg.mod:Class.method', './file.py:f' (relative to cwd). */
export function parseTarget(target: string): ParsedTarget {
  if (typeof target !== 'string') throw new TypeError('pynwheel: a call target must be a string such as "pkg.mod:function" or "./file.py:function"');
  const colon = target.lastIndexOf(':');
  const where = colon < 0 ? '' : target.slice(0, colon);
  const attribute = colon < 0 ? '' : target.slice(colon + 1);
  if (!where || !ATTRIBUTE_PATH.test(attribute)) {
    throw new TypeError(`pynwheel: call target ${JSON.stringify(target)} is not "module:function" or "./file.py:function" (a function's attribute path after the colon)`);
  }
  if (where.endsWith('.py') || where.includes('/')) return { file: where, attribute };
  if (!MODULE_NAME.test(where)) throw new TypeError(`pynwheel: call target ${JSON.stringify(target)}: ${JSON.stringify(where)} is neither a module name nor a .py file`);
  return { module: where, attribute };
}

/** Calls the function; resolves its return value (an `async def`'s awaited result). */
export async function call(target: string, args?: readonly unknown[], options?: CallOptions): Promise<unknown> {
  const session = await CallSession.start(target, args, options, 'call');
  return session.outcome();
}

/** The target as an async JavaScript function: `const f = bind('m.py:f'); await f(1, 2)`. */
export function bind(target: string, options?: CallOptions): (...args: unknown[]) => Promise<unknown> {
  parseTarget(target); // a bad target fails here, not at the first call
  const bound = (...args: unknown[]): Promise<unknown> => call(target, args, options);
  Object.defineProperty(bound, 'name', { value: target });
  return bound;
}

/**
 * The values of a generator (or async generator, or any iterable the function returns), each as
 * it is produced: the next is asked for only when the loop wants it, so the producer waits for a
 * reader that does not read. Leaving the loop ends the call.
 */
export async function* iterate(target: string, args?: readonly unknown[], options?: CallOptions): AsyncGenerator<unknown, void, undefined> {
  const session = await CallSession.start(target, args, options, 'iterate');
  let finished = false;
  try {
    for (;;) {
      session.send({ type: 'next' });
      const frame = await session.nextFrame();
      if (frame === null || frame.message.type !== 'item') {
        finished = true;
        await session.outcome(frame);
        return;
      }
      yield receiveValue(frame);
    }
  } finally {
    if (!finished) await session.abandon();
  }
}

/** Calls running in this process, and those waiting for a place (`concurrency`). */
const places = { running: 0, waiting: [] as Array<{ limit: number; go: () => void }> };

function takePlace(limit: number): Promise<void> {
  if (places.running < limit) {
    places.running++;
    return Promise.resolve();
  }
  return new Promise((go) => places.waiting.push({ limit, go: () => { places.running++; go(); } }));
}

function givePlace(): void {
  places.running--;
  const next = places.waiting.findIndex((w) => places.running < w.limit);
  if (next >= 0) places.waiting.splice(next, 1)[0].go();
}

/** One call: its process (a run of run()'s kind) and its value channel. */
class CallSession {
  private readonly frames: Frame[] = [];
  private waiter: ((frame: Frame | null) => void) | null = null;
  private closed = false;
  private readonly channel: FdChannel;
  private readonly process: PythonProcess;
  private readonly ended: Promise<RunResult | Error>;
  private readonly memfd: number | null;
  private placeHeld = true;

  static async start(target: string, args: readonly unknown[] | undefined, options: CallOptions | undefined, mode: 'call' | 'iterate'): Promise<CallSession> {
    const parsed = parseTarget(target);
    if (args !== undefined && !Array.isArray(args)) throw new TypeError('pynwheel: a call\'s arguments must be an array');
    const opts = options ?? {};
    const kwargs = opts.kwargs ?? {};
    if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) throw new TypeError('pynwheel: options.kwargs must be an object');
    const a = encodeValue([...(args ?? [])], 'args');
    const k = encodeValue(kwargs, 'kwargs');
    const shift = a.blobs.length;
    const tree = { args: a.tree, kwargs: shiftBlobs(k.tree, shift) } as Tree;
    const limit = opts.concurrency ?? availableParallelism();
    if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError('pynwheel: options.concurrency must be an integer >= 1');
    await takePlace(limit);
    try {
      return new CallSession(target, parsed, opts, mode, { tree, blobs: [...a.blobs, ...k.blobs] });
    } catch (err) {
      givePlace();
      throw err;
    }
  }

  private constructor(private readonly target: string, parsed: ParsedTarget, options: CallOptions,
    mode: 'call' | 'iterate', encoded: { tree: Tree; blobs: Uint8Array[] }) {
    // Only what can fail comes before the run starts; the channel is set up and the arguments
    // sent while the run's spare accepts and checks the request.
    const outgoing = prepareValue({ type: 'call', mode }, encoded);
    let mine: number;
    let theirs: number;
    try {
      [mine, theirs] = native.socketpair();
    } catch (err) {
      if (outgoing.memfd !== null) closeQuietly(outgoing.memfd);
      throw err;
    }
    try {
      const { kwargs: _kwargs, concurrency: _concurrency, ...runOptions } = options;
      const normalized = normalizeOptions(parsed.module ?? parsed.file!, [parsed.attribute], {
        ...runOptions,
        module: parsed.module !== undefined,
        stdio: options.stdio ?? ['ignore', 'inherit', 'inherit'],
        reject: false,
      });
      this.process = new PythonProcess({ ...normalized, callFd: theirs }, true);
    } catch (err) {
      // Bad options: nothing started; nothing of the call's is left open.
      closeQuietly(theirs);
      closeQuietly(mine);
      if (outgoing.memfd !== null) closeQuietly(outgoing.memfd);
      throw err;
    }
    this.channel = new FdChannel(mine, MAX_ZYGOTE_FRAME);
    this.channel.on('frame', (frame) => this.onFrame(frame));
    this.channel.on('close', () => {
      this.closed = true;
      this.deliver(null);
    });
    sendValue(this.channel, outgoing);
    const memfd = outgoing.memfd;
    this.memfd = memfd;
    let theirsOpen = true;
    const closeTheirs = (): void => { if (theirsOpen) { theirsOpen = false; closeQuietly(theirs); } };
    // Only once started: closing it while the request that carries it is in flight costs the kernel a collection.
    this.process.once('spawn', closeTheirs);
    this.ended = this.process.result.then((r) => r as RunResult, (err: Error) => err).finally(() => {
      closeTheirs();
      this.release();
    });
  }

  send(message: Record<string, unknown>): void {
    this.channel.send(message);
  }

  /** The next frame from the call's process, or null once the channel has closed. */
  nextFrame(): Promise<Frame | null> {
    const frame = this.frames.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => { this.waiter = resolve; });
  }

  /**
   * The call's value, or its failure. `frame` is a last frame already read (iterate()'s "done"
   * or "error"). Waits for the process to end too: no call outlives its promise.
   */
  async outcome(frame?: Frame | null): Promise<unknown> {
    // The channel's end: a result, an error, or EOF; or, a moment after the process ended, nothing
    // (a process the function forked may hold the channel open after the call died).
    const last = frame !== undefined ? frame : await Promise.race([
      this.nextFrame(),
      this.ended.then(() => new Promise<Frame | null>((resolve) => setTimeout(() => resolve(this.frames.shift() ?? null), AFTER_EXIT_MS))),
    ]);
    if (last !== null && (last.message.type === 'result' || last.message.type === 'done')) {
      // The value is in; once the exit steps are done (threads joined, atexit run, stdio
      // flushed) the channel says so, and the call is over: the zygote's word that the process
      // has gone, which comes after it is scheduled, need not be waited for.
      const value = last.message.type === 'result' ? receiveValue(last) : undefined;
      const end = await Promise.race([this.nextFrame(), this.ended]);
      if (end !== null && !(end instanceof Error) && 'message' in end && end.message.type === 'status') {
        this.finish();
        this.release();
        return value;
      }
      const ended = await this.ended;
      this.finish();
      if (ended instanceof Error) throw ended;
      return value;
    }
    const ended = await this.ended;
    this.finish();
    if (ended instanceof Error) throw ended; // timeout, abort, a daemon's or protocol's error
    const failure = this.failure(ended);
    if (last === null) throw new CallDiedError(failure, this.target);
    const { message } = last;
    if (message.type === 'result') return receiveValue(last);
    if (message.type === 'done') return undefined;
    if (message.type === 'error') throw this.error(message.error as Failure, failure);
    throw new CallDiedError(failure, this.target);
  }

  /** iterate()'s loop was left early: closing the channel ends the generator at its next value; the process then ends. */
  async abandon(): Promise<void> {
    this.channel.destroy();
    await this.ended;
    this.finish();
  }

  private onFrame(frame: Frame): void {
    this.frames.push(frame);
    this.deliver(this.frames.shift()!);
  }

  private deliver(frame: Frame | null): void {
    const waiter = this.waiter;
    if (waiter === null) {
      if (frame !== null) this.frames.unshift(frame);
      return;
    }
    this.waiter = null;
    waiter(frame);
  }

  private finish(): void {
    this.channel.destroy();
    if (this.memfd !== null) closeQuietly(this.memfd);
    for (const frame of this.frames.splice(0)) frame.fds.forEach(closeQuietly);
  }

  private release(): void {
    if (!this.placeHeld) return;
    this.placeHeld = false;
    givePlace();
  }

  private failure(result: RunResult): RunFailure {
    return {
      exitCode: result.exitCode,
      signal: result.signal,
      stdout: result.stdout ?? null,
      stderr: result.stderr ?? null,
      durationMs: result.durationMs,
      pid: this.process.pid,
      command: this.process.spawnargs,
    };
  }

  private error(failure: Failure, run: RunFailure): Error {
    const exception = failure.exception ? new PythonError(run, failure.exception) : undefined;
    switch (failure.kind) {
      case 'exception': case 'exit': return exception ?? new CallDiedError(run, this.target);
      case 'missing': return new CallTargetError(run, this.target, 'ENOTARGET', failure.message ?? 'no such target');
      case 'not-callable': return new CallTargetError(run, this.target, 'ENOTCALLABLE', failure.message ?? 'not callable');
      case 'import': return new CallTargetError(run, this.target, 'EIMPORT', failure.message ?? 'its module failed to import', exception);
      case 'encode': return new CallValueError(failure.where ?? 'result', failure.valueType ?? 'a value', 'the codec has no form for it');
      default: return new TypeError(`pynwheel: ${failure.message ?? 'the call failed'}`);
    }
  }
}

interface Failure {
  kind: 'exception' | 'exit' | 'missing' | 'not-callable' | 'import' | 'encode' | 'not-iterable' | 'protocol';
  message?: string;
  exception?: PythonException;
  code?: number;
  where?: string;
  valueType?: string;
}

/** kwargs' blob indexes, after those of args. */
function shiftBlobs(tree: Tree, by: number): Tree {
  if (by === 0 || tree === null || typeof tree !== 'object') return tree;
  if (Array.isArray(tree)) return tree.map((t) => shiftBlobs(t, by));
  const out: { [key: string]: Tree } = {};
  for (const [key, value] of Object.entries(tree)) out[key] = shiftBlobs(value, by);
  if (typeof tree['$pn'] === 'string' && typeof tree.b === 'number' && (tree['$pn'] === 'bytes' || tree['$pn'] === 'ndarray')) out.b = tree.b + by;
  return out;
}
