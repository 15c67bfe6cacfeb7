// pynwheel.futures.Executor(cluster=URL): the local Executor's API with each task a cluster job,
// against a real redis-server of the test's own and two workers with their own runtime
// directories (worker A's python has a distribution worker B's lacks: a dist-info on its
// PYTHONPATH). The Python programs run as a user's would (plain python, pynwheel's package on
// PYTHONPATH), and talk to a daemon of their own runtime directory, which they start. Checked:
// the same program's output locally and on the cluster; __main__ functions (the script imported
// as __mp_main__, its main block not run), module functions of the code directory, a lambda and a
// nested function refused at submit() naming them, an exception with the worker's traceback,
// map/as_completed/cancel/shutdown(wait), timeout, packages present, missing on one worker (the
// other runs it), missing on all (PackagesError, EPACKAGES, naming each worker; Node's too), the
// program killed mid-session (the daemon drops its session, cancels its job, keeps serving), the
// session in `pynwheel status`, and no temporary file left behind.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cluster, PackagesError, type Cluster } from '../dist/index';
import { removeTree } from '../dist/cluster/bundle-cache';
import { CLI, collect, makeSandbox, pynwheel, ROOT, sleep, write, type Outcome, type Sandbox } from './helpers';
import { removeRedis, startRedis, type TestRedis } from './redis-helper';

const KEY = 'cluster-executor-test-key-0123456789';
const FAKE = 'pynwheel-test-fake';

let redis: TestRedis;
let code: Sandbox;
let client: Sandbox;
let tmp: string;
let handle: Cluster;
let fakeSite: string;
interface Worker { name: string; sb: Sandbox; child: ChildProcess; log: string; exited: Promise<number | null> }
const workers: Worker[] = [];

