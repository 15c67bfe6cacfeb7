#!/usr/bin/env node
// Memory: 20 concurrent runs of a pandas script that each run a full garbage collection and
// then sleep, under pynwheel and as 20 plain python processes. Reports total PSS (proportional
// set size: shared pages divided among the processes sharing them), from /proc/<pid>/smaps_rollup.
// Usage: node bench/memory.js [count]   (uses $PYNWHEEL_BENCH_PYTHON, or makes .venv-bench-memory)
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');

const COUNT = Number(process.argv[2] ?? 20);
const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'pynwheel.js');

const pssKiB = (pid) => {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]);
  } catch {
    return 0;
  }
};

/** Start COUNT processes, wait until each printed its pid and "ready", then sum their PSS. */
async function measure(command, args, env) {
  const children = [];
  const pids = [];
  await Promise.all(Array.from({ length: COUNT }, () => new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) { pids.push(Number(m[1])); resolve(); }
    });
    child.on('error', reject);
  })));
  await new Promise((r) => setTimeout(r, 500)); // let the last collections settle
  const runs = pids.reduce((sum, pid) => sum + pssKiB(pid), 0);
  const clients = children.reduce((sum, c) => sum + (c.pid === undefined || pids.includes(c.pid) ? 0 : pssKiB(c.pid)), 0);
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.on('close', r)))));
  return { runs, clients };
}

async function main() {
  const python = benchPython('memory', { pandas: 'pandas' });
  const scriptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-mem-'));
  const script = path.join(scriptDir, 'pandas_gc_sleep.py');
  fs.writeFileSync(script, 'import gc, os, time\nimport pandas as pd\ndf = pd.DataFrame({"a": range(1000)})\ngc.collect()\nprint("ready", os.getpid(), flush=True)\ntime.sleep(60)\n');
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-mem-rt-'));
  fs.chmodSync(runtimeDir, 0o700);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', PYNWHEEL_RUNTIME_DIR: runtimeDir, PYNWHEEL_PYTHON: python };
  spawnSync(process.execPath, [CLI, 'run', script], { env, stdio: 'ignore', timeout: 5000 }); // warm the zygote (killed by the timeout)
  const status = JSON.parse(spawnSync(process.execPath, [CLI, 'status', '--json'], { env }).stdout.toString());
  const zygotePid = status.zygotes[0].pid;

  const plain = await measure(python, [script], env);
  const viaZygote = await measure(process.execPath, [CLI, 'run', script], env);
  const zygote = pssKiB(zygotePid);
  spawnSync(process.execPath, [CLI, 'stop'], { env });
  fs.rmSync(runtimeDir, { recursive: true, force: true });
  fs.rmSync(scriptDir, { recursive: true, force: true });

  const mib = (kib) => (kib / 1024).toFixed(1);
  const pynwheelTotal = viaZygote.runs + zygote;
  console.log(`${COUNT} concurrent pandas runs (full gc, then sleep), total PSS:`);
  console.log(`  python:   ${mib(plain.runs)} MiB (${mib(plain.runs / COUNT)} MiB each)`);
  console.log(`  pynwheel: ${mib(pynwheelTotal)} MiB: runs ${mib(viaZygote.runs)} MiB (${mib(viaZygote.runs / COUNT)} MiB each) + zygote ${mib(zygote)} MiB`);
  console.log(`  ratio pynwheel/python: ${(pynwheelTotal / plain.runs).toFixed(3)}`);
  console.log(`  (not counted: the ${COUNT} waiting clients, ${mib(viaZygote.clients)} MiB of PSS for the Node CLI)`);
  const results = path.join(__dirname, 'results');
  fs.mkdirSync(results, { recursive: true });
  fs.writeFileSync(path.join(results, 'memory.json'), JSON.stringify({ count: COUNT, python: plain.runs, pynwheelRuns: viaZygote.runs, zygote, clients: viaZygote.clients, unit: 'KiB' }, null, 2) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
