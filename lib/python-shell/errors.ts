// Runs in a Node API caller's process.
// python-shell's errors: a script that exited non-zero (its traceback, when stderr has one), and
// what a failed spawn of a missing interpreter looks like from child_process.
import { EOL } from 'node:os';

export class PythonShellError extends Error {
  traceback!: string | Buffer;
  exitCode?: number;
}

/** The type python-shell names for run()'s rejection: a PythonShellError with `logs` added. */
export class PythonShellErrorWithLogs extends PythonShellError {
  logs!: unknown[];
}

/** As python-shell's parseError: the exception line as message, the traceback added to the stack. */
export function parsePythonError(data: string | Buffer): PythonShellError {
  const text = `${data}`;
  if (!/^Traceback/.test(text)) return new PythonShellError(text);
  const lines = text.trim().split(EOL);
  const exception = lines.pop();
  const error = new PythonShellError(exception);
  error.traceback = data;
  error.stack += `${EOL}    ----- Python Traceback -----${EOL}  `;
  error.stack += lines.slice(1).join(`${EOL}  `);
  return error;
}

/** child_process.spawn's error for an interpreter it cannot exec (ENOENT, EACCES). */
export function spawnError(code: 'ENOENT' | 'EACCES', file: string, args: string[]): NodeJS.ErrnoException {
  const errno = code === 'ENOENT' ? -2 : -13;
  return Object.assign(new Error(`spawn ${file} ${code}`), { errno, code, syscall: `spawn ${file}`, path: file, spawnargs: args });
}
