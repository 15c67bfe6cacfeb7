#!/usr/bin/env node
// The cluster against Celery and Ray (issue 18), all three on this machine, in one run, on the
// same jobs (bench/cluster_jobs.py) and a private redis-server:
//   - round trip of a trivial job and of a small numpy function (median, p90), one job after
//     another from one submitter, rounds interleaved (the order rotates each round);
//   - throughput of numpy jobs over two workers: pynwheel (two `pynwheel worker`s of one job at a
//     time, each job a fork of a warm zygote) against Celery (prefork pool of 2) and Ray (local,
//     2 CPUs), first with their default reuse of worker processes, then with isolation equal to
//     ours (Celery's worker_max_tasks_per_child=1, Ray's max_calls=1: a fresh process per job,
//     which imports numpy again);
//   - jobs of 50 ms of numpy work each, with their default reuse.
// The goals: (1) numpy throughput at least 10 x theirs isolated; (2) at least 90% of
// their reuse throughput on the 50 ms jobs; (3) a job's overhead (round trip minus its work) at
// most 5 ms at the median.
//
// Usage: npm run bench:cluster [-- --rounds N] [-- --jobs N] [-- --quick]
// The Python: $PYNWHEEL_BENCH_PYTHON, else .venv-bench-cluster at the repo root (numpy, ray,
// celery and its libraries; Celery's CLI helpers are not in the local index: --no-deps).
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
const PER_ROUND = 20; // round trips a system makes in one round, per job kind
const JOBS = flag('--jobs', QUICK ? 200 : 1000); // numpy jobs for a throughput row
const ISOLATED_JOBS = QUICK ? 10 : 40; // a fresh process per job: a few seconds a system at most
const WORK_JOBS = QUICK ? 20 : 60; // 50 ms jobs
const WORK_MS = 50;

const python = benchPython('cluster', { numpy: 'numpy', ray: 'ray', redis: 'redis' },
  ['celery', 'kombu', 'billiard', 'vine', 'amqp', 'click', 'click-plugins', 'python-dateutil', 'tzlocal', 'six', 'tzdata']);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-cluster-'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port of 127.0.0.1 (Celery's and Ray's drivers take a TCP URL). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = require('node:net').createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); });
  });
}

/** A redis-server of the bench's own, on a unix socket and a port of 127.0.0.1, nothing saved. */
async function startRedis() {
  const dir = path.join(work, 'redis');
  fs.mkdirSync(dir);
  const socket = path.join(dir, 'redis.sock');
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--unixsocket', socket, '--unixsocketperm', '700',
    '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  server.once('error', (err) => { console.error(`bench: redis-server: ${err.message} (install Debian's redis-server)`); process.exit(1); });
  for (let i = 0; i < 200 && !fs.existsSync(socket); i++) await sleep(25);
  if (!fs.existsSync(socket)) throw new Error('redis-server did not start');
  return { server, socket, tcp: `redis://127.0.0.1:${port}`, stop: () => server.kill('SIGTERM') };
}

/** Celery or Ray, driven by bench/cluster-against.py a command at a time. */
async function startAgainst(system, mode, url) {
  const child = spawn(python, [path.join(__dirname, 'cluster-against.py'), system, mode, url], {
    cwd: work, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, RAY_USAGE_STATS_ENABLED: '0', PYTHONWARNINGS: 'ignore' },
  });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`${system} (${mode}) ended`);
      try { return JSON.parse(value); } catch { /* a library's own line on stdout */ }
    }
  };
  await next(); // {"ready": true}
  const ask = async (command) => { child.stdin.write(JSON.stringify(command) + '\n'); return next(); };
  return {
    name: `${system === 'ray' ? 'Ray' : 'Celery'} (${mode === 'reuse' ? 'reuse' : mode === 'isolated' ? 'a process per job' : mode})`,
    roundtrip: async (job, n) => (await ask({ op: 'roundtrip', job, n })).ms,
    throughput: async (job, n, arg) => { const r = await ask({ op: 'throughput', job, n, arg }); return r.n / r.seconds; },
    stop: async () => { await ask({ op: 'stop' }).catch(() => {}); child.stdin.end(); await new Promise((r) => child.once('close', r)); },
  };
}

