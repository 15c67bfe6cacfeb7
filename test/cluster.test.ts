// The BullMQ cluster (lib/cluster/, `pynwheel worker`, `pynwheel run --on`) against a real
// redis-server of the test's own: signatures against the shared vectors, code bundles (what is
// left out, refused directories, the size limit), bad Redis input before anything is queued, two
// workers with their own runtime directories running a script (compared with python3) and
// functions, live output, the CLI's exit status and stdin, a bad signature, a code edit between
// two jobs, timeout and cancellation, retries on request, a worker killed with kill -9 mid-job,
// Redis restarted mid-run, 1,000 jobs with nothing lost or duplicated, and a clean SIGTERM.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { cluster, PythonError, TimeoutError, AbortError, type Cluster } from '../dist/index';
import { removeTree } from '../dist/cluster/bundle-cache';
import { decodeBundle, encodeBundle } from '../dist/cluster/bundle-format';
import { packDirectory } from '../dist/cluster/bundle-pack';
import { checkRedis, connection } from '../dist/cluster/redis';
import { jobSigningBytes, resultSigningBytes, sign, verify } from '../dist/cluster/signing';
import { CLI, collect, makeSandbox, python, sleep, write, type Sandbox } from './helpers';
import { freePort, removeRedis, startRedis, type TestRedis } from './redis-helper';

const KEY = 'cluster-test-key-0123456789abcdef';
const VECTORS = JSON.parse(fs.readFileSync(path.join(__dirname, 'vectors', 'cluster-signature.json'), 'utf8'));

let redis: TestRedis;
let code: Sandbox; // the submitter's scripts and scratch files
const workers: Worker[] = [];
let handle: Cluster;

interface Worker { sb: Sandbox; child: ChildProcess; log: string; name: string; exited: Promise<number | null> }

