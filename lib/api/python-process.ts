// Runs in a Node API caller's process.
// The ChildProcess-like object behind spawn() and run(). Its stdio are our ends of the run's pipes;
// the run itself is a fork of the zygote (not our child), so pid, kill() and the exit come
// through the daemon's connection.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import { environmentFor, resolveInterpreter } from '../client/interpreter';
import type { RunOutcome } from '../client/run-client';
import { signalName, signalNumber } from '../shared/signals';
import { AbortError, JsonLineError, MaxBufferError, PythonError, TimeoutError, type RunFailure, type RunResult } from './errors';
import { launch, pythonCommand, type LaunchRequest } from './launch';
import type { NormalizedOptions } from './options';
import { BadJsonLine, Capture, decodeStderr, decodeStdout } from './output';
import { planPythonOptions } from './python-options';
import { createStdio, ignoreBrokenPipe, type StdioSetup } from './stdio';

export interface PythonProcessEvents {
  spawn: [];
  exit: [code: number | null, signal: NodeJS.Signals | null];
  close: [code: number | null, signal: NodeJS.Signals | null];
  error: [err: Error];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class PythonProcess<Result extends RunResult<any, any> = RunResult> extends EventEmitter<PythonProcessEvents> {
  readonly stdin: Writable | null = null;
  readonly stdout: Readable | null = null;
  readonly stderr: Readable | null = null;
  /** The run's pid once it has started ('spawn'); undefined before, or if it never did. */
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** True once kill() has sent a signal. */
  killed = false;
  /** As python would be run: [interpreter, ...flags, file, ...args]. */
  readonly spawnargs: string[];
  /** Settles when the run has ended and its output is read: the same as run()'s promise. */
  readonly result: Promise<Result>;

  private readonly options: NormalizedOptions;
  private readonly startedAt = performance.now();
  private readonly stdioSetup: StdioSetup | null = null;
  private readonly captures: { stdout: Capture | null; stderr: Capture | null } = { stdout: null, stderr: null };
  private settle!: { resolve: (r: Result) => void; reject: (e: Error) => void };
  private sendSignal: ((signal: NodeJS.Signals) => void) | null = null;
  /** Signals asked for before the run started, replayed if the request has to be sent again. */
  private readonly earlySignals: NodeJS.Signals[] = [];
  private started = false;
  /** run(): stdin is ended (after `input`, if any) once the run has started. */
  private endStdinWhenStarted = false;
  private ended = false;
  private why: { kind: 'abort'; reason: unknown } | { kind: 'timeout' } | { kind: 'maxBuffer'; stream: 'stdout' | 'stderr' } | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly onAbort = (): void => this.terminate({ kind: 'abort', reason: this.options.signal?.reason });

  /**
   * Use spawn() or run(). For run() (`forRun`), nobody else can write to stdin or read the
   * output: stdin is closed unless there is `input`, and output not buffered is discarded.
   */
  /** Streams whose output is held back until the run has started. */
  private heldReaders: Readable[] = [];

  constructor(options: NormalizedOptions, forRun: boolean) {
    super();
    this.options = options;
    this.spawnargs = [options.python ?? 'python3', ...options.pythonOptions, ...(options.module ? ['-m'] : []), options.file, ...options.args];
    this.result = new Promise<Result>((resolve, reject) => { this.settle = { resolve, reject }; });
    this.result.catch(() => undefined); // a caller that only listens to events gets no unhandled rejection
    if (options.input !== undefined && options.stdio[0] !== 'pipe') {
      throw new TypeError("pynwheel: options.input needs stdin 'pipe'");
    }
    if (options.signal?.aborted) {
      // Aborted before it began: nothing is started at all.
      this.fail(new AbortError(this.failure(null), options.signal.reason));
      return;
    }
    this.stdioSetup = createStdio(options.stdio);
    ({ stdin: this.stdin, stdout: this.stdout, stderr: this.stderr } = this.stdioSetup);
    if (options.buffer) this.capture();
    else if (forRun) [this.stdout, this.stderr].forEach((stream) => stream?.resume());
    // Output waits in the kernel until 'spawn' (the run's started message and its first output
    // travel on different sockets): as with ChildProcess, 'spawn' and the pid come first.
    this.heldReaders = this.stdioSetup.readers.filter((reader) => reader.readableFlowing === true);
    this.heldReaders.forEach((reader) => reader.pause());
    this.endStdinWhenStarted = forRun;
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (options.timeout > 0) this.timers.push(setTimeout(() => this.terminate({ kind: 'timeout' }), options.timeout));
    void this.begin();
  }

  get stdio(): [Writable | null, Readable | null, Readable | null] {
    return [this.stdin, this.stdout, this.stderr];
  }

  /** Sends `signal` (default SIGTERM) to the run; false once it has ended. As ChildProcess.kill. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const name = (typeof signal === 'number' ? (signal === 0 ? null : signalName(signal)) : signal) as NodeJS.Signals | null;
    if (name !== null && signalNumber(name) === undefined) {
      throw Object.assign(new TypeError(`Unknown signal: ${String(signal)}`), { code: 'ERR_UNKNOWN_SIGNAL' });
    }
    if (this.ended || this.exitCode !== null || this.signalCode !== null || !this.stdioSetup) return false;
    if (name === null) return true; // signal 0: is it still running
    if (!this.started) this.earlySignals.push(name);
    this.sendSignal?.(name);
    this.killed = true;
    return true;
  }

  private async begin(): Promise<void> {
    const { options } = this;
    const setup = this.stdioSetup!;
    let request: LaunchRequest | null = null;
    try {
      const interpreter = resolveInterpreter(options.python, options.env, options.cwd, options.module ? options.file : undefined);
      request = {
        interpreter,
        target: {
          ...(options.module ? { module: options.file } : { file: options.file }),
          args: options.args,
          ...(options.callFd !== undefined ? { call: options.callFd } : {}),
        },
        cwd: options.cwd,
        env: environmentFor(interpreter, options.env),
        pythonOptions: options.pythonOptions,
        plan: planPythonOptions(options.pythonOptions, options.env),
        stdio: setup.childFds,
      };
      this.spawnargs.splice(0, this.spawnargs.length, ...pythonCommand(request));
      const outcome = await launch(request, {
        control: (send) => {
          this.sendSignal = send;
          this.earlySignals.forEach(send);
        },
        started: (pid) => {
          this.started = true;
          this.earlySignals.length = 0;
          this.pid = pid;
          setup.closeChildEnds(); // the run has its own copies: EOF comes when it closes them
          // Only now: closing a socket while an SCM_RIGHTS message is in flight (the request
          // carrying its peer) makes the kernel collect in-flight fds, about 0.7 ms a run.
          this.feedStdin(this.endStdinWhenStarted);
          this.emit('spawn');
          this.heldReaders.splice(0).forEach((reader) => reader.resume());
        },
      });
      this.onExit(outcome);
    } catch (err) {
      setup.destroy();
      this.fail(err as Error);
    } finally {
      setup.closeChildEnds();
      this.sendSignal = null;
    }
  }

  private onExit(outcome: RunOutcome): void {
    this.exitCode = outcome.exitCode;
    this.signalCode = outcome.signal as NodeJS.Signals | null;
    this.clearLimits();
    this.emit('exit', this.exitCode, this.signalCode);
    this.stdin?.destroy(); // as ChildProcess: nobody reads it any more
    // As ChildProcess's flushStdio: output nobody ever listened to is drained (on the next tick,
    // a last chance to start reading), so that its 'end' and our 'close' still come.
    process.nextTick(() => {
      for (const reader of [this.stdout, this.stderr]) {
        if (reader && reader.readable && !(reader as Readable & { _readableState: { readableListening: boolean } })._readableState.readableListening) reader.resume();
      }
    });
    // 'close' once the output is all read: the run's own children may still hold its pipes.
    const open = this.stdioSetup!.readers.filter((reader) => !reader.closed);
    let remaining = open.length + 1;
    const whenClosed = (): void => {
      if (--remaining > 0) return;
      this.emit('close', this.exitCode, this.signalCode);
      this.finish();
    };
    for (const reader of open) reader.once('close', whenClosed);
    process.nextTick(whenClosed);
  }

  /** Everything is in: resolve, or reject with why the run failed. */
  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    const { options } = this;
    let stdout: RunResult['stdout'] = null as unknown as RunResult['stdout'];
    let jsonError: BadJsonLine | null = null;
    try {
      stdout = this.captures.stdout ? decodeStdout(this.captures.stdout.bytes(), options.mode, options.encoding) : (null as unknown as RunResult['stdout']);
    } catch (err) {
      if (!(err instanceof BadJsonLine)) throw err;
      jsonError = err;
    }
    const failure = this.failure(jsonError ? jsonError.parsed : stdout);
    if (this.why?.kind === 'abort') return this.settle.reject(new AbortError(failure, this.why.reason));
    if (this.why?.kind === 'timeout') return this.settle.reject(new TimeoutError(failure, options.timeout));
    if (this.why?.kind === 'maxBuffer') return this.settle.reject(new MaxBufferError(failure, this.why.stream));
    if (options.reject && (this.exitCode !== 0 || this.signalCode !== null)) return this.settle.reject(new PythonError(failure));
    if (jsonError) return this.settle.reject(new JsonLineError(failure, jsonError.line, jsonError.cause));
    this.settle.resolve({
      exitCode: this.exitCode,
      signal: this.signalCode,
      stdout: failure.stdout,
      stderr: failure.stderr,
      durationMs: failure.durationMs,
    } as Result);
  }

