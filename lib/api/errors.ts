// Runs in a Node API caller's process.
// How a run() or spawn() call fails. Each error carries what is known of the run: its exit,
// the output captured so far, its pid and duration. PynwheelError (lib/shared/errors.ts) is the
// daemon's or the protocol's trouble; these are the script's, or the caller's limits.
import { parseTraceback, type Traceback } from './traceback';

/** What a finished run gives back; stdout/stderr are null for a stream that was not piped. */
export interface RunResult<Out = Buffer | string | unknown[], Err = Buffer | string> {
  /** Exit status, or null when the run died of a signal. */
  exitCode: number | null;
  /** The signal the run died of, or null. */
  signal: NodeJS.Signals | null;
  stdout: Out;
  stderr: Err;
  /** From the call to the end of the run's output. */
  durationMs: number;
}

/** What every failure of a started run says about it. */
export interface RunFailure {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer | string | unknown[] | null;
  stderr: Buffer | string | null;
  durationMs: number;
  pid: number | undefined;
  /** The command as python would have been run: [interpreter, ...flags, file, ...args]. */
  command: string[];
}

abstract class RunError extends Error implements RunFailure {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer | string | unknown[] | null;
  stderr: Buffer | string | null;
  durationMs: number;
  pid: number | undefined;
  command: string[];

  constructor(message: string, failure: RunFailure, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = failure.exitCode;
    this.signal = failure.signal;
    this.stdout = failure.stdout;
    this.stderr = failure.stderr;
    this.durationMs = failure.durationMs;
    this.pid = failure.pid;
    this.command = failure.command;
  }
}

/** The script exited with a non-zero status or died of a signal (unless `reject: false`). */
export class PythonError extends RunError {
  /** The uncaught exception's traceback from stderr; null when stderr was not piped or had none. */
  readonly traceback: Traceback | null;

  constructor(failure: RunFailure) {
    const stderrText = failure.stderr === null ? null : String(failure.stderr);
    const traceback = stderrText === null ? null : parseTraceback(stderrText);
    const how = failure.signal !== null ? `was killed by ${failure.signal}` : `exited with status ${failure.exitCode}`;
    const what = traceback ? `: ${traceback.type}${traceback.message ? `: ${firstLine(traceback.message)}` : ''}` : '';
    super(`${commandText(failure.command)} ${how}${what}`, failure);
    this.name = 'PythonError';
    this.traceback = traceback;
  }
}

/** The call's AbortSignal fired: the run was killed. As Node's own AbortError: code 'ABORT_ERR'. */
export class AbortError extends RunError {
  readonly code = 'ABORT_ERR';
  constructor(failure: RunFailure, reason: unknown) {
    super('The operation was aborted', failure, { cause: reason });
    this.name = 'AbortError';
  }
}

/** The run outlived `timeout` and was killed. */
export class TimeoutError extends RunError {
  readonly code = 'ETIMEDOUT';
  readonly timeout: number;
  constructor(failure: RunFailure, timeout: number) {
    super(`${commandText(failure.command)} timed out after ${timeout} ms`, failure);
    this.name = 'TimeoutError';
    this.timeout = timeout;
  }
}

/** Piped output went past `maxBuffer`: the run was killed. Node's code for it. */
export class MaxBufferError extends RunError {
  readonly code = 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER';
  constructor(failure: RunFailure, stream: 'stdout' | 'stderr') {
    super(`${stream} maxBuffer length exceeded`, failure);
    this.name = 'MaxBufferError';
  }
}

/** A stdout line that is not JSON, in mode 'json'. */
export class JsonLineError extends RunError {
  readonly code = 'EJSONLINE';
  readonly line: string;
  constructor(failure: RunFailure, line: string, cause: unknown) {
    super(`stdout line is not JSON: ${JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}...` : line)}`, failure, { cause });
    this.name = 'JsonLineError';
    this.line = line;
  }
}

function commandText(command: string[]): string {
  return command.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`)).join(' ');
}

function firstLine(text: string): string {
  const end = text.indexOf('\n');
  return end < 0 ? text : `${text.slice(0, end)} ...`;
}
