#!/usr/bin/env node
// The cluster (issue 18), first figures: round trip of a trivial function and of a numpy
// function through Redis and a warm worker (median, p90), and the throughput of N numpy jobs over
// two workers (concurrency 1 each) on this machine. Redis is a private redis-server on a unix
// socket. Not yet against Celery and Ray (the comparison): this measures pynwheel alone.
//
// Usage: node bench/cluster.js [--trips N] [--jobs N]   (default 200 round trips, 1000 jobs)
// The Python: $PYNWHEEL_BENCH_PYTHON, else the tests' venv (.venv-test, numpy installed).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'pynwheel.js');
const argv = process.argv.slice(2);
const flag = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const TRIPS = flag('--trips', 200);
const JOBS = flag('--jobs', 1000);
const python = process.env.PYNWHEEL_BENCH_PYTHON ?? path.join(ROOT, '.venv-test', 'bin', 'python3');
const KEY = 'bench-cluster-key-0123456789abcdef';
const { cluster } = require(path.join(ROOT, 'dist', 'index.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-cluster-'));
  const socket = path.join(work, 'redis.sock');
  const redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--dir', work, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const workers = [];
  try {
    while (!fs.existsSync(socket)) await sleep(20);
    const url = `unix://${socket}`;
    for (const name of ['a', 'b']) {
      const rt = path.join(work, `rt-${name}`);
      fs.mkdirSync(rt, { mode: 0o700 });
      const log = fs.openSync(path.join(work, `worker-${name}.log`), 'a');
      workers.push({ rt, child: spawn(process.execPath, [CLI, 'worker', '--redis', url, '--python', python], { env: { ...process.env, PYNWHEEL_RUNTIME_DIR: rt, PYNWHEEL_CLUSTER_KEY: KEY }, stdio: ['ignore', log, log] }) });
      fs.closeSync(log);
    }
    const code = path.join(work, 'code');
    fs.mkdirSync(code);
    fs.writeFileSync(path.join(code, 'jobs.py'), 'import numpy\ndef trivial(i):\n    return i\ndef numeric(i):\n    a = numpy.arange(1000, dtype=numpy.float64) + i\n    return float(a.sum())\n');
    const c = cluster(url, { key: KEY });
    await c.connect();
    const target = (f) => `${path.join(code, 'jobs.py')}:${f}`;
    for (let i = 0; i < 20; i++) await Promise.all([c.call(target('trivial'), [i]), c.call(target('numeric'), [i])]); // warm both workers' zygotes
    const trips = { trivial: [], numeric: [] };
    for (let i = 0; i < TRIPS; i++) {
      for (const f of i % 2 ? ['numeric', 'trivial'] : ['trivial', 'numeric']) {
        const t0 = performance.now();
        await c.call(target(f), [i]);
        trips[f].push(performance.now() - t0);
      }
    }
    const t0 = performance.now();
    await Promise.all(Array.from({ length: JOBS }, (_, i) => c.call(target('numeric'), [i])));
    const seconds = (performance.now() - t0) / 1000;
    await c.close();
    const out = {
      machine: `${os.cpus().length} cores`, trips: TRIPS, jobs: JOBS,
      trivial: { medianMs: quantile(trips.trivial, 0.5), p90Ms: quantile(trips.trivial, 0.9) },
      numpy: { medianMs: quantile(trips.numeric, 0.5), p90Ms: quantile(trips.numeric, 0.9) },
      throughputJobsPerS: JOBS / seconds,
    };
    console.log(`round trip, trivial function: median ${out.trivial.medianMs.toFixed(2)} ms, p90 ${out.trivial.p90Ms.toFixed(2)} ms`);
    console.log(`round trip, numpy function:   median ${out.numpy.medianMs.toFixed(2)} ms, p90 ${out.numpy.p90Ms.toFixed(2)} ms`);
    console.log(`${JOBS} numpy jobs over 2 workers: ${seconds.toFixed(2)} s, ${out.throughputJobsPerS.toFixed(0)} jobs/s`);
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'cluster.json'), `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => (w.child.exitCode !== null ? r() : w.child.once('exit', r)))));
    for (const w of workers) spawnSync(process.execPath, [CLI, 'stop'], { env: { ...process.env, PYNWHEEL_RUNTIME_DIR: w.rt }, stdio: 'ignore' });
    redis.kill('SIGTERM');
    await new Promise((r) => (redis.exitCode !== null ? r() : redis.once('exit', r)));
    spawnSync('sh', ['-c', `chmod -R u+w ${JSON.stringify(work)}; rm -rf ${JSON.stringify(work)}`]);
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
