// Runs in a Node API caller's process.
// How a run() or spawn() call fails. Each error carries what is known of the run: its exit,
// the output captured so far, its pid and duration. PynwheelError (lib/shared/errors.ts) is the
// daemon's or the protocol's trouble; these are the script's, or the caller's limits.
import { parseTraceback, type Traceback, type TracebackFrame } from './traceback';

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

/**
 * An exception as a call's process describes it (python/_pynwheel/call.py describe()): not parsed
 * from stderr. `type` is qualified (`json.decoder.JSONDecodeError`), `args` the exception's args
 * as the codec carries them (a repr() string where it cannot), `traceback` python's formatted text.
 */
export interface PythonException {
  type: string;
  message: string;
  args: unknown[];
  traceback: string;
  frames: TracebackFrame[];
  cause?: PythonException;
  context?: PythonException;
  suppressContext?: boolean;
  /** SystemExit's code. */
  code?: number | string | null;
}

/**
 * The script exited with a non-zero status or died of a signal (unless `reject: false`); or, for
 * call(), the function raised an exception (`exception` given: its fields from the call's process).
 */
export class PythonError extends RunError {
  /** The exception's type, message and frames: from stderr for run(), from the call's process for call(). */
  readonly traceback: Traceback | null;
  /** call(): the exception's type (qualified), as Python names it; null for run(). */
  readonly type: string | null = null;
  /** call(): the exception's `args`. */
  readonly args: unknown[] | null = null;
  /** call(): python's formatted traceback of the exception (without its chain). */
  readonly formattedTraceback: string | null = null;
  /** call(): `__context__`, the exception being handled when this one was raised. */
  readonly context: PythonError | undefined;

  constructor(failure: RunFailure, exception?: PythonException) {
    if (exception !== undefined) {
      super(`${exception.type}${exception.message ? `: ${exception.message}` : ''}`, failure,
        exception.cause ? { cause: new PythonError(failure, exception.cause) } : undefined);
      this.name = 'PythonError';
      this.traceback = { type: exception.type, message: exception.message, frames: exception.frames };
      this.type = exception.type;
      this.args = exception.args;
      this.formattedTraceback = exception.traceback;
      this.context = exception.context ? new PythonError(failure, exception.context) : undefined;
      if (this.stack) this.stack += `\n    Python traceback:\n${exception.traceback.trimEnd().split('\n').map((l) => `      ${l}`).join('\n')}`;
      return;
    }
    const stderrText = failure.stderr === null ? null : String(failure.stderr);
    const traceback = stderrText === null ? null : parseTraceback(stderrText);
    const how = failure.signal !== null ? `was killed by ${failure.signal}` : `exited with status ${failure.exitCode}`;
    const what = traceback ? `: ${traceback.type}${traceback.message ? `: ${firstLine(traceback.message)}` : ''}` : '';
    super(`${commandText(failure.command)} ${how}${what}`, failure);
    this.name = 'PythonError';
    this.traceback = traceback;
  }
}

/** A call's process ended without an outcome: a signal (a segfault, SIGKILL, the OOM killer) or os._exit. */
export class CallDiedError extends RunError {
  readonly code = 'ECALLDIED';
  constructor(failure: RunFailure, target: string) {
    const how = failure.signal !== null ? `was killed by ${failure.signal}` : `exited with status ${failure.exitCode}`;
    super(`pynwheel: the call of ${target} ${how} before it returned`, failure);
    this.name = 'CallDiedError';
  }
}

/**
 * The target cannot be called: `code` ENOTARGET (no such module, file or attribute), ENOTCALLABLE,
 * or EIMPORT (its module raised on import: the PythonError is the `cause`).
 */
export class CallTargetError extends RunError {
  readonly code: 'ENOTARGET' | 'ENOTCALLABLE' | 'EIMPORT';
  readonly target: string;
  constructor(failure: RunFailure, target: string, code: CallTargetError['code'], message: string, cause?: PythonError) {
    super(`pynwheel: ${message}`, failure, cause ? { cause } : undefined);
    this.name = 'CallTargetError';
    this.code = code;
    this.target = target;
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

/**
 * A cluster job named packages (PEP 440 requirements) that no live worker of its queue has: it
 * ran nowhere. `lacking`: each worker's name -> {requirement: what that worker has instead}.
 */
export class PackagesError extends Error {
  readonly code = 'EPACKAGES';
  readonly lacking: Record<string, Record<string, string>>;
  constructor(jobId: string, lacking: Record<string, Record<string, string>>) {
    const each = Object.entries(lacking).map(([worker, lacks]) => `${worker}: ${Object.values(lacks).join(', ')}`).join('; ');
    super(`pynwheel: job ${jobId} names packages no live worker has (${each})`);
    this.name = 'PackagesError';
    this.lacking = lacking;
  }
}
