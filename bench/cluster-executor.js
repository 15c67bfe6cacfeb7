#!/usr/bin/env node
// pynwheel.futures.Executor(cluster=URL) against the local Executor and against Node's
// cluster().call, on this machine, in one run: the same functions (bench/cluster_jobs.py), a
// private redis-server and two `pynwheel worker`s of one job at a time.
//   - round trip of math.sqrt (a module the workers' zygotes have: the path alone), of a trivial
//     function and of a small numpy function of cluster_jobs.py (which imports numpy at its top:
//     see docs/PERFORMANCE.md for what that costs a cluster Executor job), median and p90, one
//     task after another from one submitter;
//   - throughput of numpy tasks submitted all at once.
// Rounds interleave the three (the order rotates each round). The cluster Executor's tasks go
// Python -> the local daemon (its cluster session) -> Redis -> a worker, Node's call() goes
// straight to Redis: their difference is the daemon's hop; the local Executor forks this
// machine's program (no Redis, no bundle, no signing): the floor.
//
// Usage: node bench/cluster-executor.js [--rounds N] [--jobs N] [--quick]
// The Python: $PYNWHEEL_BENCH_PYTHON, else .venv-bench-executor at the repo root (numpy).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { benchPython } = require('./python-env');
const { printTable } = require('./table');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'pynwheel.js');
const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const flag = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const ROUNDS = flag('--rounds', QUICK ? 2 : 5);
const PER_ROUND = QUICK ? 10 : 20;
const JOBS = flag('--jobs', QUICK ? 100 : 300);

