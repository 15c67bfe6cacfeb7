// Runs in a Node API caller's process.
// python-shell 5's PythonShell, each shell a pynwheel run (a warm fork, spawn()'s pipes) instead
// of a spawned python. Its logic (options merged over defaultOptions, line splitting, when
// 'close' and 'pythonError' come, what `command` holds) is python-shell's, step for step,
// because programs and tests read even its accidents.
import { exec, execSync, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { writeFile, writeFileSync } from 'node:fs';
import { EOL, tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import type { Readable, Transform, Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { RunOptions } from '../api/options';
import { PythonProcess } from '../api/python-process';
import { spawn } from '../api/spawn';
import { PynwheelError } from '../shared/errors';
import { parsePythonError, PythonShellError, spawnError } from './errors';
import { NewlineTransformer } from './newline-transformer';

export interface Options extends SpawnOptions {
  /** 'binary': no 'message' or 'stderr' events, send() writes as is. */
  mode?: 'text' | 'json' | 'binary';
  formatter?: string | ((param: string) => any);
  parser?: string | ((param: string) => any);
  stderrParser?: string | ((param: string) => any);
  encoding?: BufferEncoding;
  pythonPath?: string;
  /** python's own flags (-u, -O, -W arg, ...) */
  pythonOptions?: string[];
  /** The directory the script is in (joined before it, as python-shell does). */
  scriptPath?: string;
  /** The script's arguments. */
  args?: string[];
}

type Converter = (data: any) => any;

const execPromise = promisify(exec);

function toArray<T>(source?: T | T[] | null): T[] {
  if (source === undefined || source === null) return [];
  return Array.isArray(source) ? source : [source];
}

/** python-shell's extend(): own and inherited enumerable keys, later sources win. */
function extend<T extends object>(target: T, ...sources: Array<object | null | undefined>): T {
  for (const source of sources) {
    if (!source) continue;
    // eslint-disable-next-line guard-for-in
    for (const key in source) (target as Record<string, unknown>)[key] = (source as Record<string, unknown>)[key];
  }
  return target;
}

function randomInt(): number {
  return Math.floor(Math.random() * 10000000000);
}

/** What child_process.spawn takes that a pynwheel run takes too; the rest are python-shell's own or do not apply. */
function runOptionsFor(options: Options, python: string, pythonOptions: string[], target: { module: boolean; args: string[] }): RunOptions {
  return {
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.stdio !== undefined ? { stdio: options.stdio as RunOptions['stdio'] } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.killSignal !== undefined ? { killSignal: options.killSignal } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    pythonPath: python,
    pythonOptions,
    module: target.module,
    args: target.args,
    buffer: false, // a shell may talk for hours: output is the caller's to read, not kept
  };
}

export class PythonShell extends EventEmitter {
  scriptPath: string;
  /** As python-shell: [...pythonOptions, script, ...args], without the interpreter. */
  command: string[];
  mode: string;
  formatter: ((param: string | object) => any) | undefined;
  parser: ((param: string) => any) | undefined;
  stderrParser: ((param: string) => any) | undefined;
  terminated: boolean;
  /** The run: a ChildProcess-like PythonProcess (pid, kill, 'exit', stdio). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  childProcess: PythonProcess<any>;
  stdin!: Writable;
  stdout!: Readable;
  stderr!: Readable;
  exitSignal!: string;
  exitCode!: number;
  private stderrHasEnded = false;
  private stdoutHasEnded = false;
  private _endCallback: ((err: PythonShellError, exitCode: number, exitSignal: string) => any) | undefined;

  /** Starting 2020 python 2 is deprecated: python3, as python-shell. */
  static defaultPythonPath = 'python3';
  /** Options every shell starts from (python-shell's global overrides). */
  static defaultOptions: Options = {};

  static format: { text: (data: any) => string; json: (data: any) => string } = {
    text: function toText(data: any): string {
      if (!data) return '';
      if (typeof data !== 'string') return data.toString();
      return data;
    },
    json: function toJson(data: any): string {
      return JSON.stringify(data);
    },
  };

  static parse: { text: (data: any) => string; json: (data: string) => any } = {
    text: function asText(data: any): string {
      return data;
    },
    json: function asJson(data: string): any {
      return JSON.parse(data);
    },
  };

  constructor(scriptPath: string, options?: Options, stdoutSplitter: Transform | null = null, stderrSplitter: Transform | null = null) {
    super();
    const resolve = (type: 'format' | 'parse', val: unknown): Converter | undefined => {
      if (typeof val === 'string') return (PythonShell[type] as Record<string, Converter>)[val];
      if (typeof val === 'function') return val as Converter;
      return undefined;
    };
    if (scriptPath.trim().length === 0) throw Error('scriptPath cannot be empty! You must give a script for python to run');
    let errorData = '';
    const merged: Options = extend({}, PythonShell.defaultOptions, options);
    const pythonPath = merged.pythonPath ? merged.pythonPath : PythonShell.defaultPythonPath;
    const pythonOptions = toArray(merged.pythonOptions);
    const scriptArgs = toArray(merged.args);
    this.scriptPath = join(merged.scriptPath || '', scriptPath);
    this.command = pythonOptions.concat(this.scriptPath, scriptArgs);
    this.mode = merged.mode || 'text';
    this.formatter = resolve('format', merged.formatter || this.mode) as PythonShell['formatter'];
    this.parser = resolve('parse', merged.parser || this.mode) as PythonShell['parser'];
    // python-shell: nobody is expected to format stderr as JSON, so it defaults to text.
    this.stderrParser = resolve('parse', merged.stderrParser || 'text') as PythonShell['stderrParser'];
    this.terminated = false;
    // `python -m MODULE ARGS` given as the script '-m' and the arguments, as python-shell users write it.
    const target = this.scriptPath === '-m' && scriptArgs.length > 0
      ? { file: scriptArgs[0], module: true, args: scriptArgs.slice(1) }
      : { file: this.scriptPath, module: false, args: scriptArgs };
    this.childProcess = spawn(target.file, runOptionsFor(merged, pythonPath, pythonOptions, target));

    for (const name of ['stdout', 'stdin', 'stderr'] as const) {
      const stream = this.childProcess[name] as (Readable & Writable) | null;
      (this as Record<string, unknown>)[name] = stream;
      if (this.parser && stream) stream.setEncoding(merged.encoding || 'utf8');
    }
    // Output comes in chunks that do not respect lines: 'message' is one line each.
    if (this.parser && this.stdout) {
      const splitter = stdoutSplitter ?? new NewlineTransformer();
      splitter.setEncoding(merged.encoding || 'utf8');
      this.stdout.pipe(splitter).on('data', (chunk) => this.emit('message', this.parser!(chunk)));
    }
    if (this.stderrParser && this.stderr) {
      const splitter = stderrSplitter ?? new NewlineTransformer();
      splitter.setEncoding(merged.encoding || 'utf8');
      this.stderr.pipe(splitter).on('data', (chunk) => this.emit('stderr', this.stderrParser!(chunk)));
    }
    if (this.stderr) {
      this.stderr.on('data', (data) => { errorData += `${data}`; });
      this.stderr.on('end', () => {
        this.stderrHasEnded = true;
        terminateIfNeeded();
      });
    } else {
      this.stderrHasEnded = true;
    }
    if (this.stdout) {
      this.stdout.on('end', () => {
        this.stdoutHasEnded = true;
        terminateIfNeeded();
      });
    } else {
      this.stdoutHasEnded = true;
    }
    // A run's output can come before its 'spawn' (they travel on different sockets): held
    // until then, so that a 'message' handler sees childProcess.pid, as with a spawned python.
    const held = [this.stdout, this.stderr].filter((stream): stream is Readable => !!stream && stream.readableFlowing === true);
    held.forEach((stream) => stream.pause());
    this.childProcess.once('spawn', () => held.forEach((stream) => stream.resume()));
    this.childProcess.on('error', (err) => this.emit('error', asSpawnError(err, pythonPath, this.command)));
    this.childProcess.on('exit', (code, signal) => {
      this.exitCode = code as number;
      this.exitSignal = signal as string;
      terminateIfNeeded();
    });

    const terminateIfNeeded = (): void => {
      if (!this.stderrHasEnded || !this.stdoutHasEnded || (this.exitCode == null && this.exitSignal == null)) return;
      let err: PythonShellError | undefined;
      if (this.exitCode && this.exitCode !== 0) {
        err = errorData ? parsePythonError(errorData) : new PythonShellError(`process exited with code ${this.exitCode}`);
        err = extend(err, {
          executable: pythonPath,
          options: pythonOptions.length ? pythonOptions : null,
          script: this.scriptPath,
          args: scriptArgs.length ? scriptArgs : null,
          exitCode: this.exitCode,
        });
        // python-shell: not emitted when only an end() callback is there to hear it.
        if (this.listeners('pythonError').length || !this._endCallback) this.emit('pythonError', err);
      }
      this.terminated = true;
      this.emit('close');
      this._endCallback?.(err as PythonShellError, this.exitCode, this.exitSignal);
    };
  }

  /** Checks code's syntax without running it; rejects with exec's error (python's message in stderr). */
  static async checkSyntax(code: string): Promise<{ stdout: string; stderr: string }> {
    const filePath = `${tmpdir()}${sep}pythonShellSyntaxCheck${randomInt()}.py`;
    await promisify(writeFile)(filePath, code);
    return this.checkSyntaxFile(filePath);
  }

  static getPythonPath(): string {
    return this.defaultOptions.pythonPath ? this.defaultOptions.pythonPath : this.defaultPythonPath;
  }

  /** `python -m py_compile FILE`, through a shell, as python-shell runs it. */
  static async checkSyntaxFile(filePath: string): Promise<{ stdout: string; stderr: string }> {
    return execPromise(`${this.getPythonPath()} -m py_compile ${filePath}`);
  }

  /** Runs a script to its end: resolves its messages; rejects with a PythonShellError that has `logs`. */
  static run(scriptPath: string, options?: Options): Promise<any[]> {
    return new Promise((resolvePromise, reject) => {
      const pyshell = new PythonShell(scriptPath, options);
      const output: unknown[] = [];
      pyshell.on('message', (message) => { output.push(message); }).end((err) => {
        if (err) {
          (err as PythonShellError & { logs: unknown[] }).logs = output;
          reject(err);
        } else {
          resolvePromise(output);
        }
      });
    });
  }

  /** Runs a string of code (from a temporary file, as python-shell). Never untrusted input. */
  static runString(code: string, options?: Options): Promise<any[]> {
    const filePath = `${tmpdir()}${sep}pythonShellFile${randomInt()}.py`;
    writeFileSync(filePath, code);
    return PythonShell.run(filePath, options);
  }

  static getVersion(pythonPath?: string): ReturnType<typeof execPromise> {
    return execPromise(`${pythonPath || this.getPythonPath()} --version`);
  }

  static getVersionSync(pythonPath?: string): string {
    return execSync(`${pythonPath || this.getPythonPath()} --version`).toString();
  }

  /** Writes a message to the script's stdin (formatted, and a newline unless mode is 'binary'). */
  send(message: string | object): this {
    if (!this.stdin) throw new Error('stdin not open for writing');
    let data = this.formatter ? this.formatter(message) : message;
    if (this.mode !== 'binary') data += EOL;
    this.stdin.write(data);
    return this;
  }

  /** Closes stdin; `callback(err, exitCode, exitSignal)` once the run has ended and its output is read. */
  end(callback: (err: PythonShellError, exitCode: number, exitSignal: string) => any): this {
    this.childProcess.stdin?.end();
    this._endCallback = callback;
    return this;
  }

  /** Signals the run (default SIGTERM); `terminated` is whether the signal could be sent. */
  kill(signal?: NodeJS.Signals): this {
    this.terminated = this.childProcess.kill(signal);
    return this;
  }

  /** @deprecated python-shell's alias of kill(). */
  terminate(signal?: NodeJS.Signals): this {
    return this.kill(signal);
  }
}

/** A missing interpreter fails as child_process.spawn's would: 'error' with ENOENT. */
function asSpawnError(err: Error, pythonPath: string, command: string[]): Error {
  if (!(err instanceof PynwheelError) || err.code !== 'ENOPYTHON') return err;
  return spawnError('ENOENT', pythonPath, command);
}

export interface PythonShell {
  addListener(event: string, listener: (...args: any[]) => void): this;
  emit(event: string | symbol, ...args: any[]): boolean;
  on(event: string, listener: (...args: any[]) => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
  prependListener(event: string, listener: (...args: any[]) => void): this;
  prependOnceListener(event: string, listener: (...args: any[]) => void): this;

  addListener(event: 'message', listener: (parsedChunk: any) => void): this;
  emit(event: 'message', parsedChunk: any): boolean;
  on(event: 'message', listener: (parsedChunk: any) => void): this;
  once(event: 'message', listener: (parsedChunk: any) => void): this;
  prependListener(event: 'message', listener: (parsedChunk: any) => void): this;
  prependOnceListener(event: 'message', listener: (parsedChunk: any) => void): this;

  addListener(event: 'stderr', listener: (parsedChunk: any) => void): this;
  emit(event: 'stderr', parsedChunk: any): boolean;
  on(event: 'stderr', listener: (parsedChunk: any) => void): this;
  once(event: 'stderr', listener: (parsedChunk: any) => void): this;
  prependListener(event: 'stderr', listener: (parsedChunk: any) => void): this;
  prependOnceListener(event: 'stderr', listener: (parsedChunk: any) => void): this;

  addListener(event: 'close', listener: () => void): this;
  emit(event: 'close'): boolean;
  on(event: 'close', listener: () => void): this;
  once(event: 'close', listener: () => void): this;
  prependListener(event: 'close', listener: () => void): this;
  prependOnceListener(event: 'close', listener: () => void): this;

  addListener(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  emit(event: 'error', error: NodeJS.ErrnoException): boolean;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  once(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  prependListener(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  prependOnceListener(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;

  addListener(event: 'pythonError', listener: (error: PythonShellError) => void): this;
  emit(event: 'pythonError', error: PythonShellError): boolean;
  on(event: 'pythonError', listener: (error: PythonShellError) => void): this;
  once(event: 'pythonError', listener: (error: PythonShellError) => void): this;
  prependListener(event: 'pythonError', listener: (error: PythonShellError) => void): this;
  prependOnceListener(event: 'pythonError', listener: (error: PythonShellError) => void): this;
}
