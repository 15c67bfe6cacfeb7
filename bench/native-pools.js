#!/usr/bin/env node
// Native thread pools in runs: numpy (OpenBLAS), torch and tensorflow start pools when imported
// into the zygote; a forked run must still compute with them at full thread count. Each script
// runs with plain python and with pynwheel; output (results and thread counts) must be equal,
// and the wall time of each is printed.
// Usage: node bench/native-pools.js   (uses $PYNWHEEL_BENCH_PYTHON, or makes .venv-bench-pools)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'pynwheel.js');
const PACKAGES = { numpy: 'numpy', torch: 'torch', tensorflow: 'tensorflow-cpu' };

const SCRIPTS = {
  numpy: 'import os, numpy as np\na = np.ones((800, 800))\nprint("numpy", float((a @ a).sum()), "threads", len(os.listdir("/proc/self/task")))\n',
  torch: 'import torch\na = torch.ones(800, 800)\nprint("torch", float((a @ a).sum()), "threads", torch.get_num_threads())\n',
  tensorflow: 'import os, tensorflow as tf\na = tf.ones((400, 400))\nprint("tensorflow", float(tf.reduce_sum(tf.matmul(a, a))), "threads", len(os.listdir("/proc/self/task")) > 1)\n',
};

function timed(command, args, env) {
  const started = process.hrtime.bigint();
  const r = spawnSync(command, args, { env, encoding: 'utf8' });
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, stdout: r.stdout, status: r.status };
}

function main() {
  const python = benchPython('pools', PACKAGES);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-pools-'));
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-pools-rt-'));
  fs.chmodSync(runtimeDir, 0o700);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', PYNWHEEL_RUNTIME_DIR: runtimeDir, PYNWHEEL_PYTHON: python, TF_CPP_MIN_LOG_LEVEL: '3' };
  const rows = [];
  let failures = 0;
  for (const [module, source] of Object.entries(SCRIPTS)) {
    if (spawnSync(python, ['-c', `import ${module}`]).status !== 0) {
      rows.push({ module, result: 'not installable here' });
      continue;
    }
    const script = path.join(dir, `${module}_pool.py`);
    fs.writeFileSync(script, source);
    timed(process.execPath, [CLI, 'run', script], env); // warm: the zygote imports the module
    const py = timed(python, [script], env);
    const pnw = timed(process.execPath, [CLI, 'run', script], env);
    const same = py.status === 0 && pnw.status === 0 && py.stdout === pnw.stdout;
    if (!same) failures++;
    rows.push({ module, output: pnw.stdout.trim(), same, pythonMs: Math.round(py.ms), pynwheelMs: Math.round(pnw.ms) });
  }
  spawnSync(process.execPath, [CLI, 'stop'], { env });
  fs.rmSync(runtimeDir, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  console.table(rows);
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'native-pools.json'), JSON.stringify(rows, null, 2) + '\n');
  process.exitCode = failures ? 1 : 0;
}

main();