async function startWorker(name: string, extra: string[] = []): Promise<Worker> {
  const sb = makeSandbox(`cluster-${name}`);
  const log = path.join(sb.runtimeDir, 'worker.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--concurrency', '2', '--cache-dir', path.join(sb.runtimeDir, 'code'), ...extra], {
    env: { ...sb.env, PYNWHEEL_CLUSTER_KEY: KEY, PYNWHEEL_CLUSTER_LOCK_MS: '2000' },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const w: Worker = { sb, child, log, name, exited };
  const deadline = Date.now() + 20000;
  while (!fs.readFileSync(log, 'utf8').includes('concurrency 2')) {
    if (child.exitCode !== null) throw new Error(`worker ${name} exited: ${fs.readFileSync(log, 'utf8')}`);
    if (Date.now() > deadline) throw new Error(`worker ${name} did not start: ${fs.readFileSync(log, 'utf8')}`);
    await sleep(50);
  }
  workers.push(w);
  return w;
}

async function stopWorker(w: Worker, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill(signal);
  const status = await w.exited;
  removeTree(path.join(w.sb.runtimeDir, 'code')); // read-only bundles
  await w.sb.cleanup();
  workers.splice(workers.indexOf(w), 1);
  return status;
}

const logOf = (w: Worker): string => fs.readFileSync(w.log, 'utf8');

t.before(async () => {
  redis = await startRedis();
  code = makeSandbox('cluster-code');
  await startWorker('a');
  await startWorker('b');
  handle = cluster(redis.url, { key: KEY });
  await handle.connect();
});

// Even if tap ends this file early, no worker outlives it.
process.on('exit', () => { for (const w of workers) w.child.kill('SIGKILL'); });

t.teardown(async () => {
  for (const w of [...workers]) await stopWorker(w, 'SIGKILL').catch(() => undefined);
  await handle?.close().catch(() => undefined);
  await code?.cleanup();
  if (redis) await removeRedis(redis);
});

t.test('signatures are the shared vectors\'', async (t) => {
  const key = Buffer.from(VECTORS.key);
  for (const c of VECTORS.cases) {
    const bytes = c.kind === 'job' ? jobSigningBytes(c.id, c.expires, c.code, c.payload) : resultSigningBytes(c.id, c.payload);
    t.equal(sign(key, bytes), c.signature, `${c.kind} ${c.id}`);
    t.ok(verify(key, bytes, c.signature));
    t.notOk(verify(Buffer.from(`${VECTORS.key}x`), bytes, c.signature), 'another key');
    t.notOk(verify(key, Buffer.concat([bytes, Buffer.from('x')]), c.signature), 'other bytes');
  }
  t.notOk(verify(key, Buffer.from('x'), undefined), 'no signature');
});

t.test('a code bundle leaves out version control, venvs, caches, ignored files and secrets', async (t) => {
  const root = path.join(code.dir, 'bundle');
  const put = (rel: string, text = 'x'): void => { fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true }); fs.writeFileSync(path.join(root, rel), text); };
  put('main.py', 'print(1)\n');
  put('pkg/mod.py');
  put('pkg/data.bin');
  put('.git/config');
  put('node_modules/x/index.js');
  put('pkg/__pycache__/mod.cpython-311.pyc');
  put('myenv/pyvenv.cfg');
  put('myenv/lib/site.py');
  put('.env');
  put('.env.local');
  put('.netrc');
  put('.ssh/id_ed25519');
  put('keys/id_rsa');
  put('keys/server.pem');
  put('notes/deploy.txt', '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n');
  put('build/out.o');
  put('logs/a.log');
  put('logs/keep.log');
  put('.gitignore', 'build/\n*.log\n!keep.log\n/pkg/data.bin\n');
  const packed = packDirectory(root);
  const files = decodeBundle(packed.bytes).map((f) => f.path).sort();
  t.same(files, ['.gitignore', 'logs/keep.log', 'main.py', 'pkg/mod.py']);
  t.equal(packDirectory(root).hash, packed.hash, 'the same tree, the same hash');
  put('pkg/mod.py', 'y');
  t.not(packDirectory(root).hash, packed.hash, 'an edit, a new hash');
  t.throws(() => packDirectory('/'), /root directory/);
  t.throws(() => packDirectory(os.homedir()), /home directory/);
  put('big/a.bin', 'a'.repeat(3000));
  put('big/b.bin', 'b'.repeat(2000));
  t.throws(() => packDirectory(root, { maxBytes: 4000 }), /over the limit of .*largest files: big\/a\.bin \(0\.0 MiB\), big\/b\.bin/);
  t.throws(() => decodeBundle(encodeBundle([{ path: '../x', mode: 0o644, data: Buffer.from('') }])), /unsafe path/);
});

t.test('bad Redis input: a clear error before anything is queued', async (t) => {
  await t.rejects(checkRedis('http://127.0.0.1:1'), /scheme http: is not redis:, rediss: or unix:/);
  await t.rejects(checkRedis('not a url'), /is not a Redis URL/);
  const port = await freePort();
  await t.rejects(checkRedis(`redis://127.0.0.1:${port}`), new RegExp(`cannot reach Redis at redis://127.0.0.1:${port}/?: .*ECONNREFUSED`));
  const unreachable = cluster(`redis://127.0.0.1:${port}`, { key: KEY });
  await t.rejects(unreachable.run(write(code, 'noop.py', 'pass\n')), /cannot reach Redis/);
  await unreachable.close();
  redis.cli('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    const evicting = cluster(redis.url, { key: KEY, queue: 'evicting' });
    await t.rejects(evicting.run(write(code, 'noop.py', 'pass\n')), /maxmemory-policy allkeys-lru.*noeviction/);
    await evicting.close();
    t.equal(redis.cli('EXISTS', 'bull:evicting:id'), '0', 'nothing queued');
  } finally {
    redis.cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
  }
  t.throws(() => cluster(redis.url, { key: 'short' }), /shorter than 16 bytes/);
  await t.resolves(checkRedis(redis.tcpUrl), 'a 127.0.0.1 port works too');
});

