// Runs in the Node client (the CLI, or a Node API caller's process): which python a run uses,
// what `python3` would be for the caller, version managers' shims included (version-managers.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PynwheelError } from '../shared/errors';
import { ensureRuntimeDir, runtimeDirFor } from '../shared/runtime-dir';
import { decidingVariables, readEntry, writeEntry } from './interpreter-cache';
import { isShim, resolveShim } from './version-managers';

export interface Interpreter {
  /** Absolute path, symlinks kept: a venv's bin/python is a link, and resolving it leaves the venv. */
  path: string;
  /** argv[0] as python would see it: what the user typed, used in python's own messages. */
  argv0: string;
  /** How it was chosen, in words (`pynwheel status` and `doctor`). */
  how: string;
  /** A shim pynwheel cannot serve warm: `path` is run as it is, with the same arguments. */
  asIs?: boolean;
  /** What a version manager's shim changes in the environment before it execs python (null: unset). */
  edits?: Array<[string, string | null]>;
}

/**
 * `explicit` (--python), else `$PYNWHEEL_PYTHON`, else the active venv's, else conda's
 * (`$CONDA_PREFIX`), else `python3` on PATH; a version manager's shim is what it would run.
 */
export function resolveInterpreter(explicit: string | undefined, env: NodeJS.ProcessEnv, cwd: string, module?: string): Interpreter {
  const wanted = explicit || env.PYNWHEEL_PYTHON;
  if (wanted) {
    const found = wanted.includes('/') ? path.resolve(cwd, wanted) : findOnPath(wanted, env.PATH, cwd);
    if (!found || !isExecutableFile(found)) {
      throw new PynwheelError('ENOPYTHON', `the interpreter ${JSON.stringify(wanted)} was not found or is not executable`);
    }
    const by = explicit ? `--python ${explicit}` : `PYNWHEEL_PYTHON=${wanted}`;
    return throughShim({ path: found, argv0: wanted, how: by }, env, cwd, module);
  }
  // An activated venv wins even if PATH was changed after `activate`.
  if (env.VIRTUAL_ENV) {
    const inVenv = path.join(path.resolve(cwd, env.VIRTUAL_ENV), 'bin', 'python3');
    if (isExecutableFile(inVenv)) return { path: inVenv, argv0: 'python3', how: `the active venv (VIRTUAL_ENV=${env.VIRTUAL_ENV})` };
  }
  // An activated conda environment, likewise (its bin/ is first on PATH after `conda activate`).
  if (env.CONDA_PREFIX) {
    const inConda = path.join(path.resolve(cwd, env.CONDA_PREFIX), 'bin', 'python3');
    if (isExecutableFile(inConda)) return { path: inConda, argv0: 'python3', how: `the active conda environment (CONDA_PREFIX=${env.CONDA_PREFIX})` };
  }
  const found = findOnPath('python3', env.PATH, cwd);
  if (!found) {
    throw new PynwheelError('ENOPYTHON', 'python3 was not found on PATH; install Python 3 or name one with --python or PYNWHEEL_PYTHON');
  }
  return throughShim({ path: found, argv0: 'python3', how: 'python3 on PATH' }, env, cwd, module);
}

/** A script (or a link to mise) found as the interpreter is a shim: what it would run, from the cache when nothing that decided it changed. */
function throughShim(found: Interpreter, env: NodeJS.ProcessEnv, cwd: string, module?: string): Interpreter {
  if (!isShim(found.path)) return { ...found, how: `${found.how}: ${found.path}` };
  const cacheDir = path.join(runtimeDirFor(env), 'interp');
  const name = path.basename(found.path);
  // Only a runtime directory that is safely ours holds answers (the runner reads them only there).
  const cached = module !== 'pip' && runtimeDirIsSafe(path.dirname(cacheDir));
  let answer = cached ? readEntry(cacheDir, found.path, cwd, env) : null;
  if (!answer) {
    const fresh = resolveShim(found.path, found.argv0.includes('/') ? name : found.argv0, env, cwd, module);
    if (cached) {
      writeEntry(cacheDir, { ...fresh, candidate: found.path, cwd, variables: decidingVariables(env), files: fresh.files });
    }
    answer = fresh;
  }
  const how = `${found.how}: ${answer.how}`;
  if (answer.verdict === 'as-is') return { ...found, how, asIs: true };
  // pyenv execs the interpreter by its full path: python's argv[0], sys.executable.
  return { path: answer.python, argv0: answer.python, how, edits: answer.edits };
}

/** `env` as the interpreter gets it from its shim. */
export function environmentFor(interpreter: Interpreter, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!interpreter.edits?.length) return env;
  const out = { ...env };
  for (const [k, v] of interpreter.edits) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** Made if need be (the run about to start would make it), and safely ours. */
function runtimeDirIsSafe(dir: string): boolean {
  try {
    ensureRuntimeDir(dir);
    return true;
  } catch {
    return false;
  }
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
