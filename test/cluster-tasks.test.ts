// Tasks on the cluster (cluster(url).runTasks(), `pynwheel tasks --on`), progress events, and the
// submitter's code bundle packed once, against a real redis-server of the test's own and two
// workers with their own runtime directories: the report and the log directory against a local
// runTasks() of the same tasks, the CLI's exit status and table against the local command's,
// progress of a job (queued, started on a named worker, retried after kill -9, finished), and a
// code edit between two jobs (the stat-based reuse of the last pack still sees it).
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cluster, runTasks, type Cluster } from '../dist/index';
import { removeTree } from '../dist/cluster/bundle-cache';
import { packDirectory } from '../dist/cluster/bundle-pack';
import { decodeBundle } from '../dist/cluster/bundle-format';
import { rollup, taskIds } from '../dist/cluster/tasks-submit';
import { CLI, collect, makeSandbox, sleep, write, type Sandbox } from './helpers';
import { removeRedis, startRedis, type TestRedis } from './redis-helper';

const KEY = 'cluster-tasks-test-key-0123456789';
const VECTORS = JSON.parse(fs.readFileSync(path.join(__dirname, 'vectors', 'task-results.json'), 'utf8'));

let redis: TestRedis;
let code: Sandbox;
let handle: Cluster;
interface Worker { sb: Sandbox; child: ChildProcess; log: string; exited: Promise<number | null> }
const workers: Worker[] = [];

