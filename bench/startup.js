#!/usr/bin/env node
// Start-up: a script that only imports a module, run with plain python and with pynwheel (the
// committed bin/pynwheel, so the native runner when built), interleaved, after warm-up. Prints
// median, min and max wall time and the ratio, and saves bench/results/startup.json.
// Also the limits of each step (a bare fork+wait, a connect, a socket round trip with 3 fds) and
// runs per second from two parallel loops; draws bench/results/startup.svg.
// Usage: node bench/startup.js [runs]   (npm run bench; uses $PYNWHEEL_BENCH_PYTHON, or .venv-bench-pools)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');
const { barChart } = require('./chart');

const RUNS = Number(process.argv[2] ?? 15);
const SHIM = path.resolve(__dirname, '..', 'bin', 'pynwheel');
// The spec's experiment (its ten modules) and more; pip names where they differ.
const SCRIPTS = [
  { label: 'os', imports: ['os'] }, { label: 'sys', imports: ['sys'] },
  { label: 'numpy', imports: ['numpy'] }, { label: 'sympy', imports: ['sympy'] },
  { label: 'scipy', imports: ['scipy'] }, { label: 'scipy.stats', imports: ['scipy.stats'], pip: 'scipy' },
  { label: 'pandas', imports: ['pandas'] }, { label: 'matplotlib', imports: ['matplotlib'] },
  { label: 'matplotlib.pyplot', imports: ['matplotlib.pyplot'], pip: 'matplotlib' },
  { label: 'torch', imports: ['torch'] }, { label: 'tensorflow', imports: ['tensorflow'], pip: 'tensorflow-cpu' },
  { label: 'chempy', imports: ['chempy'] }, { label: 'qcengine', imports: ['qcengine'] },
  { label: '-m pytest --version', module: 'pytest', args: ['--version'], imports: ['pytest'] },
];

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

function limits(python, env, dir) {
  // A bare fork+wait of an interpreter holding numpy and pandas, as the zygote forks.
  const forkScript = path.join(dir, 'fork_wait.py');
  fs.writeFileSync(forkScript, [
    'import os, time, gc, numpy, pandas',
    'gc.freeze()',
    'times = []',
    'for _ in range(30):',
    '    t = time.perf_counter()',
    '    pid = os.fork()',
    '    if pid == 0:',
    '        os._exit(0)',
    '    os.waitpid(pid, 0)',
    '    times.append((time.perf_counter() - t) * 1e3)',
    'times.sort()',
    'print(round(times[len(times) // 2], 3))',
  ].join('\n') + '\n');
  const forkWait = Number(spawnSync(python, [forkScript], { env, encoding: 'utf8' }).stdout.trim());
  // A client that connects and exits; and a round trip of a frame with 3 fds over a socketpair.
  const native = require('../build/Release/pynwheel.node');
  const socket = path.join(env.PYNWHEEL_RUNTIME_DIR, 'daemon.sock');
  const times = (n, fn) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const started = process.hrtime.bigint();
      fn();
      out.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    out.sort((x, y) => x - y);
    return out[out.length >> 1];
  };
  const connect = times(200, () => fs.closeSync(native.connect(socket)));
  const [a, b] = native.socketpair();
  const payload = Buffer.alloc(2048, 1);
  const roundTrip = times(500, () => {
    native.sendMsg(a, payload, [0, 1, 2]);
    const got = native.recvMsg(b, 65536, 4);
    got.fds.forEach((fd) => fs.closeSync(fd));
    native.sendMsg(b, payload, []);
    native.recvMsg(a, 65536, 4);
  });
  fs.closeSync(a);
  fs.closeSync(b);
  return { forkWaitNumpyPandasMs: forkWait, connectMs: +connect.toFixed(4), roundTrip3FdsMs: +roundTrip.toFixed(4) };
}