async function startWorker(name: string, env: NodeJS.ProcessEnv = {}): Promise<Worker> {
  const sb = makeSandbox(`cexec-${name}`);
  const log = path.join(sb.runtimeDir, 'worker.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--concurrency', '2', '--cache-dir', path.join(sb.runtimeDir, 'code')], {
    env: { ...sb.env, TMPDIR: tmp, PYNWHEEL_CLUSTER_KEY: KEY, PYNWHEEL_CLUSTER_LOCK_MS: '2000', ...env }, stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const w: Worker = { name: `${os.hostname()}:${child.pid}`, sb, child, log, exited: new Promise((resolve) => child.once('exit', (c) => resolve(c))) };
  const deadline = Date.now() + 20000;
  while (!fs.readFileSync(log, 'utf8').includes('concurrency 2')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker ${name} did not start: ${fs.readFileSync(log, 'utf8')}`);
    await sleep(50);
  }
  workers.push(w);
  return w;
}

async function stopWorker(w: Worker, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill(signal);
  await w.exited;
  removeTree(path.join(w.sb.runtimeDir, 'code'));
  await w.sb.cleanup();
  workers.splice(workers.indexOf(w), 1);
}

const workerLog = (w: Worker) => fs.readFileSync(w.log, 'utf8');

/** The program as a user runs it: its venv's python, pynwheel's package on PYTHONPATH. */
function program(file: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  return collect(path.join(client.venv, 'bin', 'python3'), [file, ...args], {
    cwd: path.dirname(file), timeoutMs: 90_000,
    env: { ...client.env, TMPDIR: tmp, PYTHONPATH: path.join(ROOT, 'python'), PYNWHEEL_CLUSTER_KEY: KEY, REDIS_URL: redis.url, ...env },
  });
}

function lines(o: Outcome): string[] {
  return o.stdout.toString().trim().split('\n');
}

t.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-cexec-tmp-'));
  redis = await startRedis();
  code = makeSandbox('cexec-code');
  client = makeSandbox('cexec-client');
  // A distribution only worker A's python has.
  fakeSite = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-cexec-site-'));
  const info = path.join(fakeSite, `${FAKE.replace(/-/g, '_')}-1.2.0.dist-info`);
  fs.mkdirSync(info);
  fs.writeFileSync(path.join(info, 'METADATA'), `Metadata-Version: 2.1\nName: ${FAKE}\nVersion: 1.2.0\n`);
  await startWorker('a', { PYTHONPATH: fakeSite });
  await startWorker('b');
  handle = cluster(redis.url, { key: KEY });
  await handle.connect();
});
process.on('exit', () => { for (const w of workers) w.child.kill('SIGKILL'); });
t.teardown(async () => {
  for (const w of [...workers]) await stopWorker(w, 'SIGKILL').catch(() => undefined);
  await handle?.close().catch(() => undefined);
  await code?.cleanup();
  await client?.cleanup();
  if (redis) await removeRedis(redis);
  fs.rmSync(fakeSite, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

// The same program, one argument apart: `local` or `cluster`.
const PROGRAM = `import concurrent.futures, os, sys
from pynwheel.futures import Executor
import shapes

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __repr__(self):
        return "Point(%r, %r)" % (self.x, self.y)

class Refused(ValueError):
    pass

def square(x):
    return x * x

def point(x):
    return Point(x, -x)

def fail(x):
    raise Refused("no %d" % x)

def name():
    return __name__

if __name__ == "__main__":
    where = sys.argv[1]
    executor = Executor(4) if where == "local" else Executor(cluster=os.environ["REDIS_URL"])
    with executor as ex:
        print("map", list(ex.map(square, range(6))))
        print("module", ex.submit(shapes.area, 3, 4).result())
        print("stdlib", ex.submit(os.path.join, "a", "b").result())
        print("object", ex.submit(point, 2).result())
        futures = [ex.submit(square, n) for n in range(8)]
        print("as_completed", sorted(f.result() for f in concurrent.futures.as_completed(futures, timeout=60)))
        try:
            ex.submit(fail, 7).result()
        except Refused as exc:
            cause = exc.__cause__
            print("raised", type(exc).__name__, exc, type(cause).__name__, 'raise Refused("no %d" % x)' in str(cause), "in fail" in str(cause))
        print("__name__", ex.submit(name).result())
`;

t.test('the same program locally and on the cluster: __main__ and code-directory functions, objects, map, as_completed, exceptions', async (t) => {
  write(code, 'same/shapes.py', 'def area(w, h):\n    return w * h\n');
  const file = write(code, 'same/prog.py', PROGRAM);
  const [local, remote] = [await program(file, ['local']), await program(file, ['cluster'])];
  t.equal(local.status, 0, local.stderr.toString());
  t.equal(remote.status, 0, remote.stderr.toString());
  t.equal(remote.stderr.toString(), '', 'nothing on stderr');
  const [l, r] = [lines(local), lines(remote)];
  t.same(r.slice(0, -1), l.slice(0, -1), 'the same output');
  t.same(l, [
    'map [0, 1, 4, 9, 16, 25]', 'module 12', 'stdlib a/b', 'object Point(2, -2)', 'as_completed [0, 1, 4, 9, 16, 25, 36, 49]',
    'raised Refused no 7 RemoteTraceback True True', '__name__ __main__',
  ]);
  // On the worker the script is __mp_main__ (as multiprocessing's spawn makes it), its main block not run.
  t.equal(r[r.length - 1], '__name__ __mp_main__');
  // Under `pynwheel run` (a fork of a warm zygote of the program's own daemon, which is also its session's): the same.
  const env = { TMPDIR: tmp, PYNWHEEL_CLUSTER_KEY: KEY, REDIS_URL: redis.url };
  const warm = await pynwheel(client, ['run', file, 'cluster'], { env, cwd: path.dirname(file) });
  t.same(lines(warm), r, warm.stderr.toString());
  const ran = workers.map((w) => (workerLog(w).match(/call pynwheel\.cluster_job:run/g) ?? []).length);
  t.ok(ran.reduce((a, b) => a + b, 0) >= 19, `jobs on the workers: ${ran}`);
});

t.test('a job whose module imports numpy runs in the numpy zygote of its worker (the worker routes it as a call of a file)', async (t) => {
  write(code, 'family/heavy.py', 'import numpy\n\ndef total(n):\n    return int(numpy.arange(n).sum())\n');
  const file = write(code, 'family/prog.py', `import os
from pynwheel.futures import Executor
import heavy

if __name__ == "__main__":
    with Executor(cluster=os.environ["REDIS_URL"]) as ex:
        print(list(ex.map(heavy.total, [10, 100, 1000, 10, 100, 1000])))
`);
  const o = await program(file);
  t.equal(o.stdout.toString(), '[45, 4950, 499500, 45, 4950, 499500]\n', o.stderr.toString());
  let numpyRuns = 0;
  for (const w of workers) {
    const status = JSON.parse((await pynwheel(w.sb, ['status', '--json'])).stdout.toString() || '{}');
    for (const z of status.zygotes ?? []) if ((z.key?.family ?? []).includes('numpy')) numpyRuns += z.runs;
  }
  t.ok(numpyRuns >= 6, `runs of the workers' numpy zygotes: ${numpyRuns}`);
});

t.test('a lambda and a nested function: refused at submit() with an error naming them', async (t) => {
  const file = write(code, 'refuse/prog.py', `import os, pickle
from pynwheel.futures import Executor

def outer():
    def inner(x):
        return x
    return inner

with Executor(cluster=os.environ["REDIS_URL"]) as ex:
    for fn in (lambda x: x, outer()):
        try:
            ex.submit(fn, 1)
            print("submitted")
        except pickle.PicklingError as exc:
            print("refused:", exc)
    print("still works", ex.submit(pow, 2, 10).result())
`);
  const o = await program(file);
  t.equal(o.status, 0, o.stderr.toString());
  const [lambda, nested, works] = lines(o);
  t.match(lambda, /^refused: cannot send the task <function <lambda> at .*> to a cluster worker: __main__\.<lambda> is a lambda or a nested function/);
  t.match(nested, /^refused: cannot send the task <function outer\.<locals>\.inner at .*> to a cluster worker: __main__\.outer\.<locals>\.inner is a lambda or a nested function/);
  t.equal(works, 'still works 1024');
});

t.test('cancel, shutdown(wait), shutdown(cancel_futures), max_workers and timeout', async (t) => {
  const file = write(code, 'control/prog.py', `import concurrent.futures, os, time
from pynwheel.futures import Executor

def nap(s):
    time.sleep(s)
    return s

def main():
    url = os.environ["REDIS_URL"]
    ex = Executor(cluster=url, max_workers=1)
    first, second, third = ex.submit(nap, 1), ex.submit(nap, 0.1), ex.submit(nap, 0.1)
    while first.job_id is None:
        time.sleep(0.01)
    print("cancel running", first.cancel(), "cancel waiting", third.cancel())
    started = time.monotonic()
    ex.shutdown(wait=True)
    print("after shutdown", first.done(), second.done(), third.cancelled(), first.result(), second.result(), round(time.monotonic() - started) <= 2)
    try:
        ex.submit(nap, 0)
    except RuntimeError as exc:
        print("refused", exc)

    ex = Executor(cluster=url, max_workers=1)
    kept = [ex.submit(nap, 0.5) for _ in range(3)]
    ex.shutdown(wait=True, cancel_futures=True)
    print("cancel_futures", [f.cancelled() for f in kept])

    with Executor(cluster=url, timeout=0.5) as ex:
        started = time.monotonic()
        try:
            ex.submit(nap, 20).result()
        except concurrent.futures.TimeoutError as exc:
            print("timed out", round(time.monotonic() - started) < 5, "timed out after 500 ms" in str(exc))

if __name__ == "__main__":
    main()
`);
  const o = await program(file);
  t.equal(o.status, 0, o.stderr.toString());
  t.same(lines(o), [
    'cancel running False cancel waiting True',
    'after shutdown True True True 1 0.1 True',
    'refused cannot schedule new futures after shutdown',
    'cancel_futures [False, True, True]',
    'timed out True True',
  ]);
});

t.test('packages: present, missing on one worker (the other runs it), missing on all (PackagesError naming each worker)', async (t) => {
  const [a, b] = workers;
  const file = write(code, 'packages/prog.py', `import importlib.metadata, json, os
from pynwheel.futures import Executor
from pynwheel.cluster import PackagesError

def versions(name):
    return importlib.metadata.version(name)

def touch(path):
    open(path, "w").close()

if __name__ == "__main__":
    url = os.environ["REDIS_URL"]
    with Executor(cluster=url, packages=["numpy>=1.20", "pip"]) as ex:
        print("present", ex.submit(versions, "numpy").result() == __import__("numpy").__version__)
    with Executor(cluster=url, packages=["${FAKE}>=1.0,<2", "numpy"]) as ex:
        print("on one", sorted(set(ex.map(versions, ["${FAKE}"] * 6))))
    with Executor(cluster=url, packages=["${FAKE}~=2.0"]) as ex:
        try:
            ex.submit(touch, os.environ["MARKER"]).result()
        except PackagesError as exc:
            print("on none", exc.code, json.dumps(exc.lacking, sort_keys=True))
            print("message", exc)
        print("ran", os.path.exists(os.environ["MARKER"]))
    try:
        Executor(cluster=url, packages=["numpy>="])
    except ValueError as exc:
        print("bad", exc)
`);
  const marker = path.join(code.dir, 'packages', 'ran-anyway');
  const o = await program(file, [], { MARKER: marker });
  t.equal(o.status, 0, o.stderr.toString());
  const out = lines(o);
  t.equal(out[0], 'present True');
  t.equal(out[1], "on one ['1.2.0']", 'every job ran on worker A, the one with the package');
  t.match(workerLog(b), /this worker lacks pynwheel-test-fake is not installed: handed back for another worker/);
  const [, codeName, lacking] = /^on none (\S+) (.*)$/.exec(out[2])!;
  t.equal(codeName, 'EPACKAGES');
  t.same(JSON.parse(lacking), {
    [a.name]: { [`${FAKE}~=2.0`]: `${FAKE} 1.2.0 is installed` },
    [b.name]: { [`${FAKE}~=2.0`]: `${FAKE} is not installed` },
  }, 'each worker and what it lacks');
  t.match(out[3], new RegExp(`names packages no live worker has .*${a.name}: ${FAKE} 1\\.2\\.0 is installed.*${b.name}: ${FAKE} is not installed`));
  t.equal(out[4], 'ran False', 'the job ran on no worker');
  t.equal(out[5], "bad packages: 'numpy>=': '>=' is not a version clause (such as >=1.20)");
});

t.test('Node\'s cluster().call and run() take packages too: PackagesError (EPACKAGES)', async (t) => {
  const file = write(code, 'node/f.py', 'import importlib.metadata\ndef v(name):\n    return importlib.metadata.version(name)\n');
  t.equal(await handle.call(`${file}:v`, [FAKE], { packages: [`${FAKE}==1.2.*`] }), '1.2.0');
  const err = await handle.call(`${file}:v`, [FAKE], { packages: ['pynwheel-not-anywhere-xyz'] }).catch((e) => e);
  t.type(err, PackagesError);
  t.equal(err.code, 'EPACKAGES');
  t.same(Object.keys(err.lacking).sort(), workers.map((w) => w.name).sort());
  const script = write(code, 'node/s.py', 'print("ran")\n');
  const ran = await handle.run(script, [], { packages: [FAKE], encoding: 'utf8' });
  t.equal(ran.stdout, 'ran\n');
  t.equal(ran.worker, workers[0].name);
  await t.rejects(handle.call(`${file}:v`, [FAKE], { packages: [42 as unknown as string] }), /packages must be at most 100 requirement strings/);
  // `pynwheel run --on URL --packages '...'`: the same, from the shell.
  const env = { PYNWHEEL_CLUSTER_KEY: KEY };
  const cli = await pynwheel(client, ['run', '--on', redis.url, '--packages', `${FAKE}>=1,<2 pip`, script], { env });
  t.same([cli.stdout.toString(), cli.status], ['ran\n', 0], cli.stderr.toString());
  const none = await pynwheel(client, ['run', '--on', redis.url, '--packages', `${FAKE}>=9`, script], { env });
  t.equal(none.status, 1);
  t.match(none.stderr.toString(), new RegExp(`names packages no live worker has \\(.*${FAKE} 1\\.2\\.0 is installed.*${FAKE} is not installed\\)`));
});

t.test('the program killed mid-session: the daemon drops its session, cancels its job and keeps serving; status shows sessions', async (t) => {
  const file = write(code, 'killed/prog.py', `import os, sys, time
from pynwheel.futures import Executor

def nap(s):
    time.sleep(s)
    return s

if __name__ == "__main__":
    ex = Executor(cluster=os.environ["REDIS_URL"], queue="pynwheel")
    f = ex.submit(nap, 60)
    while f.job_id is None:
        time.sleep(0.01)
    print("queued", f.job_id, flush=True)
    time.sleep(120)
`);
  const child = spawn(path.join(client.venv, 'bin', 'python3'), [file], {
    env: { ...client.env, TMPDIR: tmp, PYTHONPATH: path.join(ROOT, 'python'), PYNWHEEL_CLUSTER_KEY: KEY, REDIS_URL: redis.url }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const deadline = Date.now() + 30000;
  while (!out.includes('queued') && Date.now() < deadline) await sleep(20);
  const jobId = /queued (\S+)/.exec(out)?.[1];
  t.ok(jobId, 'the job was queued');
  const status = async () => JSON.parse((await pynwheel(client, ['status', '--json'])).stdout.toString());
  const before = await status();
  t.equal(before.clusterSessions.length, 1);
  t.match(before.clusterSessions[0], { pid: child.pid, url: redis.url, queue: 'pynwheel', inFlight: 1 });
  const text = (await pynwheel(client, ['status'])).stdout.toString();
  t.match(text, new RegExp(`cluster session: pid ${child.pid} {2}${redis.url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} {2}queue pynwheel {2}1 jobs in flight`));
  // The job is running on a worker: the program dies.
  while (!workers.some((w) => workerLog(w).includes(`job ${jobId}: call`)) && Date.now() < deadline) await sleep(20);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  let after = await status();
  for (const until = Date.now() + 10000; after.clusterSessions.length > 0 && Date.now() < until; after = await status()) await sleep(50);
  t.same(after.clusterSessions, [], 'the session is gone');
  t.equal(after.pid, before.pid, 'the same daemon');
  for (const until = Date.now() + 10000; !workers.some((w) => workerLog(w).includes(`job ${jobId}: cancelled by its submitter`)) && Date.now() < until;) await sleep(50);
  t.ok(workers.some((w) => workerLog(w).includes(`job ${jobId}: cancelled by its submitter`)), 'its job was cancelled on its worker');
  const again = write(code, 'killed/again.py', 'import os\nfrom pynwheel.futures import Executor\nwith Executor(cluster=os.environ["REDIS_URL"]) as ex:\n    print(ex.submit(divmod, 7, 2).result())\n');
  const o = await program(again);
  t.equal(o.stdout.toString(), '(3, 1)\n', o.stderr.toString());
  t.equal((await status()).pid, before.pid, 'served by the same daemon');
});

t.test('bad input: a wrong URL, an unreachable Redis, no key, a bad option: a clear error at construction', async (t) => {
  const file = write(code, 'bad/prog.py', `import os
from pynwheel.futures import Executor
from pynwheel.cluster import ClusterError

for kwargs in ({"cluster": "http://nowhere"}, {"cluster": "redis://127.0.0.1:1"}, {"cluster": os.environ["REDIS_URL"], "queue": "a:b"},
               {"cluster": os.environ["REDIS_URL"], "timeout": -1}, {"cluster": os.environ["REDIS_URL"], "key_file": "/nonexistent/key"}):
    try:
        Executor(**kwargs)
        print("made")
    except ClusterError as exc:
        print(exc.code, str(exc).splitlines()[0])
    except ValueError as exc:
        print("ValueError", exc)
try:
    Executor(queue="x")
except TypeError as exc:
    print("TypeError", exc)
`);
  const o = await program(file);
  t.equal(o.status, 0, o.stderr.toString());
  const out = lines(o);
  t.match(out[0], /^ECLUSTER bad cluster request: "url" must be a redis:\/\/, rediss:\/\/ or unix:\/\/ URL/);
  t.match(out[1], /^EREDIS cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  t.match(out[2], /^ECLUSTER bad cluster request: "queue" must be letters/);
  t.equal(out[3], 'ValueError timeout is a number of seconds > 0, not -1');
  t.match(out[4], /^ECLUSTERKEY cannot read the cluster key file \/nonexistent\/key/);
  t.equal(out[5], 'TypeError queue are options of a cluster Executor: give cluster=URL too');
  const noKey = await program(file, [], { PYNWHEEL_CLUSTER_KEY: '' });
  t.match(lines(noKey)[2], /^ECLUSTERKEY no cluster key: set \$PYNWHEEL_CLUSTER_KEY or give key_file/);
});


t.test('a script that makes its Executor unguarded (no main block): its jobs fail with a RuntimeError saying so, not jobs of their own', async (t) => {
  const file = write(code, 'unguarded/prog.py', `import os
from pynwheel.futures import Executor

def double(x):
    return 2 * x

if os.environ.get("PNW_ON_CALLER", "1") == "1":
    with Executor(cluster=os.environ.get("REDIS_URL", "redis://127.0.0.1:1")) as ex:
        try:
            ex.submit(double, 2).result()
        except RuntimeError as exc:
            print("RuntimeError", "make it under \`if __name__ == \\"__main__\\":\`" in str(exc))
`);
  const o = await program(file);
  t.equal(o.stdout.toString(), 'RuntimeError True\n', o.stderr.toString());
});

t.test('no temporary file is left behind (the programs, their daemon and the workers share a TMPDIR)', async (t) => {
  for (let until = Date.now() + 5000; fs.readdirSync(tmp).length > 0 && Date.now() < until;) await sleep(50);
  t.same(fs.readdirSync(tmp), []);
});
