#!/usr/bin/env node
// Start-up: a script that only imports a module, run with plain python and with pynwheel (the
// committed bin/pynwheel, so the native runner when built), interleaved, after warm-up. Prints
// median, min and max wall time and the ratio, and saves bench/results/startup.json.
// Usage: node bench/startup.js [runs]   (uses $PYNWHEEL_BENCH_PYTHON, or .venv-bench-pools)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');

const RUNS = Number(process.argv[2] ?? 15);
const SHIM = path.resolve(__dirname, '..', 'bin', 'pynwheel');
const MODULES = { 'os, sys': ['os', 'sys'], numpy: ['numpy'], pandas: ['pandas'], torch: ['torch'], tensorflow: ['tensorflow'] };

function timed(command, args, env) {
  const started = process.hrtime.bigint();
  const r = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'ignore'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { median: +sorted[sorted.length >> 1].toFixed(1), min: +sorted[0].toFixed(1), max: +sorted[sorted.length - 1].toFixed(1) };
}

function main() {
  const python = benchPython('pools', { numpy: 'numpy', pandas: 'pandas', torch: 'torch', tensorflow: 'tensorflow-cpu' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-startup-'));
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-startup-rt-'));
  fs.chmodSync(runtimeDir, 0o700);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', PYNWHEEL_RUNTIME_DIR: runtimeDir, PYNWHEEL_PYTHON: python, TF_CPP_MIN_LOG_LEVEL: '3' };
  const rows = [];
  for (const [name, modules] of Object.entries(MODULES)) {
    if (spawnSync(python, ['-c', `import ${modules.join(', ')}`]).status !== 0) {
      rows.push({ imports: name, note: 'not installable here' });
      continue;
    }
    const script = path.join(dir, `import_${name.replace(/\W/g, '')}.py`);
    fs.writeFileSync(script, `import ${modules.join(', ')}\n`);
    for (let i = 0; i < 3; i++) timed(SHIM, ['run', script], env); // warm-up: the zygote imports
    const py = [];
    const pnw = [];
    for (let i = 0; i < RUNS; i++) {
      py.push(timed(python, [script], env));
      pnw.push(timed(SHIM, ['run', script], env));
    }
    const p = summary(py);
    const q = summary(pnw);
    rows.push({ imports: name, python: p, pynwheel: q, ratio: +(q.median / p.median).toFixed(4) });
  }
  spawnSync(SHIM, ['stop'], { env, stdio: 'ignore' });
  fs.rmSync(runtimeDir, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  console.table(rows.map((r) => (r.python ? {
    imports: r.imports, 'python median': r.python.median, 'python min-max': `${r.python.min}-${r.python.max}`,
    'pynwheel median': r.pynwheel.median, 'pynwheel min-max': `${r.pynwheel.min}-${r.pynwheel.max}`, ratio: r.ratio,
  } : r)));
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'startup.json'), JSON.stringify({ runs: RUNS, unit: 'ms', rows }, null, 2) + '\n');
}

main();