/** pynwheel: two `pynwheel worker`s (each its own runtime directory: its own daemon) and cluster(). */
async function startPynwheel(redisSocket) {
  const { cluster } = require(path.join(ROOT, 'dist', 'index.js'));
  const url = `unix://${redisSocket}`;
  const key = require('node:crypto').randomBytes(32).toString('hex');
  const env = { ...process.env, PYNWHEEL_CLUSTER_KEY: key };
  const workers = [0, 1].map((i) => {
    const runtimeDir = path.join(work, `worker-${i}`);
    fs.mkdirSync(runtimeDir, { mode: 0o700 });
    const log = fs.openSync(path.join(work, `worker-${i}.log`), 'a');
    // Two workers share this machine's 2 cores, as Ray's two CPUs do: a thread per job each (Ray
    // sets OMP_NUM_THREADS to its task's CPUs, 1; the default, cores / concurrency, would be 2).
    const child = spawn(process.execPath, [CLI, 'worker', '--redis', url, '--concurrency', '1', '--threads-per-job', '1', '--python', python],
      { cwd: work, env: { ...env, PYNWHEEL_RUNTIME_DIR: runtimeDir }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    return child;
  });
  const code = path.join(work, 'code');
  fs.mkdirSync(code);
  fs.copyFileSync(path.join(__dirname, 'cluster_jobs.py'), path.join(code, 'cluster_jobs.py'));
  const client = cluster(url, { key });
  await client.connect();
  const call = (job, args) => client.call(`${path.join(code, 'cluster_jobs.py')}:${job}`, args);
  for (let i = 0; i < 20; i++) await Promise.all([call('numpy_sum', [i]), call('numpy_sum', [i + 1])]); // both workers' zygotes warm
  return {
    name: 'pynwheel (a fork per job)',
    roundtrip: async (job, n) => {
      const times = [];
      for (let i = 0; i < n; i++) {
        const started = process.hrtime.bigint();
        await call(job, job === 'numpy_sum' ? [i] : []);
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      return times;
    },
    throughput: async (job, n, arg) => {
      const started = process.hrtime.bigint();
      await Promise.all(Array.from({ length: n }, (_, i) => call(job, job === 'numpy_sum' ? [i] : [arg])));
      return n / (Number(process.hrtime.bigint() - started) / 1e9);
    },
    /** How long each numpy_work job took in its worker's call() (the workers' log lines), median ms. */
    workJobMs: () => {
      const what = new Map();
      const took = [];
      for (const i of [0, 1]) {
        for (const line of fs.readFileSync(path.join(work, `worker-${i}.log`), 'utf8').split('\n')) {
          const started = / job ([^:]+): call .*:numpy_work /.exec(line);
          if (started) what.set(started[1], true);
          const ended = / job ([^:]+): returned in (\d+) ms/.exec(line);
          if (ended && what.get(ended[1])) took.push(Number(ended[2]));
        }
      }
      return took.length ? median(took) : undefined;
    },
    stop: async () => {
      await client.close().catch(() => {});
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => (w.exitCode !== null ? null : new Promise((r) => w.once('close', r)))));
      for (const i of [0, 1]) {
        spawnSync(process.execPath, [CLI, 'stop'], { env: { ...env, PYNWHEEL_RUNTIME_DIR: path.join(work, `worker-${i}`) }, stdio: 'ignore' });
      }
    },
  };
}

/** The numpy function's own work, in one process: what a round trip of it is over the system's. */
function numpyWorkMs() {
  const r = spawnSync(python, ['-c', [
    'import sys, time; sys.path.insert(0, sys.argv[1]); import cluster_jobs',
    'ts = []',
    'for i in range(200):',
    '    t = time.perf_counter(); cluster_jobs.numpy_sum(i); ts.append((time.perf_counter() - t) * 1000)',
    'print(sorted(ts)[100])'].join('\n'), __dirname], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

async function main() {
  const redis = await startRedis();
  const results = { name: 'cluster', date: new Date().toISOString(), quick: QUICK, rounds: ROUNDS, machine: `${os.cpus().length} cores`, rows: {} };
  const systems = [];
  try {
    systems.push(await startPynwheel(redis.socket));
    systems.push(await startAgainst('celery', 'reuse', `${redis.tcp}/1`));
    systems.push(await startAgainst('ray', 'reuse', `${redis.tcp}/2`));
    const times = new Map(systems.map((s) => [s.name, { trivial: [], numpy_sum: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = systems.map((_, i) => systems[(i + round) % systems.length]);
      for (const s of order) for (const job of ['trivial', 'numpy_sum']) times.get(s.name)[job].push(...await s.roundtrip(job, PER_ROUND));
    }
    const throughput = new Map();
    for (const s of systems) throughput.set(s.name, { numpy: await s.throughput('numpy_sum', JOBS), work: await s.throughput('numpy_work', WORK_JOBS, WORK_MS) });
    results.workJobMsInWorker = systems[0].workJobMs(); // (a 50 ms job's time in its worker's call(), two running at once)
    for (const s of systems.splice(1)) await s.stop();
    const workMs = numpyWorkMs();
    for (const [name, t] of times) {
      results.rows[name] = {
        trivial: { median: median(t.trivial), p90: p90(t.trivial), n: t.trivial.length },
        numpy: { median: median(t.numpy_sum), p90: p90(t.numpy_sum), n: t.numpy_sum.length },
        overheadMs: median(t.numpy_sum) - workMs,
        numpyJobsPerSecond: throughput.get(name).numpy,
        workJobsPerSecond: throughput.get(name).work,
      };
    }
    // Isolation equal to ours: a fresh process per job.
    for (const [system, url] of [['celery', `${redis.tcp}/3`], ['ray', `${redis.tcp}/4`]]) {
      const s = await startAgainst(system, 'isolated', url);
      results.rows[s.name] = { numpyJobsPerSecond: await s.throughput('numpy_sum', ISOLATED_JOBS), jobs: ISOLATED_JOBS };
      await s.stop();
    }
    results.numpyWorkMs = workMs;
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
    redis.stop();
  }
  if (!results.goals && !Object.keys(results.rows).length) return;
  const ours = results.rows['pynwheel (a fork per job)'];
  const fmt = (v) => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(0));
  printTable(['system', 'trivial ms (p90)', 'numpy ms (p90)', 'numpy jobs/s', `${WORK_MS} ms jobs/s`],
    Object.entries(results.rows).map(([name, r]) => [name,
      r.trivial ? `${fmt(r.trivial.median)} (${fmt(r.trivial.p90)})` : '-',
      r.numpy ? `${fmt(r.numpy.median)} (${fmt(r.numpy.p90)})` : '-',
      fmt(r.numpyJobsPerSecond), fmt(r.workJobsPerSecond)]));
  if (results.workJobMsInWorker !== undefined) console.log(`a ${WORK_MS} ms job in its worker (its local call()), two at once: ${results.workJobMsInWorker} ms (median, workers' logs)`);
  const isolated = Object.entries(results.rows).filter(([n]) => n.includes('a process per job') && !n.startsWith('pynwheel'));
  const reuse = Object.entries(results.rows).filter(([n]) => n.includes('(reuse)'));
  results.goals = {
    isolatedRatio: Math.min(...isolated.map(([, r]) => ours.numpyJobsPerSecond / r.numpyJobsPerSecond)),
    workShare: Math.min(...reuse.map(([, r]) => ours.workJobsPerSecond / r.workJobsPerSecond)),
    overheadMs: ours.overheadMs,
  };
  const g = results.goals;
  console.log(`goals: (1) numpy jobs/s >= 10 x theirs with a process per job: x${g.isolatedRatio.toFixed(1)} ${g.isolatedRatio >= 10 ? 'met' : 'NOT met'}; ` +
    `(2) ${WORK_MS} ms jobs >= 90% of theirs with reuse: ${(g.workShare * 100).toFixed(0)}% ${g.workShare >= 0.9 ? 'met' : 'NOT met'}; ` +
    `(3) overhead <= 5 ms: ${g.overheadMs.toFixed(2)} ms ${g.overheadMs <= 5 ? 'met' : 'NOT met'}`);
  fs.writeFileSync(path.join(__dirname, 'results', QUICK ? 'cluster-quick.json' : 'cluster.json'), JSON.stringify(results, null, 1) + '\n');
  spawnSync('sh', ['-c', `chmod -R u+w ${JSON.stringify(work)}; rm -rf ${JSON.stringify(work)}`]); // (bundles are unpacked read-only)
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
