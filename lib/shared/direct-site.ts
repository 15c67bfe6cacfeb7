// Runs in the Node client (the CLI, a Node API caller): the environment of a run that python
// executes itself, so that `import pynwheel` works there as in a warm run: python/direct-site/
// first on PYTHONPATH, whose sitecustomize.py installs the package's finder and then puts
// PYTHONPATH and sys.path back as they were (native/runner/direct.cc does the same).
import * as path from 'node:path';
import { PYTHON_PACKAGE_HOME } from './python-home';

export const DIRECT_SITE = path.join(PYTHON_PACKAGE_HOME, 'direct-site');

export function directSiteEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const was = env.PYTHONPATH;
  const out: NodeJS.ProcessEnv = { ...env, PYTHONPATH: was === undefined || was === '' ? DIRECT_SITE : `${DIRECT_SITE}:${was}`, PYNWHEEL_DIRECT_SITE: '1' };
  if (was !== undefined) out.PYNWHEEL_DIRECT_PYTHONPATH = was;
  else delete out.PYNWHEEL_DIRECT_PYTHONPATH;
  return out;
}
