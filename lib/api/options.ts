// Runs in a Node API caller's process.
// The options of run() and spawn(): Node's names where Node has one (cwd, env, stdio, input,
// encoding, timeout, signal, maxBuffer, killSignal), python-shell's for the rest (pythonPath,
// pythonOptions, mode, scriptPath, args), and their checks and defaults.
import * as path from 'node:path';
import type { Stream } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** What one of the run's fds 0, 1, 2 is: as in child_process.spawn. */
export type StdioEntry = 'pipe' | 'inherit' | 'ignore' | number | Stream | null | undefined;
export type StdioOption = 'pipe' | 'inherit' | 'ignore' | readonly [StdioEntry?, StdioEntry?, StdioEntry?];

export interface RunOptions {
  /** The run's working directory; default process.cwd(). */
  cwd?: string | URL;
  /** The run's whole environment (not added to process.env, as in child_process); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The interpreter: a path, or a name looked up on PATH; default $PYNWHEEL_PYTHON, the active venv's, else python3. */
  pythonPath?: string;
  /** Alias of pythonPath. */
  python?: string;
  /** The interpreter's own flags: -u, -B, -O, -W ARG, -X OPT, ... honoured as python honours them. */
  pythonOptions?: readonly string[];
  /** Run `file` as a module name, as `python -m file` does. */
  module?: boolean;
  /** Directory `file` is relative to (python-shell's option); default: `cwd`. */
  scriptPath?: string;
  /** The script's arguments, when not given as run()'s second argument (python-shell's form). */
  args?: readonly string[];
  /** Default 'pipe': captured into the result (and spawn()'s stdin/stdout/stderr streams). */
  stdio?: StdioOption;
  /** Written to the run's stdin, which is then closed. Needs stdin 'pipe'. */
  input?: string | Uint8Array | NodeJS.ReadableStream;
  /** Decode captured output as this encoding; default: Buffers ('buffer'). */
  encoding?: BufferEncoding | 'buffer';
  /** python-shell's modes: 'text' (strings), 'json' (stdout parsed line by line), 'binary' (Buffers). */
  mode?: 'text' | 'json' | 'binary';
  /** Milliseconds after which the run is killed (killSignal) and the call rejects with a TimeoutError. */
  timeout?: number;
  /** Aborting kills the run (killSignal) and the call rejects with an AbortError. */
  signal?: AbortSignal;
  /** Signal for timeout, abort and maxBuffer; default 'SIGTERM'. */
  killSignal?: NodeJS.Signals | number;
  /** If the run has not ended this long after killSignal, it gets SIGKILL; default 5000 ms. */
  forceKillAfterDelay?: number;
  /** Most bytes captured from stdout and from stderr; beyond it the run is killed. Default 100 MiB. */
  maxBuffer?: number;
  /** Default true: a non-zero exit or a death by signal rejects with a PythonError. */
  reject?: boolean;
  /** Default true: capture piped output for the result. spawn(..., { buffer: false }) for streaming. */
  buffer?: boolean;
}

export type Mode = 'buffer' | 'text' | 'json';

export interface NormalizedOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  python: string | undefined;
  pythonOptions: string[];
  file: string;
  module: boolean;
  args: string[];
  stdio: [StdioEntry, StdioEntry, StdioEntry];
  input: RunOptions['input'];
  /** How captured stdout is given back, and the encoding of strings. */
  mode: Mode;
  encoding: BufferEncoding | null;
  timeout: number;
  signal: AbortSignal | undefined;
  killSignal: NodeJS.Signals | number;
  forceKillAfterDelay: number;
  maxBuffer: number;
  reject: boolean;
  buffer: boolean;
  /** call(): the fd of the call's value channel (the run calls a function: RunRequest.call). */
  callFd?: number;
}

export const DEFAULT_MAX_BUFFER = 100 * 1024 * 1024;
const DEFAULT_FORCE_KILL_AFTER_MS = 5000;

/** run(file, args?, options?) and run(file, options?) as child_process allows. */
export function splitArguments(
  argsOrOptions: readonly string[] | RunOptions | undefined,
  maybeOptions: RunOptions | undefined,
): { args: readonly string[] | undefined; options: RunOptions } {
  if (Array.isArray(argsOrOptions)) return { args: argsOrOptions as readonly string[], options: maybeOptions ?? {} };
  if (argsOrOptions !== undefined && argsOrOptions !== null && typeof argsOrOptions !== 'object') {
    throw new TypeError('pynwheel: the second argument must be an array of arguments or an options object');
  }
  return { args: undefined, options: (argsOrOptions as RunOptions | undefined) ?? maybeOptions ?? {} };
}