async function startWorker(name: string, before?: (sb: Sandbox) => void): Promise<Worker> {
  const sb = makeSandbox(`ctasks-${name}`);
  before?.(sb);
  const log = path.join(sb.runtimeDir, 'worker.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--concurrency', '1', '--cache-dir', path.join(sb.runtimeDir, 'code')], {
    env: { ...sb.env, PYNWHEEL_CLUSTER_KEY: KEY, PYNWHEEL_CLUSTER_LOCK_MS: '2000' }, stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const w: Worker = { sb, child, log, exited: new Promise((resolve) => child.once('exit', (c) => resolve(c))) };
  const deadline = Date.now() + 20000;
  while (!fs.readFileSync(log, 'utf8').includes('concurrency 1')) {
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

t.before(async () => {
  redis = await startRedis();
  code = makeSandbox('ctasks-code');
  await startWorker('a');
  await startWorker('b');
  handle = cluster(redis.url, { key: KEY });
  await handle.connect();
});
process.on('exit', () => { for (const w of workers) w.child.kill('SIGKILL'); });
t.teardown(async () => {
  for (const w of [...workers]) await stopWorker(w, 'SIGKILL').catch(() => undefined);
  await handle?.close().catch(() => undefined);
  await code?.cleanup();
  if (redis) await removeRedis(redis);
});

t.test('the task ids and the roll-up are pynwheel.tasks\' (the vectors)', async (t) => {
  t.same(taskIds([{ file: 'a.py' }, { id: 'x/y', file: 'b.py' }, { id: 'Task-2', file: 'c.py' }, { file: 'd.py' }]), ['Task-1', 'x_y', 'Task-2', 'Task-3']);
  t.throws(() => taskIds([{ id: 'a', file: 'a.py' }, { id: 'a', file: 'b.py' }]), /duplicate task id "a"/);
  for (const a of VECTORS.names) {
    for (const b of VECTORS.names) t.equal(rollup([a, b]), VECTORS.rollup[a][b], `${a} + ${b}`);
  }
  t.equal(rollup([]), VECTORS.empty);
});

const TASKS = (dir: string) => {
  write(code, `${dir}/passing.py`, 'import sys, time\ntime.sleep(0.5)\nprint("hello", sys.argv[1:])\n');
  write(code, `${dir}/failing.py`, 'print("about to fail")\nassert False, "no"\n');
  write(code, `${dir}/forking.py`, 'import os, time\npid = os.fork()\nif pid == 0:\n    print("child here")\n    os._exit(0)\nos.waitpid(pid, 0)\ntime.sleep(0.5)\nprint("parent here")\n');
  return [
    { file: 'passing.py', args: ['a', 'b'] },
    { id: 'fails', file: 'failing.py' },
    { id: 'forks', file: 'forking.py' },
    { id: 'fn', target: 'json:loads', args: ['{"twice": 42}'] },
  ];
};

/** report.txt without what differs between runs (durations, the log paths' directories). */
const table = (file: string, dir: string) => fs.readFileSync(file, 'utf8').split(dir).join('<dir>').replace(/\d+\.\d{3} s/g, 'N s').replace(/ +/g, ' ');
const logText = (file: string) => fs.readFileSync(file, 'utf8').replace(/\d+(\.\d+)?/g, 'N');

t.test('runTasks() on the cluster resolves what the local runTasks() does, the logs laid out the same', async (t) => {
  const tasks = TASKS('job');
  const cwd = path.join(code.dir, 'job');
  const local = await runTasks(tasks, { cwd, env: code.env, logDir: path.join(cwd, 'local-logs') });
  // (the local logs are not sent: they are left out of the next bundle by name)
  fs.writeFileSync(path.join(cwd, '.gitignore'), 'local-logs/\nremote-logs/\n');
  const events: any[] = [];
  const remote = await handle.runTasks(tasks, { cwd, logDir: 'remote-logs', onProgress: (e) => events.push(e) });
  t.equal(remote.result, local.result, `the roll-up: ${local.result}`);
  t.equal(remote.result, 'Failed');
  t.equal(remote.interrupted, false);
  t.same(remote.notStarted, []);
  t.same(Object.keys(remote.byId).sort(), Object.keys(local.byId).sort());
  for (const id of Object.keys(local.byId)) {
    const [l, r] = [local.byId[id]!, remote.byId[id]!];
    t.same({ result: r.result, reason: r.reason, value: r.value, exitCode: r.exitCode, signal: r.signal, left: r.left },
      { result: l.result, reason: l.reason, value: l.value, exitCode: l.exitCode, signal: l.signal, left: l.left }, `task ${id}`);
    t.equal(path.basename(r.log), path.basename(l.log));
    t.equal(path.dirname(r.log), path.join(cwd, 'remote-logs'), `${id}'s log is local`);
    t.equal(r.target.replace('remote-logs', 'x'), l.target.replace('local-logs', 'x'), `${id}'s target`);
  }
  t.same(local.byId.fn!.value, { twice: 42 });
  const names = (dir: string) => fs.readdirSync(dir).map((n) => n.replace(/pid-\d+/, 'pid-N')).sort();
  t.same(names(remote.logDir), names(local.logDir), 'the same files: per-task and per-fork logs, results.json, report.txt');
  t.ok(names(remote.logDir).includes('TaskLog.forks:pid-N'), 'the fork\'s own log came back');
  for (const name of ['TaskLog.Task-1', 'TaskLog.fails', 'TaskLog.fn']) {
    t.equal(logText(path.join(remote.logDir, name)).split('\n').filter((l) => !/pynwheel-task-|local-logs|remote-logs|\/tmp\//.test(l)).join('\n'),
      logText(path.join(local.logDir, name)).split('\n').filter((l) => !/pynwheel-task-|local-logs|remote-logs|\/tmp\//.test(l)).join('\n'), `${name}'s content`);
  }
  t.match(fs.readFileSync(path.join(remote.logDir, 'TaskLog.Task-1'), 'utf8'), /hello \['a', 'b'\]/);
  t.equal(table(remote.reportFile, remote.logDir), table(local.reportFile, local.logDir), 'report.txt');
  const results = (file: string) => { const r = JSON.parse(fs.readFileSync(file, 'utf8')); return { result: r.result, interrupted: r.interrupted, tasks: r.tasks.map((x: any) => [x.id, x.result, x.reason, x.value]) }; };
  t.same(results(remote.resultsFile), results(local.resultsFile), 'results.json');
  // Events: the local ones (job, started, finished, summary) plus queued, and the worker's name.
  t.same(events.filter((e) => e.event === 'job' || e.event === 'summary').map((e) => e.event), ['job', 'summary']);
  const started = events.filter((e) => e.event === 'started');
  t.equal(started.length, 4);
  t.equal(events.filter((e) => e.event === 'queued').length, 4);
  t.equal(events.filter((e) => e.event === 'finished').length, 4);
  const workerNames = new Set(started.map((e) => e.worker));
  t.equal(workerNames.size, 2, `spread over both workers: ${[...workerNames].join(', ')}`);
});

t.test('pynwheel tasks --on: the same exit status and table as the local command; bad Redis before anything', async (t) => {
  TASKS('cli');
  const cwd = path.join(code.dir, 'cli');
  fs.writeFileSync(path.join(cwd, '.gitignore'), 'l/\nr/\n');
  const env = { ...code.env, PYNWHEEL_CLUSTER_KEY: KEY };
  const run = (args: string[]) => collect(process.execPath, [CLI, 'tasks', ...args], { cwd, env, timeoutMs: 60000 });
  const local = await run(['--log-dir', 'l', 'passing.py x', 'json:loads [3]']);
  const remote = await run(['--on', redis.url, '--log-dir', 'r', 'passing.py x', 'json:loads [3]']);
  t.equal(local.status, 0, local.stderr.toString());
  t.equal(remote.status, local.status, remote.stderr.toString());
  const clean = (o: { stdout: Buffer }, dir: string) => o.stdout.toString().split(path.join(cwd, dir)).join('<dir>').replace(/\d+\.\d{3} s/g, 'N s').replace(/ +/g, ' ');
  t.equal(clean(remote, 'r'), clean(local, 'l'));
  const failing = await run(['--on', redis.url, '--log-dir', 'r2', 'failing.py']);
  t.equal(failing.status, 1);
  t.match(failing.stdout.toString(), /result: Failed/);
  const bad = await run(['--on', 'redis://127.0.0.1:1', 'passing.py']);
  t.equal(bad.status, 1);
  t.match(bad.stderr.toString(), /pynwheel tasks: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  t.notOk(fs.existsSync(path.join(cwd, 'tasklogs', 'results.json')), 'nothing ran');
  // --follow: a task's own progress is a line of its own (off a terminal, without --follow, not shown).
  fs.writeFileSync(path.join(cwd, 'steps.py'), 'import pynwheel\npynwheel.progress({"step": 1})\nprint("done")\n');
  const followed = await run(['--on', redis.url, '--log-dir', 'r3', '--follow', 'steps.py']);
  t.equal(followed.status, 0, followed.stderr.toString());
  t.match(followed.stdout.toString(), /^Task-1: progress \{"step":1\}$/m);
  t.match(followed.stdout.toString(), /^\[Task-1\] done$/m);
  const unfollowed = await run(['--on', redis.url, '--log-dir', 'r4', 'steps.py']);
  t.notMatch(unfollowed.stdout.toString(), /progress/);
});

t.test('progress of a job: queued, started on a worker, retried after kill -9, finished', async (t) => {
  const file = write(code, 'progress/slow.py', 'import time\ndef f():\n    time.sleep(2)\n    return "done"\n');
  const events: any[] = [];
  const quick = await handle.call(`${file.replace('slow.py', 'slow.py')}:f`, [], { onProgress: (e) => events.push(e) });
  t.equal(quick, 'done');
  t.same(events.map((e) => e.event), ['queued', 'started', 'finished']);
  const names = workers.map((w) => fs.readFileSync(w.log, 'utf8').match(/worker (\S+) on/)![1]);
  t.ok(names.includes(events[1].worker), `started on ${events[1].worker}, one of ours`);
  t.equal(events[2].worker, events[1].worker);
  events.length = 0;
  const result = handle.call(`${file}:f`, [], { onProgress: (e) => events.push(e) });
  const deadline = Date.now() + 15000;
  while (!events.some((e) => e.event === 'started') && Date.now() < deadline) await sleep(20);
  const first = events.find((e) => e.event === 'started')!.worker;
  const victim = workers[names.indexOf(first)]!;
  await stopWorker(victim, 'SIGKILL');
  t.equal(await result, 'done');
  t.same(events.map((e) => e.event), ['queued', 'started', 'retried', 'started', 'finished']);
  t.equal(events[2].reason, 'fault');
  t.not(events[3].worker, first, 'the second start is on the other worker');
  t.equal(events[3].retry, 1);
  // What a worker killed mid-job leaves in its directory (its job's progress file) goes when a
  // worker starts there again; a live worker's is kept.
  const dead = spawnSync('true').pid!;
  let stale = '';
  const c = await startWorker('c', (sb) => {
    stale = path.join(sb.runtimeDir, 'workers', String(dead));
    fs.mkdirSync(path.join(stale, 'progress-x'), { recursive: true });
    fs.writeFileSync(path.join(stale, 'progress-x', 'progress'), '');
  });
  t.notOk(fs.existsSync(stale), 'the dead worker\'s directory was removed');
  t.same(fs.readdirSync(path.join(c.sb.runtimeDir, 'workers')), [String(workerPid(c))], 'only the new worker\'s');
  // `pynwheel status` on the worker's machine shows it; gone once it stopped.
  const status = await collect(process.execPath, [CLI, 'status'], { env: c.sb.env });
  t.match(status.stdout.toString(), new RegExp(`^worker: pid ${workerPid(c)} on unix:\\S+ queue pynwheel, concurrency 1, \\d+ threads per job, running 0, served 0, up \\d+s`, 'm'), 'status shows the worker');
  const json = JSON.parse((await collect(process.execPath, [CLI, 'status', '--json'], { env: c.sb.env })).stdout.toString());
  t.same(json.workers.map((w: { pid: number; queue: string }) => [w.pid, w.queue]), [[workerPid(c), 'pynwheel']]);
  t.equal(json.workers[0].redis.includes(redis.dir) || json.workers[0].redis.startsWith('unix:'), true, 'its Redis, without a password');
  // A worker that leaves (SIGTERM) removes its directory.
  const d = await startWorker('d');
  const own = path.join(d.sb.runtimeDir, 'workers', String(workerPid(d)));
  t.ok(fs.existsSync(path.join(own, 'worker.json')), 'a record while it works');
  d.child.kill('SIGTERM');
  t.equal(await d.exited, 0);
  t.notOk(fs.existsSync(own), 'its directory went with it');
  await stopWorker(d);
});

function workerPid(w: Worker): number {
  return Number(fs.readFileSync(w.log, 'utf8').match(/worker \S+:(\d+) on/)![1]);
}

/** What a worker's directory holds but its record: nothing between jobs (every job removes what it made). */
function scratchOf(w: Worker): string[] {
  return fs.readdirSync(path.join(w.sb.runtimeDir, 'workers', String(workerPid(w)))).filter((n) => n !== 'worker.json');
}

t.test('the code directory is packed once and reused while no file changed; an edit is a new hash', async (t) => {
  const dir = path.join(code.dir, 'pack');
  write(code, 'pack/a.py', 'x = 1\n');
  write(code, 'pack/b.py', 'y = 2\n');
  const old = new Date(Date.now() - 10_000);
  for (const name of ['a.py', 'b.py']) fs.utimesSync(path.join(dir, name), old, old);
  const first = packDirectory(dir);
  t.equal(first.reused, 0);
  const second = packDirectory(dir, { previous: first });
  t.equal(second.reused, 2, 'nothing read again');
  t.equal(second.hash, first.hash);
  t.equal(second.bytes, first.bytes, 'the same bundle, not encoded again');
  // An edit (a new mtime): read again, a new hash.
  fs.writeFileSync(path.join(dir, 'a.py'), 'x = 33\n');
  fs.utimesSync(path.join(dir, 'a.py'), old, old); // (its size tells; an old mtime keeps it out of the racy rule below)
  const third = packDirectory(dir, { previous: second });
  t.equal(third.reused, 1);
  t.not(third.hash, second.hash);
  // The racy case: written in the second of the pack, then again with the same size and mtime (a
  // coarse clock): the stat alone cannot tell, the rule re-reads it.
  fs.writeFileSync(path.join(dir, 'b.py'), 'y = 4\n');
  const racyPack = packDirectory(dir, { previous: third });
  const { mtime } = fs.statSync(path.join(dir, 'b.py'));
  fs.writeFileSync(path.join(dir, 'b.py'), 'y = 5\n');
  fs.utimesSync(path.join(dir, 'b.py'), mtime, mtime);
  const after = packDirectory(dir, { previous: racyPack });
  t.equal(after.reused, 1, 'b.py, modified within the pack\'s second, is read again');
  t.match(decodeFiles(after.bytes)['b.py'], /y = 5/);
  // A file added or removed: a new bundle.
  fs.writeFileSync(path.join(dir, 'c.py'), '');
  fs.utimesSync(path.join(dir, 'c.py'), old, old);
  t.not(packDirectory(dir, { previous: after }).hash, after.hash);
});

t.test('an edit between two jobs of one handle still runs the new code', async (t) => {
  const file = write(code, 'edit/job.py', 'def f():\n    return "old"\n');
  t.equal(await handle.call(`${file}:f`), 'old');
  t.equal(await handle.call(`${file}:f`), 'old');
  fs.writeFileSync(file, 'def f():\n    return "new"\n'); // (within the same second as the pack, likely: the racy rule)
  t.equal(await handle.call(`${file}:f`), 'new');
  await sleep(1100);
  fs.writeFileSync(file, 'def f():\n    return "newer"\n');
  t.equal(await handle.call(`${file}:f`), 'newer');
});

function decodeFiles(bytes: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of decodeBundle(bytes)) out[f.path] = f.data.toString();
  return out;
}

t.test('a job\'s own progress: pynwheel.progress(data) in a function and in a task comes as progress events', async (t) => {
  const file = write(code, 'own/steps.py', 'import time, pynwheel\ndef f(n):\n    sent = [pynwheel.progress({"step": i, "of": n}) for i in range(n)]\n    time.sleep(0.3)\n    return sent\n');
  const events: any[] = [];
  t.same(await handle.call(`${file}:f`, [3], { onProgress: (e) => events.push(e) }), [true, true, true], 'sent');
  t.same(events.filter((e) => e.event === 'progress').map((e) => e.data), [{ step: 0, of: 3 }, { step: 1, of: 3 }, { step: 2, of: 3 }]);
  t.same(events.map((e) => e.event), ['queued', 'started', 'progress', 'progress', 'progress', 'finished'], 'in order, before finished');
  // Not listened to (no onProgress): it does nothing, and says so.
  t.same(await handle.call(`${file}:f`, [2]), [false, false]);
  write(code, 'own/task.py', 'import pynwheel\npynwheel.progress("half")\nprint("done")\n');
  const taskEvents: any[] = [];
  const report = await handle.runTasks([{ id: 'own', file: 'task.py' }], { cwd: path.join(code.dir, 'own'), logDir: path.join(code.dir, 'own-logs'), onProgress: (e) => taskEvents.push(e) });
  t.equal(report.result, 'Passed');
  t.same(taskEvents.filter((e) => e.event === 'progress').map((e) => [e.id, e.data]), [['own', 'half']]);
  // Locally: nothing to send to.
  const local = await runTasks([{ id: 'own', file: 'task.py' }], { cwd: path.join(code.dir, 'own'), env: code.env, logDir: path.join(code.dir, 'own-local') });
  t.equal(local.result, 'Passed');
  for (const w of workers) t.same(scratchOf(w), [], `worker ${workerPid(w)}: nothing left of its jobs' progress files and task log directories`);
});

t.test('an abort of a tasks job on the cluster: running tasks end Aborted, the rest not started, the report interrupted', async (t) => {
  write(code, 'abort/slow.py', 'import time\ntime.sleep(30)\n');
  const cwd = path.join(code.dir, 'abort');
  const controller = new AbortController();
  const events: any[] = [];
  const began = Date.now();
  const pending = handle.runTasks([{ id: 's1', file: 'slow.py' }, { id: 's2', file: 'slow.py' }, { id: 's3', file: 'slow.py' }], {
    cwd, concurrency: 2, logDir: path.join(code.dir, 'abort-logs'),
    onProgress: (e) => {
      events.push(e);
      if (events.filter((x) => x.event === 'started').length === 2) controller.abort();
    },
    signal: controller.signal,
  });
  const report = await pending;
  t.ok(Date.now() - began < 20000, 'it did not wait for the tasks');
  t.equal(report.interrupted, true);
  t.equal(report.result, 'Aborted');
  t.same(report.tasks.map((o) => [o.id, o.result]).sort(), [['s1', 'Aborted'], ['s2', 'Aborted']]);
  t.same(report.notStarted, ['s3']);
  t.match(fs.readFileSync(report.reportFile, 'utf8'), /the job was interrupted/);
  // The workers stopped them: both take a new job at once.
  const file = write(code, 'abort/quick.py', 'def f():\n    return 1\n');
  const quick = Date.now();
  t.same(await Promise.all([handle.call(`${file}:f`), handle.call(`${file}:f`)]), [1, 1]);
  t.ok(Date.now() - quick < 10000, 'the workers are free again');
});
