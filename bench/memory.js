#!/usr/bin/env node
// Memory: 20 concurrent runs of a pandas script that each run a full garbage collection and
// then sleep, under pynwheel and as 20 plain python processes. Reports total PSS (proportional
// set size: shared pages divided among the processes sharing them), from /proc/<pid>/smaps_rollup:
// for pynwheel every process of ours, by part (the runs, the spares waiting, the zygotes, the
// daemon, the 20 clients), each part's PSS and its own (private) pages.
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
// The client as an installed package has it (scripts/install-runner.js copies the runner over bin/pynwheel).
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');
const CLIENT = fs.existsSync(RUNNER) ? RUNNER : path.join(ROOT, 'bin', 'pynwheel');


/** Start COUNT processes, wait until each printed its pid and "ready", then sum their PSS. */
async function measure(command, args, env, inspect) {
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
  const runs = pids.reduce((sum, pid) => sum + pages(pid).pss, 0);
  const clientPids = children.map((c) => c.pid).filter((pid) => pid !== undefined && !pids.includes(pid));
  const inspected = inspect ? inspect(pids, clientPids) : null;
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.on('close', r)))));
  return { runs, ...inspected };
}

/** PSS and private (own) pages of a process, KiB, from /proc/<pid>/smaps_rollup. */
function pages(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { pss: field('Pss'), own: field('Private_Clean') + field('Private_Dirty') };
  } catch {
    return { pss: 0, own: 0 };
  }
}

const childrenOf = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

/** Every process of ours while the runs sleep: runs, spares, zygotes, the daemon, the clients. */
function ourProcesses(status, runPids, clientPids) {
  const parts = { runs: [], spares: [], zygotes: [], daemon: [status.pid], clients: clientPids };
  for (const z of status.zygotes) {
    parts.zygotes.push(z.pid);
    for (const child of childrenOf(z.pid)) (runPids.includes(child) ? parts.runs : parts.spares).push(child);
  }
  const missing = runPids.filter((pid) => !parts.runs.includes(pid));
  parts.runs.push(...missing); // (a run forked elsewhere: counted all the same)
  const sum = (pids, what) => pids.reduce((total, pid) => total + pages(pid)[what], 0);
  const counted = Object.fromEntries(Object.entries(parts).map(([name, pids]) => [name, { count: pids.length, pss: sum(pids, 'pss'), own: sum(pids, 'own') }]));
  // Where the own pages are, by kind of mapping (bench/cow-pages.py): a run, a spare, the zygote that forked them.
  const family = status.zygotes.find((z) => childrenOf(z.pid).some((pid) => runPids.includes(pid)));
  const spare = family ? childrenOf(family.pid).find((pid) => !runPids.includes(pid)) : undefined;
  const targets = [`${runPids[0]}=a run`, ...(spare ? [`${spare}=a spare`] : []), ...(family ? [`${family.pid}=the zygote`] : [])];
  const table = spawnSync('python3', [path.join(__dirname, 'cow-pages.py'), ...targets], { encoding: 'utf8' }).stdout;
  return { parts: counted, table };
}

async function main() {
  const python = benchPython('memory', { pandas: 'pandas' });
  const scriptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-mem-'));
  const script = path.join(scriptDir, 'pandas_gc_sleep.py');
  fs.writeFileSync(script, 'import gc, os, time\nimport pandas as pd\ndf = pd.DataFrame({"a": range(1000)})\ngc.collect()\nprint("ready", os.getpid(), flush=True)\ntime.sleep(60)\n');
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-mem-rt-'));
  fs.chmodSync(runtimeDir, 0o700);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', PYNWHEEL_RUNTIME_DIR: runtimeDir, PYNWHEEL_PYTHON: python };
  const status = () => JSON.parse(spawnSync(process.execPath, [CLI, 'status', '--json'], { env }).stdout.toString());
  for (let i = 0; i < 2; i++) spawnSync(CLIENT, ['run', script], { env, stdio: 'ignore', timeout: 5000 }); // warm the zygote (killed by the timeout)

  const plain = await measure(python, [script], env);
  const viaZygote = await measure(CLIENT, ['run', script], env, (runPids, clientPids) => ourProcesses(status(), runPids, clientPids));
  spawnSync(process.execPath, [CLI, 'stop'], { env });
  fs.rmSync(runtimeDir, { recursive: true, force: true });
  fs.rmSync(scriptDir, { recursive: true, force: true });

  const mib = (kib) => (kib / 1024).toFixed(1);
  const parts = viaZygote.parts;
  const total = Object.values(parts).reduce((sum, p) => sum + p.pss, 0);
  console.log(`${COUNT} concurrent pandas runs (full gc, then sleep), total PSS (own pages: private to each process):`);
  console.log(`  python:   ${mib(plain.runs)} MiB (${mib(plain.runs / COUNT)} MiB each)`);
  console.log(`  pynwheel: ${mib(total)} MiB, every process of ours counted (${path.basename(CLIENT)} as the client):`);
  for (const [name, p] of Object.entries(parts)) {
    console.log(`    ${name.padEnd(8)} ${String(p.count).padStart(3)}: PSS ${mib(p.pss).padStart(6)} MiB, own pages ${mib(p.own).padStart(6)} MiB` +
      (p.count > 1 ? ` (${mib(p.own / p.count)} MiB each)` : ''));
  }
  console.log(`  ratio pynwheel/python: ${(total / plain.runs).toFixed(3)}; target: at most 150 MiB counted this way`);
  console.log('Own pages by kind of mapping (bench/cow-pages.py), at the runs\' sleep:');
  console.log(viaZygote.table.replace(/^/gm, '  ').trimEnd());
  const results = path.join(__dirname, 'results');
  fs.mkdirSync(results, { recursive: true });
  fs.writeFileSync(path.join(results, 'memory.json'), JSON.stringify({ count: COUNT, client: path.basename(CLIENT), python: plain.runs, pynwheel: total, parts, unit: 'KiB' }, null, 2) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
