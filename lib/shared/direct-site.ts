// Runs in the Node client (the CLI, a Node API caller): the environment of a run that python
// executes itself, so that `import pynwheel` works there as in a warm run: python/direct-site/
// first on PYTHONPATH, whose sitecustomize.py installs the package's finder and then puts
// PYTHONPATH and sys.path back as they were (native/runner/direct.cc does the same).
import * as path from 'node:path';
import { PYTHON_PACKAGE_HOME } from './python-home';

export const DIRECT_SITE = path.join(PYTHON_PACKAGE_HOME, 'direct-site');

/**
 * Whether python, given these arguments (its options, then the script's), imports a
 * sitecustomize from PYTHONPATH: not under -I, -E or -S. Options are read up to the script (or
 * -c, -m): a bundle's letters up to one that takes a value (-W, -X).
 */
export function readsSiteCustomize(pythonArgs: readonly string[]): boolean {
  for (const arg of pythonArgs) {
    if (arg === '-' || arg === '--' || !arg.startsWith('-')) return true;
    if (arg.startsWith('--')) continue; // --check-hash-based-pycs MODE and the like: their values are not options
    for (const letter of arg.slice(1)) {
      if (letter === 'I' || letter === 'E' || letter === 'S') return false;
      if (letter === 'c' || letter === 'm') return true;
      if (letter === 'W' || letter === 'X') break;
    }
  }
  return true;
}

/** `env` for python run with `pythonArgs`: as it is if python would not read the hook. */
export function directSiteEnv(env: NodeJS.ProcessEnv, pythonArgs: readonly string[]): NodeJS.ProcessEnv {
  if (!readsSiteCustomize(pythonArgs)) return env;
  const was = env.PYTHONPATH;
  const out: NodeJS.ProcessEnv = { ...env, PYTHONPATH: was === undefined || was === '' ? DIRECT_SITE : `${DIRECT_SITE}:${was}`, PYNWHEEL_DIRECT_SITE: '1' };
  if (was !== undefined) out.PYNWHEEL_DIRECT_PYTHONPATH = was;
  else delete out.PYNWHEEL_DIRECT_PYTHONPATH;
  return out;
}
