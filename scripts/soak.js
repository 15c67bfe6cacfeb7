#!/usr/bin/env node
// Soak: N runs (default 20,000) through one daemon and zygote, sampling the daemon's and the
// zygote's fd count, thread count and RSS, and counting zombies, so that any growth shows.
// Usage: node scripts/soak.js [runs] [concurrency]   (build first: npm install)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { runThroughDaemon } = require('../dist/client/run-client');
const { ask } = require('../dist/cli/control');
const { pathsIn } = require('../dist/shared/runtime-dir');

const RUNS = Number(process.argv[2] ?? 20_000);
const CONCURRENCY = Number(process.argv[3] ?? 4);
const SAMPLES = 8;

function findPython() {
  for (const candidate of [process.env.PYNWHEEL_PYTHON, path.join(__dirname, '..', '.venv-test', 'bin', 'python3')]) {
    if (candidate && fs.existsSync(candidate)) return candidate;
  }
  const made = path.join(os.tmpdir(), 'pynwheel-soak-venv');
  if (!fs.existsSync(path.join(made, 'bin', 'python3'))) spawnSync('python3', ['-m', 'venv', made], { stdio: 'inherit' });
  return path.join(made, 'bin', 'python3');
}

function proc(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) ?? [])[1]);
  return { fds: fs.readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads'), rssKiB: field('VmRSS') };
}

/** Children of `pid` by state: zombies must stay at zero. */
function children(pid) {
  const out = { total: 0, zombies: 0 };
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== pid) continue;
      out.total++;
      if (fields[0] === 'Z') out.zombies++;
    } catch { /* gone */ }
  }
  return out;
}

async function main() {
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-soak-'));
  fs.chmodSync(runtimeDir, 0o700);
  const scriptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-soak-scripts-'));
  const script = path.join(scriptDir, 'soak.py');
  fs.writeFileSync(script, 'import json, sys\nsys.stdout.write(json.dumps(sys.argv[1:]))\nsys.exit(int(sys.argv[1]) % 3)\n');
  const python = findPython();
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', PYNWHEEL_RUNTIME_DIR: runtimeDir };
  const devNull = fs.openSync('/dev/null', 'r+');
  const options = { cwd: scriptDir, env, interpreter: { path: python, argv0: 'python3' }, stdio: [devNull, devNull, devNull], forwardSignals: false };
  const paths = pathsIn(runtimeDir);
  let wrong = 0;
  let done = 0;
  const runOne = async (i) => {
    const outcome = await runThroughDaemon({ file: script, args: [String(i)] }, options);
    if (outcome.exitCode !== i % 3) wrong++;
    done++;
  };
  for (let i = 0; i < 100; i++) await runOne(i); // warm-up: daemon, zygote, preloads
  const status = await ask(paths, { type: 'status' });
  const daemonPid = status.pid;
  const zygotePid = status.zygotes[0].pid;
  done = 0;
  const rows = [];
  const sample = () => {
    const d = proc(daemonPid);
    const z = proc(zygotePid);
    const kids = children(zygotePid);
    rows.push({ runs: done, daemonFds: d.fds, daemonThreads: d.threads, daemonRssMiB: +(d.rssKiB / 1024).toFixed(1),
      zygoteFds: z.fds, zygoteThreads: z.threads, zygoteRssMiB: +(z.rssKiB / 1024).toFixed(1), zygoteChildren: kids.total, zombies: kids.zombies });
  };
  sample();
  const started = process.hrtime.bigint();
  let next = 0;
  const every = Math.ceil(RUNS / SAMPLES);
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < RUNS) {
      const i = next++;
      await runOne(i);
      if (done % every === 0) sample();
    }
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await new Promise((r) => setTimeout(r, 300));
  sample();
  console.table(rows);
  const first = rows[0];
  const last = rows[rows.length - 1];
  console.log(`${RUNS} runs in ${seconds.toFixed(1)} s (${(RUNS / seconds).toFixed(0)} runs/s, concurrency ${CONCURRENCY}); wrong exit statuses: ${wrong}`);
  console.log(`daemon: fds ${first.daemonFds} -> ${last.daemonFds}, threads ${first.daemonThreads} -> ${last.daemonThreads}, RSS ${first.daemonRssMiB} -> ${last.daemonRssMiB} MiB`);
  console.log(`zygote: fds ${first.zygoteFds} -> ${last.zygoteFds}, threads ${first.zygoteThreads} -> ${last.zygoteThreads}, RSS ${first.zygoteRssMiB} -> ${last.zygoteRssMiB} MiB; zombies at the end: ${last.zombies}`);
  fs.mkdirSync(path.join(__dirname, '..', 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, '..', 'bench', 'results', 'soak.json'), JSON.stringify({ runs: RUNS, concurrency: CONCURRENCY, seconds, wrong, samples: rows }, null, 2));
  await ask(paths, { type: 'stop' });
  fs.closeSync(devNull);
  await new Promise((r) => setTimeout(r, 500));
  fs.rmSync(runtimeDir, { recursive: true, force: true });
  fs.rmSync(scriptDir, { recursive: true, force: true });
  const leaked = last.daemonFds !== first.daemonFds || last.zygoteFds !== first.zygoteFds || last.zombies !== 0 || wrong !== 0;
  process.exitCode = leaked ? 1 : 0;
}

main().catch((err) => { console.error(err); process.exit(1); });
