// The benches' Python: $PYNWHEEL_BENCH_PYTHON, or a venv of their own (at the repo root, named
// .venv-bench-*, which git ignores) with the packages a bench needs, installed from the
// machine's local package index when it has one.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/**
 * `packages` maps an importable module to the pip package that provides it; `noDeps` lists pip
 * packages installed without their dependencies (where the local index lacks some that a
 * package declares but does not need, as Celery's CLI helpers).
 */
function benchPython(name, packages, noDeps = []) {
  if (process.env.PYNWHEEL_BENCH_PYTHON) return process.env.PYNWHEEL_BENCH_PYTHON;
  const venv = path.join(ROOT, `.venv-bench-${name}`);
  const python = path.join(venv, 'bin', 'python3');
  if (!fs.existsSync(python)) spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  const local = fs.existsSync('/opt/pypi/simple') ? ['--index-url', 'file:///opt/pypi/simple', '--extra-index-url', 'file:///opt/pypi-more/simple'] : [];
  const wheels = fs.existsSync('/opt/wheels') ? ['--find-links', '/opt/wheels'] : [];
  const missing = noDeps.filter((pkg) => spawnSync(python, ['-m', 'pip', 'show', '--quiet', pkg]).status !== 0);
  if (missing.length) spawnSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', ...local, ...wheels, ...missing], { stdio: 'inherit' });
  for (const [module, pkg] of Object.entries(packages)) {
    if (spawnSync(python, ['-c', `import ${module}`]).status !== 0) {
      spawnSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...local, ...wheels, pkg], { stdio: 'inherit' });
    }
  }
  return python;
}

module.exports = { benchPython };