const python = benchPython('executor', { numpy: 'numpy' });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-cexec-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const dir = path.join(work, 'redis');
  fs.mkdirSync(dir);
  const socket = path.join(dir, 'redis.sock');
  const redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !fs.existsSync(socket); i++) await sleep(25);
  const url = `unix://${socket}`;
  const key = require('node:crypto').randomBytes(32).toString('hex');
  const env = { ...process.env, PYNWHEEL_CLUSTER_KEY: key };
  const workers = [0, 1].map((i) => {
    const runtimeDir = path.join(work, `worker-${i}`);
    fs.mkdirSync(runtimeDir, { mode: 0o700 });
    const log = fs.openSync(path.join(work, `worker-${i}.log`), 'a');
    const child = spawn(process.execPath, [CLI, 'worker', '--redis', url, '--concurrency', '1', '--python', python],
      { cwd: work, env: { ...env, PYNWHEEL_RUNTIME_DIR: runtimeDir }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    return child;
  });
  const code = path.join(work, 'code');
  fs.mkdirSync(code);
  for (const f of ['cluster_jobs.py', 'cluster_executor.py']) fs.copyFileSync(path.join(__dirname, f), path.join(code, f));
  const clientDir = path.join(work, 'client');
  fs.mkdirSync(clientDir, { mode: 0o700 });
  const { cluster } = require(path.join(ROOT, 'dist', 'index.js'));
  const node = cluster(url, { key });
  await node.connect();
  const call = (job, i) => (job === 'sqrt' ? node.call('math:sqrt', [i]) : node.call(`${path.join(code, 'cluster_jobs.py')}:${job}`, job === 'numpy_sum' ? [i] : []));
  for (let i = 0; i < 20; i++) await Promise.all([call('numpy_sum', i), call('numpy_sum', i + 1)]); // both workers' zygotes warm

  const driver = spawn(python, [path.join(code, 'cluster_executor.py'), url], {
    cwd: code, stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...env, PYTHONPATH: path.join(ROOT, 'python'), PYNWHEEL_RUNTIME_DIR: clientDir },
  });
  const lines = readline.createInterface({ input: driver.stdout })[Symbol.asyncIterator]();
  const ask = async (command) => {
    driver.stdin.write(`${JSON.stringify(command)}\n`);
    const { value, done } = await lines.next();
    if (done) throw new Error('the Python driver ended');
    return JSON.parse(value);
  };
  await lines.next(); // ready
  const systems = {
    'local Executor (a fork per task)': {
      roundtrip: async (job, n) => (await ask({ op: 'roundtrip', who: 'local', job, n })).times,
      throughput: async (job, n) => (await ask({ op: 'throughput', who: 'local', job, n })).rate,
    },
    'cluster Executor (Python -> daemon -> Redis)': {
      roundtrip: async (job, n) => (await ask({ op: 'roundtrip', who: 'cluster', job, n })).times,
      throughput: async (job, n) => (await ask({ op: 'throughput', who: 'cluster', job, n })).rate,
    },
    'Node cluster().call (Node -> Redis)': {
      roundtrip: async (job, n) => {
        const times = [];
        for (let i = 0; i < n; i++) {
          const started = process.hrtime.bigint();
          await call(job, i);
          times.push(Number(process.hrtime.bigint() - started) / 1e6);
        }
        return times;
      },
      throughput: async (job, n) => {
        const started = process.hrtime.bigint();
        await Promise.all(Array.from({ length: n }, (_, i) => call(job, i)));
        return n / (Number(process.hrtime.bigint() - started) / 1e9);
      },
    },
  };
  const names = Object.keys(systems);
  // Warm-up: each system's path once (the cluster Executor's first jobs pack and store the bundle).
  for (const name of names) await systems[name].roundtrip('numpy_sum', 5);
  const results = Object.fromEntries(names.map((n) => [n, { sqrt: [], trivial: [], numpy_sum: [], rate: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const job of ['sqrt', 'trivial', 'numpy_sum']) for (const name of order) results[name][job].push(...await systems[name].roundtrip(job, PER_ROUND));
    for (const name of order) results[name].rate.push(await systems[name].throughput('numpy_sum', JOBS));
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
  }
  await ask({ op: 'stop' }).catch(() => undefined);
  await new Promise((r) => (driver.exitCode !== null ? r() : driver.once('close', r)));
  await node.close();
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => (w.exitCode !== null ? null : new Promise((r) => w.once('close', r)))));
  for (const dirName of ['worker-0', 'worker-1', 'client']) {
    spawnSync(process.execPath, [CLI, 'stop'], { env: { ...env, PYNWHEEL_RUNTIME_DIR: path.join(work, dirName) }, stdio: 'ignore' });
  }
  redis.kill('SIGTERM');
  await new Promise((r) => (redis.exitCode !== null ? r() : redis.once('close', r)));
  fs.rmSync(work, { recursive: true, force: true });

  const nodeName = names[2];
  const f = (x) => x.toFixed(2);
  const rows = names.map((name) => {
    const r = results[name];
    return [name, `${f(median(r.sqrt))} (p90 ${f(p90(r.sqrt))})`, `${f(median(r.trivial))} (p90 ${f(p90(r.trivial))})`, `${f(median(r.numpy_sum))} (p90 ${f(p90(r.numpy_sum))})`,
      `${Math.round(median(r.rate))}`, `x${(median(r.sqrt) / median(results[nodeName].sqrt)).toFixed(2)}`,
      `x${(median(r.rate) / median(results[nodeName].rate)).toFixed(2)}`];
  });
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`pynwheel.futures.Executor(cluster=URL): ${ROUNDS} rounds interleaved, ${PER_ROUND} round trips a kind a round, ${JOBS} numpy tasks a throughput row; two workers of one job at a time; load ${load}`);
  printTable(['', 'math.sqrt round trip ms', 'trivial (numpy module) ms', 'numpy round trip ms', 'numpy tasks/s', 'sqrt round trip / Node\'s', 'tasks/s / Node\'s'], rows);
  const out = {
    when: new Date().toISOString(), load: os.loadavg(), cpus: os.cpus().length, rounds: ROUNDS, perRound: PER_ROUND, jobs: JOBS,
    results: Object.fromEntries(names.map((name) => [name, {
      sqrtMedianMs: median(results[name].sqrt), sqrtP90Ms: p90(results[name].sqrt), trivialMedianMs: median(results[name].trivial), trivialP90Ms: p90(results[name].trivial),
      numpyMedianMs: median(results[name].numpy_sum), numpyP90Ms: p90(results[name].numpy_sum), numpyTasksPerS: median(results[name].rate),
    }])),
  };
  fs.writeFileSync(path.join(__dirname, 'results', QUICK ? 'cluster-executor-quick.json' : 'cluster-executor.json'), `${JSON.stringify(out, null, 1)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