t.test('a script on a worker: what python3 prints, its exit status and stdin', async (t) => {
  const script = write(code, 'app/report.py', [
    'import sys, os',
    'print("args", sys.argv[1:])',
    'print("cwd files", sorted(os.listdir(".")))',
    'print("to stderr", file=sys.stderr)',
    'data = sys.stdin.read()',
    'print("stdin", repr(data))',
    'sys.exit(3)',
  ].join('\n') + '\n');
  const local = await python(code, ['report.py', 'x', 'y z'], { cwd: path.dirname(script), input: 'fed\n' });
  const remote = await handle.run(script, ['x', 'y z'], { input: 'fed\n', reject: false });
  t.equal(remote.stdout.toString(), local.stdout.toString());
  t.equal(remote.stderr.toString(), local.stderr.toString());
  t.equal(remote.exitCode, local.status);
  t.match(remote.jobId, /^[0-9a-f-]{36}$/);
  t.ok(workers.some((w) => w.sb.runtimeDir && remote.worker.endsWith(`:${w.child.pid}`)), 'a worker of ours ran it');
  const rejected = await handle.run(script, [], { encoding: 'utf8' }).catch((e: unknown) => e);
  t.type(rejected, PythonError, 'a non-zero exit rejects, as run() does');
  t.equal((rejected as PythonError).exitCode, 3);
  const raising = write(code, 'app/raises.py', 'def f():\n    raise KeyError("k")\nf()\n');
  const err = await handle.run(raising).catch((e: unknown) => e) as PythonError;
  t.type(err, PythonError);
  t.equal(err.traceback?.type, 'KeyError', 'the traceback, parsed from stderr as run() does');
  t.equal(err.traceback?.frames.at(-1)?.function, 'f');
});

