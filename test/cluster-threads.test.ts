// A worker's --threads-per-job (lib/cluster/job-threads.ts) against a real redis-server of the
// test's own: a job sees OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, ... set to the worker's setting
// (default cores / concurrency), a value of the worker's own environment wins, 0 sets none; the
// setting takes effect in the fork (numpy's OpenBLAS starts the threads python would start with
// that environment, counted in /proc/self/task after a matrix product); `pynwheel status` shows
// it; a bad value is a usage error.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { cluster, type Cluster } from '../dist/index';
import { removeTree } from '../dist/cluster/bundle-cache';
import { CLI, collect, makeSandbox, python, sleep, write, type Sandbox } from './helpers';
import { removeRedis, startRedis, type TestRedis } from './redis-helper';

const KEY = 'cluster-threads-test-key-0123456789';
const VARIABLES = ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS', 'NUMEXPR_NUM_THREADS', 'BLIS_NUM_THREADS'];

let redis: TestRedis;
let code: Sandbox;
const workers: Array<{ sb: Sandbox; child: ChildProcess; log: string; exited: Promise<number | null> }> = [];
const handles: Cluster[] = [];

/** A worker on a queue of its own, started with `extra` options and variables. */
async function startWorker(queue: string, extra: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const sb = makeSandbox(`clthreads-${queue}`);
  const log = path.join(sb.runtimeDir, 'worker.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--queue', queue, '--cache-dir', path.join(sb.runtimeDir, 'code'), ...extra], {
    env: { ...sb.env, ...env, PYNWHEEL_CLUSTER_KEY: KEY }, stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  workers.push({ sb, child, log, exited });
  const deadline = Date.now() + 20000;
  while (!fs.readFileSync(log, 'utf8').includes(' concurrency ')) {
    if (child.exitCode !== null) throw new Error(`worker ${queue} exited: ${fs.readFileSync(log, 'utf8')}`);
    if (Date.now() > deadline) throw new Error(`worker ${queue} did not start: ${fs.readFileSync(log, 'utf8')}`);
    await sleep(50);
  }
  return fs.readFileSync(log, 'utf8');
}

function handleOn(queue: string): Cluster {
  const h = cluster(redis.url, { key: KEY, queue });
  handles.push(h);
  return h;
}

t.before(async () => {
  redis = await startRedis();
  code = makeSandbox('clthreads-code');
  write(code, 'jobs/threads.py', [
    'import os',
    `NAMES = ${JSON.stringify(VARIABLES)}`,
    'def seen():',
    '    return {name: os.environ.get(name) for name in NAMES}',
    'def blas_threads():',
    '    """The threads of this process after a product that OpenBLAS splits over its threads."""',
    '    import numpy',
    '    a = numpy.ones((400, 400))',
    '    for _ in range(3):',
    '        a = a @ a / 400.0',
    '    return len(os.listdir("/proc/self/task"))',
    'if __name__ == "__main__":',
    '    print(blas_threads())',
    '',
  ].join('\n'));
});

process.on('exit', () => { for (const w of workers) w.child.kill('SIGKILL'); });

t.teardown(async () => {
  for (const h of handles) await h.close().catch(() => undefined);
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await w.exited;
    removeTree(path.join(w.sb.runtimeDir, 'code')); // read-only bundles
    await w.sb.cleanup();
  }
  await code?.cleanup();
  if (redis) await removeRedis(redis);
});

/** What python3 itself starts with this environment (the differential's other side). */
async function pythonThreads(env: NodeJS.ProcessEnv): Promise<number> {
  const r = await python(code, [path.join(code.dir, 'jobs', 'threads.py')], { env: { ...code.env, ...env } });
  t.equal(r.status, 0, r.stderr.toString());
  return Number(r.stdout.toString().trim());
}

