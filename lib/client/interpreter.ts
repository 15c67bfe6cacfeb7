// Runs in the Node client (the CLI, or a Node API caller's process): which python a run uses,
// what `python3` would be for the caller.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PynwheelError } from '../shared/errors';

export interface Interpreter {
  /** Absolute path, symlinks kept: a venv's bin/python is a link, and resolving it leaves the venv. */
  path: string;
  /** argv[0] as python would see it: what the user typed, used in python's own messages. */
  argv0: string;
}

/** `explicit` (--python), else `$PYNWHEEL_PYTHON`, else the active venv's, else `python3` on PATH. */
export function resolveInterpreter(explicit: string | undefined, env: NodeJS.ProcessEnv, cwd: string): Interpreter {
  const wanted = explicit || env.PYNWHEEL_PYTHON;
  if (wanted) {
    const found = wanted.includes('/') ? path.resolve(cwd, wanted) : findOnPath(wanted, env.PATH, cwd);
    if (!found || !isExecutableFile(found)) {
      throw new PynwheelError('ENOPYTHON', `the interpreter ${JSON.stringify(wanted)} was not found or is not executable`);
    }
    return { path: found, argv0: wanted };
  }
  // An activated venv wins even if PATH was changed after `activate`.
  if (env.VIRTUAL_ENV) {
    const inVenv = path.join(path.resolve(cwd, env.VIRTUAL_ENV), 'bin', 'python3');
    if (isExecutableFile(inVenv)) return { path: inVenv, argv0: 'python3' };
  }
  const found = findOnPath('python3', env.PATH, cwd);
  if (!found) {
    throw new PynwheelError('ENOPYTHON', 'python3 was not found on PATH; install Python 3 or name one with --python or PYNWHEEL_PYTHON');
  }
  return { path: found, argv0: 'python3' };
}

export function findOnPath(name: string, searchPath: string | undefined, cwd: string): string | null {
  for (const entry of (searchPath ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const candidate = path.resolve(cwd, entry || '.', name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