t.test('functions on a worker: values, kwargs, arrays, PythonError with its traceback', async (t) => {
  const file = write(code, 'fn/funcs.py', [
    'import helper',
    'def add(a, b, *, scale=1):',
    '    return (a + b) * scale',
    'def describe(x):',
    '    return {"type": type(x).__name__, "x": x}',
    'def boom(n):',
    '    helper.fail(n)',
    'def arr(n):',
    '    import numpy',
    '    return numpy.arange(n, dtype=numpy.float64) * 2',
  ].join('\n') + '\n');
  write(code, 'fn/helper.py', 'def fail(n):\n    raise ValueError(f"bad {n}")\n');
  t.equal(await handle.call(`${file}:add`, [2, 3]), 5);
  t.equal(await handle.call(`${file}:add`, [2, 3], { kwargs: { scale: 10 } }), 50);
  t.same(await handle.call(`${file}:describe`, [{ a: [1, null, 'é'] }]), { type: 'dict', x: { a: [1, null, 'é'] } });
  t.same(Buffer.from(await handle.call(`${file}:describe`, [Buffer.from('raw')]).then((v) => (v as { x: Buffer }).x)).toString(), 'raw');
  const a = await handle.call(`${file}:arr`, [4]) as { dtype: string; shape: number[]; data: Float64Array };
  t.equal(a.dtype, '<f8');
  t.same([...a.data], [0, 2, 4, 6]);
  const err = await handle.call(`${file}:boom`, [7]).catch((e: unknown) => e) as PythonError;
  t.type(err, PythonError);
  t.equal(err.type, 'ValueError');
  t.same(err.args, ['bad 7']);
  t.match(err.formattedTraceback, /helper\.py", line 2, in fail\n    raise ValueError\(f"bad \{n\}"\)\nValueError: bad 7/);
  t.same(err.traceback?.frames.map((f) => f.function).slice(-2), ['boom', 'fail']);
  t.match((err as unknown as { jobId: string }).jobId, /^[0-9a-f-]{36}$/);
  // A module of the code directory, by name.
  t.equal(await handle.call('funcs:add', [1, 1], { codeDir: path.dirname(file) }), 2);
});

t.test('a result is pushed, signed, to its submitter\'s own channel', async (t) => {
  const file = write(code, 'push/f.py', 'def f(x):\n    return x + 1\n');
  const listener = connection(redis.url);
  listener.on('error', () => undefined);
  await listener.connect();
  const pushed: Array<{ channel: string; id: string; payload: string; sig: string }> = [];
  listener.on('pmessage', (_pattern: string, channel: string, text: string) => pushed.push({ channel, ...JSON.parse(text) }));
  await listener.psubscribe('pynwheel:pynwheel:reply:*');
  let id = '';
  t.equal(await handle.call(`${file}:f`, [41], { onJob: (j) => { id = j; } }), 42);
  await listener.punsubscribe();
  listener.disconnect();
  const mine = pushed.filter((p) => p.id === id);
  t.equal(mine.length, 1, 'one push of the job\'s result');
  t.match(mine[0]?.channel, /^pynwheel:pynwheel:reply:[0-9a-f-]{36}$/, 'on the handle\'s channel');
  t.ok(mine[0] && verify(Buffer.from(KEY), resultSigningBytes(id, mine[0].payload), mine[0].sig), 'signed with the cluster\'s key');
  // A handle that did not submit the job sees no result of it on its own channel (each its own).
  const other = cluster(redis.url, { key: KEY });
  t.equal(await other.call(`${file}:f`, [1]), 2, 'another handle gets its own result');
  await other.close();
});

t.test('live output: chunks arrive while the job runs', async (t) => {
  const script = write(code, 'live/ticks.py', 'import sys, time\nprint("first", flush=True)\ntime.sleep(1.5)\nprint("err", file=sys.stderr, flush=True)\nprint("last")\n');
  const seen: Array<{ stream: number; text: string; at: number }> = [];
  const r = await handle.run(script, [], { encoding: 'utf8', onOutput: (stream, chunk) => seen.push({ stream, text: chunk.toString(), at: Date.now() }) });
  const end = Date.now();
  t.equal(r.stdout, 'first\nlast\n');
  t.same(seen.map((s) => [s.stream, s.text]), [[1, 'first\n'], [2, 'err\n'], [1, 'last\n']]);
  t.ok(end - seen[0]!.at > 1000, `the first line came ${end - seen[0]!.at} ms before the end`);
});

t.test('live output of jobs at once: each its own, whole, and each settles as its job ends', async (t) => {
  const script = write(code, 'live/many.py', 'import sys\nfor i in range(3):\n    print(sys.argv[1], i, flush=True)\n');
  const started = Date.now();
  const runs = ['a', 'b', 'c', 'd'].map(async (name) => {
    const seen: string[] = [];
    const r = await handle.run(script, [name], { encoding: 'utf8', onOutput: (_stream, chunk) => seen.push(chunk.toString()) });
    return { name, seen: seen.join(''), stdout: r.stdout, ms: Date.now() - started };
  });
  for (const r of await Promise.all(runs)) {
    t.equal(r.seen, `${r.name} 0\n${r.name} 1\n${r.name} 2\n`, `${r.name}: its own lines, live`);
    t.equal(r.stdout, r.seen, `${r.name}: and its result's`);
  }
  const followed = Date.now() - started;
  const plainStart = Date.now();
  await Promise.all(['a', 'b', 'c', 'd'].map((name) => handle.run(script, [name])));
  const plain = Date.now() - plainStart;
  // (a result waits at most 2 s for its output's end: one that waited for another job's would show it)
  t.ok(followed < plain + 1500, `none waited for another's output to end (${followed} ms followed, ${plain} ms not)`);
});

t.test('pynwheel run --on: live output, stdin from a pipe, the same exit status', async (t) => {
  const script = write(code, 'cli/echo.py', 'import sys\nprint("got", sys.stdin.read().strip(), sys.argv[1:])\nprint("warn", file=sys.stderr)\nsys.exit(int(sys.argv[1]))\n');
  const env = { ...code.env, PYNWHEEL_CLUSTER_KEY: KEY };
  const local = await python(code, [script, '4'], { input: 'piped' });
  const remote = await collect(process.execPath, [CLI, 'run', '--on', redis.url, script, '4'], { env, input: 'piped', cwd: code.dir });
  t.equal(remote.stdout.toString(), local.stdout.toString());
  t.equal(remote.stderr.toString(), local.stderr.toString());
  t.equal(remote.status, 4);
  const bad = await collect(process.execPath, [CLI, 'run', '--on', 'redis://127.0.0.1:1', script, '0'], { env, cwd: code.dir });
  t.equal(bad.status, 125);
  t.match(bad.stderr.toString(), /^pynwheel: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  const usage = await collect(process.execPath, [CLI, 'run', '--on', redis.url], { env, cwd: code.dir });
  t.equal(usage.status, 2);
  t.match(usage.stderr.toString(), /no script to run/);
});

t.test('pynwheel run --on --progress: the job\'s progress on stderr, after the script\'s own; a terminal is told when no worker takes the job', async (t) => {
  const script = write(code, 'cli/steps.py', 'import sys, pynwheel\nprint("out")\npynwheel.progress({"step": 1})\npynwheel.progress("half")\nprint("err", file=sys.stderr)\n');
  const env = { ...code.env, PYNWHEEL_CLUSTER_KEY: KEY };
  const remote = await collect(process.execPath, [CLI, 'run', '--on', redis.url, '--progress', script], { env, cwd: code.dir });
  t.equal(remote.status, 0, remote.stderr.toString());
  t.equal(remote.stdout.toString(), 'out\n', 'stdout is the script\'s alone');
  const lines = remote.stderr.toString().split('\n').filter(Boolean);
  const progress = lines.filter((l) => l.startsWith('pynwheel: job '));
  t.match(progress, [/^pynwheel: job \S+: queued, waiting for a worker$/, /^pynwheel: job \S+: started on \S+:\d+$/, /: progress \{"step":1\}$/, /: progress half$/, /: finished on \S+:\d+$/], 'queued, started, its own two, finished, in order');
  t.same(lines.filter((l) => !l.startsWith('pynwheel: job ')), ['err'], 'and the script\'s stderr');
  // Without --progress, on a pipe: nothing but the script's output.
  const quiet = await collect(process.execPath, [CLI, 'run', '--on', redis.url, script], { env, cwd: code.dir });
  t.equal(quiet.stderr.toString(), 'err\n');
  // On a terminal, a job no worker takes (a queue nobody serves): one notice after 2 s; Ctrl-C ends it.
  const harness = path.join(__dirname, 'fixtures', 'pty_session.py');
  const steps = [{ expect: 'is waiting for a worker on queue nobody' }, { send: '\x03' }];
  const r = spawnSync(path.join(code.venv, 'bin', 'python3'), [harness, JSON.stringify(steps), '--', process.execPath, CLI, 'run', '--on', redis.url, '--queue', 'nobody', script], {
    cwd: code.dir, env: { ...env, TERM: 'xterm' }, encoding: 'utf8', timeout: 60_000,
  });
  const session = JSON.parse(r.stdout);
  t.equal(session.timedOut, null, `every step happened: ${Buffer.from(session.output, 'base64').toString()}`);
  t.match(Buffer.from(session.output, 'base64').toString(), /pynwheel: job \S+ is waiting for a worker on queue nobody \(is one running\?/);
  t.equal(session.code, 130, 'Ctrl-C: 130');
});

const raws: ReturnType<typeof connection>[] = [];
const raw2 = (): ReturnType<typeof connection> => { const r = connection(redis.url); raws.push(r); return r; };

t.test('pynwheel status --on: the workers of the queue', async (t) => {
  const out = await collect(process.execPath, [CLI, 'status', '--on', redis.url, '--json'], { env: code.env, cwd: code.dir });
  t.equal(out.status, 0, out.stderr.toString());
  const report = JSON.parse(out.stdout.toString());
  t.same(report.workers.map((w: { name: string }) => w.name.split(':').pop()).sort(), workers.map((w) => String(w.child.pid)).sort());
  t.equal(report.workers[0].concurrency, 2);
  const text = await collect(process.execPath, [CLI, 'status', '--on', redis.url], { env: code.env, cwd: code.dir });
  t.match(text.stdout.toString(), /^cluster unix:.* queue pynwheel: 2 workers\n  worker .*: concurrency 2, \d+ threads? per job, running \d+, served \d+/);
});

t.test('a job with a missing or wrong signature is refused, and the worker says so', async (t) => {
  const raw = connection(redis.url);
  const queue = new Queue('pynwheel', { connection: raw });
  try {
    const forged = { v: 1, id: 'forged-1', expires: Date.now() + 60000, code: '0'.repeat(64), payload: JSON.stringify({ kind: 'run', file: 'x.py', args: [], cwd: '.', pythonOptions: [], stdin: null, stream: false, timeout: 0 }), sig: sign(Buffer.from('another key of 32 bytes.........'), Buffer.from('x')) };
    await queue.add('run', forged, { jobId: 'forged-1' });
    await queue.add('run', { ...forged, id: 'forged-2', sig: undefined }, { jobId: 'forged-2' });
    const deadline = Date.now() + 15000;
    const logs = (): string => workers.map(logOf).join('');
    while (!(logs().includes('job forged-1: refused: wrong signature') && logs().includes('job forged-2: refused: no signature'))) {
      if (Date.now() > deadline) break;
      await sleep(100);
    }
    t.match(logs(), /job forged-1: refused: wrong signature/);
    t.match(logs(), /job forged-2: refused: no signature/);
    // (the worker logs its refusal, then BullMQ moves the job: the state follows a moment later)
    const state = async () => (await queue.getJob('forged-1'))?.getState();
    for (const end = Date.now() + 5000; (await state()) !== 'failed' && Date.now() < end;) await sleep(50);
    t.equal(await state(), 'failed', 'the refused job failed');
  } finally {
    await queue.close();
    raw.disconnect(); // BullMQ leaves a connection it was given open
  }
  // A job replayed under its id after it ran (its signed data queued again) is not run again:
  // its kept result is the answer (as for a delivery after a completion lost to a Redis restart).
  const file = write(code, 'sig/once.py', 'def f(path):\n    with open(path, "a") as out:\n        out.write("ran\\n")\n    return 1\n');
  const ranLog = path.join(code.dir, 'sig-once-ran.txt');
  let ranId = '';
  t.equal(await handle.call(`${file}:f`, [ranLog], { onJob: (id) => { ranId = id; } }), 1);
  const again = new Queue('pynwheel', { connection: raw2() });
  try {
    const ran = await again.getJob(ranId);
    const data = ran!.data;
    await ran!.remove();
    const replayed = await again.add('call', data, { jobId: ranId });
    const deadline = Date.now() + 10000;
    while (!workers.some((w) => logOf(w).includes(`job ${ranId}: it already ran: its result again, not run`)) && Date.now() < deadline) await sleep(100);
    t.ok(workers.some((w) => logOf(w).includes(`job ${ranId}: it already ran: its result again, not run`)), 'a replay is not run: the worker says so');
    for (const end = Date.now() + 5000; (await replayed.getState()) !== 'completed' && Date.now() < end;) await sleep(50);
    t.equal(await replayed.getState(), 'completed', 'it completes with the result it had');
    t.equal(fs.readFileSync(ranLog, 'utf8'), 'ran\n', 'the function ran once');
  } finally {
    await again.close();
    raws.forEach((r) => r.disconnect());
  }
  // A submitter with another key: its job is refused, and it is told.
  const stranger = cluster(redis.url, { key: 'not-the-cluster-key-at-all-12345' });
  await t.rejects(stranger.call(`${write(code, 'sig/f.py', 'def f():\n    return 1\n')}:f`), /failed on the cluster: refused by worker .*wrong signature/);
  await stranger.close();
});

t.test('an edit of the code between two jobs: the second runs the new code', async (t) => {
  const file = write(code, 'edit/version.py', 'import lib\nprint(lib.V)\n');
  write(code, 'edit/lib.py', 'V = 1\n');
  const first = await handle.run(file, [], { encoding: 'utf8' });
  write(code, 'edit/lib.py', 'V = 2\n');
  const second = await handle.run(file, [], { encoding: 'utf8' });
  t.equal(first.stdout, '1\n');
  t.equal(second.stdout, '2\n');
});

t.test('timeout and AbortSignal cancel the job on its worker', async (t) => {
  const file = write(code, 'slow/sleepy.py', 'import time\ndef nap(s):\n    time.sleep(s)\n    return s\n');
  const started = Date.now();
  const err = await handle.call(`${file}:nap`, [30], { timeout: 1500 }).catch((e: unknown) => e);
  t.type(err, TimeoutError);
  t.ok(Date.now() - started < 5000);
  const controller = new AbortController();
  let id = '';
  const aborted = handle.call(`${file}:nap`, [30], { signal: controller.signal, onJob: (j) => { id = j; } }).catch((e: unknown) => e);
  await sleep(1000);
  controller.abort();
  t.type(await aborted, AbortError);
  const deadline = Date.now() + 10000;
  while (!workers.some((w) => logOf(w).includes(`job ${id}: cancelled by its submitter`)) && Date.now() < deadline) await sleep(100);
  t.ok(workers.some((w) => logOf(w).includes(`job ${id}: cancelled by its submitter`)), 'the worker stopped it');
  t.equal(await handle.call(`${file}:nap`, [0]), 0, 'the workers go on');
  // An abort as the job is queued (here from onJob, before submit() listens): not lost.
  const early = new AbortController();
  let earlyId = '';
  const began = Date.now();
  const lost = await handle.call(`${file}:nap`, [30], { signal: early.signal, onJob: (j) => { earlyId = j; early.abort(); } }).catch((e: unknown) => e);
  t.type(lost, AbortError);
  t.ok(Date.now() - began < 10000, 'at once, not after the job');
  const until = Date.now() + 10000;
  while (!workers.some((w) => logOf(w).includes(`job ${earlyId}: cancelled by its submitter`)) && Date.now() < until) await sleep(100);
  const look = connection(redis.url);
  const queue = new Queue('pynwheel', { connection: look });
  const state = await queue.getJobState(earlyId);
  await queue.close();
  look.disconnect();
  t.ok(workers.some((w) => logOf(w).includes(`job ${earlyId}: cancelled by its submitter`)) || state === 'unknown', `stopped on its worker or removed before one took it (${state})`);
  // Aborted before anything is queued: nothing is.
  const before = new AbortController();
  before.abort();
  let queued = false;
  t.type(await handle.call(`${file}:nap`, [30], { signal: before.signal, onJob: () => { queued = true; } }).catch((e: unknown) => e), AbortError);
  t.notOk(queued, 'nothing queued');
  t.equal(await handle.call(`${file}:nap`, [0]), 0, 'the workers go on');
});

t.test('a raised exception is a result, retried only when asked (attempts)', async (t) => {
  const marks = path.join(code.dir, 'attempts.txt');
  const file = write(code, 'retry/flaky.py', 'def f(path):\n    with open(path, "a") as out:\n        out.write("x")\n    raise RuntimeError("no")\n');
  await t.rejects(handle.call(`${file}:f`, [marks]), { name: 'PythonError', type: 'RuntimeError' });
  t.equal(fs.readFileSync(marks, 'utf8'), 'x', 'once');
  fs.writeFileSync(marks, '');
  await t.rejects(handle.call(`${file}:f`, [marks], { attempts: 3, backoff: 50 }), { name: 'PythonError', type: 'RuntimeError' });
  t.equal(fs.readFileSync(marks, 'utf8'), 'xxx', 'three times');
});

t.test('a worker killed with kill -9 mid-job: the job goes to another worker, one result', async (t) => {
  const marks = path.join(code.dir, 'killed.txt');
  const file = write(code, 'kill/long.py', 'import os, time\ndef f(path):\n    with open(path, "a") as out:\n        out.write(os.environ["PYNWHEEL_RUNTIME_DIR"] + "\\n")\n    time.sleep(3)\n    return os.environ["PYNWHEEL_RUNTIME_DIR"]\n');
  const result = handle.call(`${file}:f`, [marks]);
  const deadline = Date.now() + 15000;
  while (!(fs.existsSync(marks) && fs.readFileSync(marks, 'utf8').length) && Date.now() < deadline) await sleep(50);
  const first = fs.readFileSync(marks, 'utf8').trim();
  const victim = workers.find((w) => w.sb.runtimeDir === first)!;
  t.ok(victim, 'one of our workers took it');
  victim.child.kill('SIGKILL');
  await stopWorker(victim, 'SIGKILL');
  const ranOn = await result;
  t.not(ranOn, first, 'the other worker returned it');
  t.same(fs.readFileSync(marks, 'utf8').trim().split('\n'), [first, ranOn], 'run twice (at least once), one result');
  await startWorker('c');
});

t.test('Redis restarted mid-run: no job lost, one result each, workers go on', async (t) => {
  const file = write(code, 'restart/job.py', 'import time\ndef f(i):\n    time.sleep(0.2)\n    return i\n');
  const jobs = Array.from({ length: 20 }, (_, i) => handle.call(`${file}:f`, [i]));
  await sleep(400);
  await redis.stop();
  await sleep(1000);
  await redis.start();
  const values = await Promise.all(jobs);
  t.same(values, Array.from({ length: 20 }, (_, i) => i));
  t.equal(await handle.call(`${file}:f`, [99]), 99, 'a job after the restart');
  t.ok(workers.every((w) => w.child.exitCode === null), 'no worker left');
});

t.test('1,000 jobs over the workers: nothing lost, nothing duplicated', async (t) => {
  const file = write(code, 'many/ident.py', 'def f(i):\n    return i\n');
  const values = await Promise.all(Array.from({ length: 1000 }, (_, i) => handle.call(`${file}:f`, [i])));
  t.same(values, Array.from({ length: 1000 }, (_, i) => i));
  const ran = workers.map((w) => (logOf(w).match(/: call ident\.py:f /g) ?? []).length);
  t.equal(ran.reduce((a, b) => a + b, 0), 1000, `each ran once (${ran.join(' + ')})`);
  t.ok(ran.every((n) => n > 0), 'both workers took jobs');
});

t.test('SIGTERM: a worker finishes its running job, then exits 0', async (t) => {
  const w = workers[0]!;
  const file = write(code, 'term/job.py', 'import os, time\ndef f():\n    time.sleep(1)\n    return os.environ["PYNWHEEL_RUNTIME_DIR"]\n');
  const jobs = [handle.call(`${file}:f`), handle.call(`${file}:f`), handle.call(`${file}:f`), handle.call(`${file}:f`)];
  await sleep(500);
  w.child.kill('SIGTERM');
  const values = await Promise.all(jobs);
  t.equal(values.length, 4);
  t.equal(await w.exited, 0);
  t.match(logOf(w), /SIGTERM: finishing the running jobs, then leaving\n.*stopped\n$/s);
  await stopWorker(w);
});