t.test('by default a job gets cores / concurrency threads, in its environment and in its zygote\'s OpenBLAS', async (t) => {
  const log = await startWorker('default', ['--concurrency', '2']);
  const expected = String(Math.max(1, Math.floor(availableParallelism() / 2)));
  t.match(log, new RegExp(`concurrency 2, threads per job ${expected},`), 'the worker says it at its start');
  const h = handleOn('default');
  const file = path.join(code.dir, 'jobs', 'threads.py');
  t.same(await h.call(`${file}:seen`), Object.fromEntries(VARIABLES.map((n) => [n, expected])));
  const env = Object.fromEntries(VARIABLES.map((n) => [n, expected]));
  const want = await pythonThreads(env);
  // The first job of a new key may be run by python itself while its zygote warms: later ones are forks.
  const got = [];
  for (let i = 0; i < 3; i++) got.push(await h.call(`${file}:blas_threads`));
  t.comment(`default: ${want} threads`);
  t.same(got, [want, want, want], `threads after a product: ${want}, as python3 with ${VARIABLES[1]}=${expected}`);

  const status = await collect(process.execPath, [CLI, 'status', '--on', redis.url, '--queue', 'default', '--json'], { env: code.env, cwd: code.dir });
  t.equal(status.status, 0, status.stderr.toString());
  t.equal(JSON.parse(status.stdout.toString()).workers[0].threadsPerJob, Number(expected));
  const text = await collect(process.execPath, [CLI, 'status', '--on', redis.url, '--queue', 'default'], { env: code.env, cwd: code.dir });
  t.match(text.stdout.toString(), new RegExp(`worker .*: concurrency 2, ${expected} threads? per job, running \\d+, served \\d+`));
});

t.test('a value of the worker\'s own environment wins over --threads-per-job, and takes effect', async (t) => {
  const log = await startWorker('given', ['--concurrency', '1', '--threads-per-job', '1'], { OPENBLAS_NUM_THREADS: '2', OMP_NUM_THREADS: '' });
  t.match(log, /threads per job 1 \(as the worker's environment sets: OPENBLAS_NUM_THREADS=2\)/);
  const h = handleOn('given');
  const file = path.join(code.dir, 'jobs', 'threads.py');
  const seen = await h.call(`${file}:seen`) as Record<string, string>;
  t.same(seen, { ...Object.fromEntries(VARIABLES.map((n) => [n, '1'])), OPENBLAS_NUM_THREADS: '2' }, 'the worker\'s value for OpenBLAS; an empty one is no value');
  const want = await pythonThreads({ ...seen });
  const got = [];
  for (let i = 0; i < 3; i++) got.push(await h.call(`${file}:blas_threads`));
  t.not(want, 1, 'OpenBLAS starts a thread of its own beside the main one');
  t.same(got, [want, want, want], `as python3 with OPENBLAS_NUM_THREADS=2: ${want}`);
});

t.test('--threads-per-job 0 sets none', async (t) => {
  const log = await startWorker('none', ['--threads-per-job', '0']);
  t.match(log, /threads per job: left to the libraries/);
  const h = handleOn('none');
  const file = path.join(code.dir, 'jobs', 'threads.py');
  t.same(await h.call(`${file}:seen`), Object.fromEntries(VARIABLES.map((n) => [n, null])));
  const want = await pythonThreads({});
  const got = [];
  for (let i = 0; i < 3; i++) got.push(await h.call(`${file}:blas_threads`));
  t.same(got, [want, want, want], `as python3 with none of them: ${want}`);
  const status = await collect(process.execPath, [CLI, 'status', '--on', redis.url, '--queue', 'none'], { env: code.env, cwd: code.dir });
  t.match(status.stdout.toString(), /worker .*: concurrency 1, threads per job not set, running/);
});

t.test('a bad --threads-per-job is a usage error, before anything starts', async (t) => {
  for (const bad of ['x', '-1', '1.5']) {
    const r = await collect(process.execPath, [CLI, 'worker', '--redis', redis.url, '--threads-per-job', bad], { env: { ...code.env, PYNWHEEL_CLUSTER_KEY: KEY }, cwd: code.dir, timeoutMs: 20000 });
    t.equal(r.status, 2, `--threads-per-job ${bad}`);
    t.match(r.stderr.toString(), /--threads-per-job must be 0 or a positive integer/);
  }
});