  private fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.clearLimits();
    this.settle.reject(err);
    // As ChildProcess, later than the call; but an unheard 'error' must not crash a caller that
    // only awaits `result`.
    process.nextTick(() => { if (this.listenerCount('error') > 0) this.emit('error', err); });
  }

  private failure(stdout: RunFailure['stdout']): RunFailure {
    const { options } = this;
    return {
      exitCode: this.exitCode,
      signal: this.signalCode,
      stdout: stdout ?? null,
      stderr: this.captures.stderr ? decodeStderr(this.captures.stderr.bytes(), options.mode, options.encoding) : null,
      durationMs: Math.round((performance.now() - this.startedAt) * 1000) / 1000,
      pid: this.pid,
      command: this.spawnargs,
    };
  }

  private capture(): void {
    const { maxBuffer } = this.options;
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = this[name];
      if (!stream) continue;
      this.captures[name] = new Capture(stream, maxBuffer, () => {
        this.terminate({ kind: 'maxBuffer', stream: name });
        stream.destroy(); // stop reading; the run is on its way out
      });
    }
  }

  private feedStdin(endIt: boolean): void {
    const { stdin } = this;
    const { input } = this.options;
    if (!stdin) return;
    if (input === undefined) {
      if (endIt) stdin.end();
      return;
    }
    stdin.on('error', ignoreBrokenPipe);
    if (typeof input === 'string' || input instanceof Uint8Array) stdin.end(input);
    else (input as Readable).pipe(stdin);
  }

  /** Timeout, abort, maxBuffer: killSignal now, SIGKILL if the run is still there later. */
  private terminate(why: NonNullable<PythonProcess['why']>): void {
    if (this.ended || this.exitCode !== null || this.signalCode !== null) return;
    this.why ??= why;
    this.kill(this.options.killSignal);
    const force = setTimeout(() => this.kill('SIGKILL'), this.options.forceKillAfterDelay);
    force.unref();
    this.timers.push(force);
  }

  private clearLimits(): void {
    this.timers.splice(0).forEach(clearTimeout);
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }
}
