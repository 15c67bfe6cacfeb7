#!/usr/bin/env node
// What the staleness check costs per run: the zygote times each check (one non-blocking read of
// its inotify fd) and reports the mean in `pynwheel status`. This runs a numpy+pandas script
// N times through one zygote and prints that mean beside the run's own median latency.
// Usage: node bench/check-cost.js [runs]   (uses $PYNWHEEL_BENCH_PYTHON, or .venv-bench-memory)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');
const { runThroughDaemon } = require('../dist/client/run-client');
const { ask } = require('../dist/cli/control');
const { pathsIn } = require('../dist/shared/runtime-dir');

const RUNS = Number(process.argv[2] ?? 200);
const ROOT = path.resolve(__dirname, '..');

async function main() {
  const python = benchPython('memory', { numpy: 'numpy', pandas: 'pandas' });
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-check-'));
  fs.chmodSync(runtimeDir, 0o700);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-check-scripts-'));
  const script = path.join(dir, 'np_pd.py');
  fs.writeFileSync(script, 'import numpy, pandas\n');
  const devNull = fs.openSync('/dev/null', 'r+');
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', PYNWHEEL_RUNTIME_DIR: runtimeDir };
  const options = { cwd: dir, env, interpreter: { path: python, argv0: 'python3' }, stdio: [devNull, devNull, devNull], forwardSignals: false };
  const times = [];
  for (let i = 0; i < RUNS + 5; i++) {
    const started = process.hrtime.bigint();
    await runThroughDaemon({ file: script, args: [] }, options);
    if (i >= 5) times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  const status = await ask(pathsIn(runtimeDir), { type: 'status' });
  await ask(pathsIn(runtimeDir), { type: 'stop' });
  fs.closeSync(devNull);
  fs.rmSync(runtimeDir, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  times.sort((a, b) => a - b);
  const z = status.zygotes[0];
  const median = times[times.length >> 1];
  console.log(`numpy + pandas zygote: ${z.watchedDirectories} directories watched`);
  console.log(`staleness check: ${(z.staleCheckNs / 1000).toFixed(1)} us per run (mean over ${RUNS + 5} runs)`);
  console.log(`run latency through the client library: median ${median.toFixed(2)} ms; the check is ${((z.staleCheckNs / 1e6 / median) * 100).toFixed(2)}% of it`);
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'check-cost.json'), JSON.stringify({ runs: RUNS, watchedDirectories: z.watchedDirectories, checkNs: z.staleCheckNs, medianRunMs: median }, null, 2) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
