// The benches' Python: $PYNWHEEL_BENCH_PYTHON, or a venv of their own (at the repo root, named
// .venv-bench-*, which git ignores) with the packages a bench needs, installed from the
// machine's local package index when it has one.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** `packages` maps an importable module to the pip package that provides it. */
function benchPython(name, packages) {
  if (process.env.PYNWHEEL_BENCH_PYTHON) return process.env.PYNWHEEL_BENCH_PYTHON;
  const venv = path.join(ROOT, `.venv-bench-${name}`);
  const python = path.join(venv, 'bin', 'python3');
  if (!fs.existsSync(python)) spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  const local = fs.existsSync('/opt/pypi/simple') ? ['--index-url', 'file:///opt/pypi/simple', '--extra-index-url', 'file:///opt/pypi-more/simple'] : [];
  const wheels = fs.existsSync('/opt/wheels') ? ['--find-links', '/opt/wheels'] : [];
  for (const [module, pkg] of Object.entries(packages)) {
    if (spawnSync(python, ['-c', `import ${module}`]).status !== 0) {
      spawnSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...local, ...wheels, pkg], { stdio: 'inherit' });
    }
  }
  return python;
}

module.exports = { benchPython };