/** Checks and defaults; throws TypeError/RangeError as child_process does for bad arguments. */
export function normalizeOptions(file: string | URL, args: readonly string[] | undefined, options: RunOptions): NormalizedOptions {
  const cwd = path.resolve(options.cwd === undefined ? process.cwd() : toPath(options.cwd, 'options.cwd'));
  let target = toPath(file, 'file');
  if (target.length === 0) throw new TypeError('pynwheel: file must not be empty');
  const module = options.module === true;
  if (!module && options.scriptPath !== undefined) target = path.resolve(cwd, options.scriptPath, target);
  const scriptArgs = [...(args ?? options.args ?? [])];
  if (!scriptArgs.every((a) => typeof a === 'string')) throw new TypeError('pynwheel: every argument must be a string');
  const pythonOptions = [...(options.pythonOptions ?? [])];
  if (!pythonOptions.every((a) => typeof a === 'string')) throw new TypeError('pynwheel: pythonOptions must be strings');
  const encoding = options.encoding === undefined || options.encoding === 'buffer' ? null : options.encoding;
  if (encoding !== null && !Buffer.isEncoding(encoding)) throw new TypeError(`pynwheel: unknown encoding ${JSON.stringify(encoding)}`);
  const mode: Mode = options.mode === 'json' ? 'json'
    : options.mode === 'text' || (options.mode !== 'binary' && encoding !== null) ? 'text'
      : 'buffer';
  return {
    cwd,
    env: options.env ?? process.env,
    python: options.pythonPath ?? options.python,
    pythonOptions,
    file: target,
    module,
    args: scriptArgs,
    stdio: stdioEntries(options.stdio),
    input: options.input,
    mode,
    encoding: mode === 'buffer' ? null : encoding ?? 'utf8',
    timeout: nonNegative(options.timeout, 'timeout', 0),
    signal: checkSignal(options.signal),
    killSignal: options.killSignal ?? 'SIGTERM',
    forceKillAfterDelay: nonNegative(options.forceKillAfterDelay, 'forceKillAfterDelay', DEFAULT_FORCE_KILL_AFTER_MS),
    maxBuffer: nonNegative(options.maxBuffer, 'maxBuffer', DEFAULT_MAX_BUFFER),
    reject: options.reject !== false,
    buffer: options.buffer !== false,
  };
}

function stdioEntries(stdio: StdioOption | undefined): [StdioEntry, StdioEntry, StdioEntry] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe'];
  if (typeof stdio === 'string') {
    if (!['pipe', 'inherit', 'ignore'].includes(stdio)) throw new TypeError(`pynwheel: stdio ${JSON.stringify(stdio)} is not 'pipe', 'inherit' or 'ignore'`);
    return [stdio, stdio, stdio];
  }
  if (!Array.isArray(stdio) || stdio.length > 3) throw new TypeError('pynwheel: stdio must be a string or an array of at most 3 entries');
  const entries = [0, 1, 2].map((i) => stdio[i] ?? 'pipe') as [StdioEntry, StdioEntry, StdioEntry];
  for (const entry of entries) {
    const ok = entry === 'pipe' || entry === 'inherit' || entry === 'ignore'
      || (typeof entry === 'number' && Number.isInteger(entry) && entry >= 0)
      || (typeof entry === 'object' && entry !== null && typeof (entry as Stream).pipe === 'function');
    if (!ok) throw new TypeError(`pynwheel: unsupported stdio entry ${String(entry)} (use 'pipe', 'inherit', 'ignore', an fd or a stream)`);
  }
  return entries;
}

function toPath(value: string | URL, what: string): string {
  if (value instanceof URL) return fileURLToPath(value);
  if (typeof value !== 'string') throw new TypeError(`pynwheel: ${what} must be a string or a file: URL`);
  return value;
}

function nonNegative(value: number | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) throw new RangeError(`pynwheel: ${what} must be a number >= 0`);
  return value;
}

function checkSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || !('aborted' in signal))) {
    throw new TypeError('pynwheel: options.signal must be an AbortSignal');
  }
  return signal;
}