/** Two loops of back-to-back runs of a trivial script for `seconds`: runs per second. */
async function throughput(command, args, env, seconds) {
  const { spawn } = require('node:child_process');
  const deadline = Date.now() + seconds * 1000;
  let runs = 0;
  const loop = async () => {
    while (Date.now() < deadline) {
      await new Promise((resolve) => spawn(command, args, { env, stdio: 'ignore' }).on('close', resolve));
      runs++;
    }
  };
  await Promise.all([loop(), loop()]);
  return runs / seconds;
}

async function main() {
  const packages = {};
  for (const s of SCRIPTS) for (const m of s.imports) if (!['os', 'sys'].includes(m)) packages[m.split('.')[0]] = s.pip ?? m.split('.')[0];
  const python = benchPython('pools', packages);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-startup-'));
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-startup-rt-'));
  fs.chmodSync(runtimeDir, 0o700);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', PYNWHEEL_RUNTIME_DIR: runtimeDir, PYNWHEEL_PYTHON: python, TF_CPP_MIN_LOG_LEVEL: '3', MPLBACKEND: 'Agg' };
  const rows = [];
  for (const entry of SCRIPTS) {
    if (spawnSync(python, ['-c', `import ${entry.imports.join(', ')}`], { env }).status !== 0) {
      rows.push({ imports: entry.label, note: 'not installable here' });
      continue;
    }
    const script = path.join(dir, `import_${entry.label.replace(/\W/g, '_')}.py`);
    fs.writeFileSync(script, `import ${entry.imports.join(', ')}\n`);
    const pyArgs = entry.module ? ['-m', entry.module, ...entry.args] : [script];
    const pnwArgs = ['run', ...pyArgs];
    for (let i = 0; i < 3; i++) timed(SHIM, pnwArgs, env); // warm-up: the zygote imports
    const py = [];
    const pnw = [];
    const runs = python && ['torch', 'tensorflow'].includes(entry.label) ? Math.min(RUNS, 7) : RUNS;
    for (let i = 0; i < runs; i++) {
      py.push(timed(python, pyArgs, env));
      pnw.push(timed(SHIM, pnwArgs, env));
    }
    const p = summary(py);
    const q = summary(pnw);
    rows.push({ imports: entry.label, python: p, pynwheel: q, ratio: +(q.median / p.median).toFixed(4) });
  }
  const trivial = path.join(dir, 'import_os.py');
  const measured = limits(python, env, dir);
  const perSecond = {
    python: +(await throughput(python, [trivial], env, 5)).toFixed(1),
    pynwheel: +(await throughput(SHIM, ['run', trivial], env, 5)).toFixed(1),
  };
  spawnSync(SHIM, ['stop'], { env, stdio: 'ignore' });
  fs.rmSync(runtimeDir, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  console.table(rows.map((r) => (r.python ? {
    imports: r.imports, 'python median': r.python.median, 'python min-max': `${r.python.min}-${r.python.max}`,
    'pynwheel median': r.pynwheel.median, 'pynwheel min-max': `${r.pynwheel.min}-${r.pynwheel.max}`, ratio: r.ratio,
  } : r)));
  console.log('limits (ms, medians):', measured);
  console.log(`two parallel loops of a trivial script, runs per second: python ${perSecond.python}, pynwheel ${perSecond.pynwheel} (×${(perSecond.pynwheel / perSecond.python).toFixed(2)})`);
  const results = path.join(__dirname, 'results');
  fs.mkdirSync(results, { recursive: true });
  fs.writeFileSync(path.join(results, 'startup.json'), JSON.stringify({ runs: RUNS, unit: 'ms', rows, limits: measured, throughput: perSecond }, null, 2) + '\n');
  const chartRows = rows.filter((r) => r.python).map((r) => ({ label: r.imports, python: r.python.median, pynwheel: r.pynwheel.median }));
  fs.writeFileSync(path.join(results, 'startup.svg'), barChart(chartRows, 'Script start-up: plain python against a warm pynwheel run (median, log scale)'));
}

main().catch((err) => { console.error(err); process.exit(1); });
