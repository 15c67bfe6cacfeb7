// The lane: a warm run's client goes straight to a spare of the script's zygote, found through
// the daemon's route for the script (lib/daemon/routes.ts), and never through the daemon. The spare
// checks the request itself and declines anything it is not sure of; the client then asks the
// daemon. Every run is compared with python's.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../dist/index';
import { native } from '../lib/shared/native';
import { encodeFrame } from '../lib/shared/wire';
import { routeName } from '../lib/shared/route-name';
import { VERSION } from '../lib/shared/version';
import { collect, daemonStatus, isAlive, makeSandbox, pynwheel, python, sleep, view, write, ROOT, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');

let sb: Sandbox;
t.before(() => { sb = makeSandbox('lane'); });
t.teardown(() => sb.cleanup());

const runner = (args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs?: number) => collect(SHIM, ['run', ...args], { cwd: sb.dir, env: { ...sb.env, ...env }, timeoutMs });

/** Runs that came by a lane, over all zygotes. */
async function laneRuns(): Promise<number> {
  const status = await daemonStatus(sb);
  return status.zygotes.reduce((n: number, z: { lane: { served: number } }) => n + z.lane.served, 0);
}

function lanePaths(): string[] {
  return fs.readdirSync(sb.runtimeDir).filter((name) => /^lane\d+$/.test(name)).map((name) => path.join(sb.runtimeDir, name));
}

t.test('warm runs come by the lane, from the runner, the Node CLI and run(), as python runs them', async (t) => {
  write(sb, 'args.py', [
    'import os, sys',
    'print(sys.argv, os.getcwd(), os.environ.get("GREETING"), sorted(int(fd) for fd in os.listdir("/proc/self/fd")))',
    'sys.stderr.write("to stderr\\n")',
    'sys.exit(7)',
  ].join('\n') + '\n');
  const env = { GREETING: 'hello' };
  const args = ['args.py', 'a b', 'ä'];
  const pyRaw = await python(sb, args, { env });
  const py = view(pyRaw);
  t.same(view(await runner(args, env)), py, 'the first run, through the daemon');
  const before = await laneRuns();
  for (let i = 1; i <= 3; i++) t.same(view(await runner(args, env)), py, `warm run ${i} by the runner`);
  t.same(view(await pynwheel(sb, ['run', ...args], { env })), py, 'by the Node CLI');
  const result = await run('args.py', ['a b', 'ä'], { cwd: sb.dir, env: { ...sb.env, ...env }, reject: false });
  t.same([result.stdout, result.stderr, result.exitCode], [pyRaw.stdout, pyRaw.stderr, pyRaw.status], 'by run()');
  t.equal(await laneRuns(), before + 5, 'all five came by the lane');
  const python3 = path.join(sb.venv, 'bin', 'python3');
  t.ok(fs.lstatSync(path.join(sb.runtimeDir, 'r', routeName(python3, sb.dir, 'args.py'))).isSymbolicLink(), 'the daemon left a route for the script');
  t.equal(fs.statSync(path.join(sb.runtimeDir, 'r')).mode & 0o777, 0o700, 'routes are the user\'s only');
  for (const lane of lanePaths()) t.equal(fs.statSync(lane).mode & 0o777, 0o600, `${path.basename(lane)} is the user's only`);
});

t.test('a route is a hint: another environment, an edited script, a new module beside it; each run is right', async (t) => {
  // In a directory of its own: its json.py must not shadow anything of the other tests.
  write(sb, 'hint/hint.py', 'import os\nprint(os.environ.get("OMP_NUM_THREADS"), open(__file__).read().count("#"))\n');
  const check = async (what: string, env: NodeJS.ProcessEnv = {}) => {
    t.same(view(await runner(['hint/hint.py'], env)), view(await python(sb, ['hint/hint.py'], { env })), what);
  };
  await check('first run');
  await check('warm');
  const before = await laneRuns();
  await check('a variable the zygotes are keyed by (a zygote of its own)', { OMP_NUM_THREADS: '3' });
  await check('back to the first environment');
  fs.appendFileSync(path.join(sb.dir, 'hint', 'hint.py'), '# edited\n');
  await check('the script edited');
  await check('and warm again');
  write(sb, 'hint/json.py', 'print("the script\'s own json")\n');
  write(sb, 'hint/hint.py', 'import json\nprint(json.__file__.endswith("/json.py") and "local" or "stdlib")\n');
  await check('a module beside the script that shadows the standard library');
  await check('and warm again');
  t.ok(await laneRuns() > before, 'warm runs still came by the lane');
});

t.test('a script edited without a change of size or mtime runs its new text (no stale compiled code)', async (t) => {
  const file = write(sb, 'same_size.py', 'print("first")\n');
  const { mtime } = fs.statSync(file);
  for (let i = 0; i < 3; i++) t.equal((await runner(['same_size.py'])).stdout.toString(), 'first\n', `run ${i} of the first text`);
  fs.writeFileSync(file, 'print("again")\n');
  fs.utimesSync(file, mtime, mtime);
  t.equal(fs.statSync(file).size, 'print("first")\n'.length, 'the same size');
  const outcome = await runner(['same_size.py']);
  t.equal(outcome.stdout.toString(), 'again\n', 'the new text ran');
  t.equal(outcome.status, 0);
});

t.test('no run outlives its lane client: SIGKILL to the runner ends the run', async (t) => {
  write(sb, 'sleeper.py', 'import os, sys, time\nif sys.argv[1:]:\n    open(sys.argv[1], "w").write(str(os.getpid()))\n    time.sleep(60)\n');
  await runner(['sleeper.py']); // the route
  await runner(['sleeper.py']);
  const before = await laneRuns();
  const pidFile = path.join(sb.dir, 'sleeper.pid');
  const client = spawn(SHIM, ['run', 'sleeper.py', pidFile], { cwd: sb.dir, env: sb.env, stdio: 'ignore' });
  for (let i = 0; i < 500 && !fs.existsSync(pidFile); i++) await sleep(10);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  t.ok(isAlive(pid), 'the run is going');
  t.equal(await laneRuns(), before + 1, 'it came by the lane');
  client.kill('SIGKILL');
  for (let i = 0; i < 200 && isAlive(pid); i++) await sleep(25);
  t.notOk(isAlive(pid), 'and it is gone with its client');
});

t.test('a run\'s status comes straight to the runner: a zygote that is not scheduled does not delay it', async (t) => {
  // The script waits for a file; meanwhile its zygote is stopped. Its end still reaches the
  // runner: the run's process tells it itself (sigqueue), not through the zygote.
  write(sb, 'status7.py', [
    'import os, sys, time',
    'open(sys.argv[1] + ".started", "w").close()',
    'while not os.path.exists(sys.argv[1] + ".go"):',
    '    time.sleep(0.01)',
    'print("done")',
    'sys.exit(7)',
  ].join('\n') + '\n');
  const marker = path.join(sb.dir, 'status7');
  fs.writeFileSync(`${marker}.go`, '');
  const py = view(await python(sb, ['status7.py', marker]));
  await runner(['status7.py', marker]); // the route
  t.same(view(await runner(['status7.py', marker])), py, 'a warm run');
  fs.rmSync(`${marker}.go`);
  fs.rmSync(`${marker}.started`, { force: true });
  const python3 = path.join(sb.venv, 'bin', 'python3');
  const lane = fs.readlinkSync(path.join(sb.runtimeDir, 'r', routeName(python3, sb.dir, 'status7.py')));
  const zygote = (await daemonStatus(sb)).zygotes.find((z: { lane: { path: string } }) => z.lane.path === lane) as { pid: number };
  t.ok(zygote, 'the zygote of the script\'s lane');
  const before = await laneRuns();
  const client = runner(['status7.py', marker], {}, 15_000);
  for (let i = 0; i < 1000 && !fs.existsSync(`${marker}.started`); i++) await sleep(10);
  t.ok(fs.existsSync(`${marker}.started`), 'the run started');
  process.kill(zygote.pid, 'SIGSTOP');
  let outcome;
  try {
    fs.writeFileSync(`${marker}.go`, '');
    outcome = await client;
  } finally {
    process.kill(zygote.pid, 'SIGCONT');
  }
  t.same(view(outcome), py, 'the same outcome while its zygote was stopped');
  t.equal(await laneRuns(), before + 1, 'it came by the lane');
});

t.test('what a run leaves running in the background lives on after it, as after python', async (t) => {
  write(sb, 'background.py', 'import subprocess\nprint(subprocess.Popen(["sleep", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)\n');
  /** Alive and not a zombie (one that nobody reaped is no process any more). */
  const running = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
    } catch {
      return false;
    }
  };
  await runner(['background.py']);
  const left: number[] = [];
  try {
    const pyPid = Number((await python(sb, ['background.py'])).stdout);
    left.push(pyPid);
    await sleep(200);
    t.ok(running(pyPid), 'python\'s is alive after it');
    for (let i = 1; i <= 5; i++) {
      const pid = Number((await runner(['background.py'])).stdout);
      left.push(pid);
      await sleep(200);
      t.ok(pid > 0 && running(pid), `the run's is alive after it (run ${i})`);
    }
  } finally {
    for (const pid of left) if (pid > 0) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

t.test('a SIGURG that is not the run\'s status is passed on to the run', async (t) => {
  // The runner learns the status by a SIGURG with a token: one from kill(1), or queued with
  // another value, is the user's and reaches the script's handler.
  write(sb, 'urgent.py', [
    'import os, signal, sys, time',
    'seen = []',
    'signal.signal(signal.SIGURG, lambda *_: seen.append(1))',
    'if sys.argv[1] == "-":',
    '    sys.exit(0)',
    'deadline = time.time() + 20',
    'while len(seen) < 2 and time.time() < deadline:',
    '    time.sleep(0.01)',
    '    open(sys.argv[1], "w").write(str(len(seen)))',
    'print("SIGURG seen", len(seen))',
    'sys.exit(5)',
  ].join('\n') + '\n');
  const progress = path.join(sb.dir, 'urgent.progress');
  await runner(['urgent.py', '-']);
  await runner(['urgent.py', '-']);
  fs.rmSync(progress, { force: true });
  const waitFor = async (text: string) => {
    for (let i = 0; i < 1000 && (!fs.existsSync(progress) || fs.readFileSync(progress, 'utf8') !== text); i++) await sleep(10);
  };
  const client = spawn(SHIM, ['run', 'urgent.py', progress], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'inherit'] });
  const out: Buffer[] = [];
  client.stdout.on('data', (d: Buffer) => out.push(d));
  const ended = new Promise<number | null>((resolve) => client.on('close', (code) => resolve(code)));
  await waitFor('0');
  client.kill('SIGURG');
  await waitFor('1');
  // sigqueue(SIGURG) with a value that is not the run's token.
  const python3 = path.join(sb.venv, 'bin', 'python3');
  const queue = await collect(python3, ['-c', [
    'import ctypes, sys',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.sigqueue.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]',
    'sys.exit(libc.sigqueue(int(sys.argv[1]), 23, 0x12345600))',
  ].join('\n'), String(client.pid)], { env: sb.env });
  t.equal(queue.status, 0, 'sigqueue sent');
  t.equal(await ended, 5, 'the run ended as the script did');
  t.equal(Buffer.concat(out).toString(), 'SIGURG seen 2\n', 'both reached the script');
});

/** Sends bytes (and fds) on a new connection to `lane`; the payload of what came back before EOF. */
async function exchange(lane: string, bytes: Buffer, fds: number[] = [], closeAfterSend = false): Promise<string> {
  const fd = native.connect(lane);
  try {
    if (bytes.length) native.sendMsg(fd, bytes, fds);
    if (closeAfterSend) return '';
    native.setNonBlocking(fd, true);
    let reply = Buffer.alloc(0);
    for (let i = 0; i < 500; i++) {
      let received;
      try {
        received = native.recvMsg(fd, 65536, 8);
      } catch (err) {
        // Closed with our bytes unread: the kernel resets the connection instead of an EOF.
        if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return reply.subarray(8).toString();
        throw err;
      }
      if (received === null) {
        await sleep(10);
        continue;
      }
      received.fds.forEach((f) => native.close(f));
      if (received.data.length === 0) return reply.subarray(8).toString();
      reply = Buffer.concat([reply, received.data]);
    }
    return 'no answer';
  } finally {
    native.close(fd);
  }
}

t.test('one waiting spare wakes per connection: spares killed or let go as clients come leave none waiting', async (t) => {
  write(sb, 'churn.py', 'import sys\nprint("churn", sys.argv[1])\n');
  write(sb, 'churn_new.py', 'import decimal, sys\nprint("new import", sys.argv[1])\n');
  t.equal((await runner(['churn.py', '0'])).stdout.toString(), 'churn 0\n', 'a first run');
  const zygote = (await daemonStatus(sb)).zygotes[0] as { pid: number };
  // Spares are the zygote's children that wait in epoll_wait (runs of churn.py never do).
  const spares = (): number[] => fs.readFileSync(`/proc/${zygote.pid}/task/${zygote.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    .filter((pid) => { try { return fs.readFileSync(`/proc/${pid}/wchan`, 'utf8') === 'do_epoll_wait'; } catch { return false; } });
  const expected: string[] = [];
  let killed = 0;
  const runs: Array<Promise<{ stdout: Buffer; stderr: Buffer; status: number | null }>> = [];
  for (let i = 1; i <= 12; i++) {
    // Runs by the lane and by the daemon at once, while the spares are killed (from outside)
    // or let go (a run of a script with a new import makes them outdated).
    runs.push(runner(['churn.py', String(i)]));
    expected.push(`churn ${i}\n`);
    if (i % 3 === 0) {
      runs.push(pynwheel(sb, ['run', 'churn_new.py', String(i)]));
      expected.push(`new import ${i}\n`);
    }
    if (i % 2 === 0) {
      for (const pid of spares()) {
        try { process.kill(pid, 'SIGKILL'); killed++; } catch { /* it took a run and ended meanwhile */ }
      }
    }
    await sleep(i % 4);
  }
  const outcomes = await Promise.all(runs);
  t.same(outcomes.map((o) => o.stdout.toString()), expected, 'every run printed its line');
  outcomes.forEach((o, i) => {
    // (What a run that went wrong said, for the record: this test has failed once, unexplained.)
    if (o.stdout.toString() !== expected[i] || o.status !== 0) t.comment(`run ${i}: status ${o.status}, stderr ${JSON.stringify(o.stderr.toString())}`);
  });
  t.ok(outcomes.every((o) => o.status === 0), 'and exited 0');
  t.ok(killed > 0, `spares were killed meanwhile (${killed})`);
});

t.test('a lane declines or drops bad requests and keeps serving', async (t) => {
  write(sb, 'ok.py', 'print("still served")\n');
  // A script the base zygote has not run, of another family (its spare reads a new script
  // itself, python/_pynwheel/newscript.py, and takes only one that is its zygote's to run).
  write(sb, 'never-ran.py', 'import numpy\nprint("never by the lane")\n');
  await runner(['ok.py']);
  const status = await daemonStatus(sb);
  const base = status.zygotes.find((z: { key: { family: string[] } }) => z.key.family.length === 0);
  const lane: string = base.lane.path;
  const request = {
    type: 'run', client: VERSION, file: 'ok.py', args: [], cwd: sb.dir, env: sb.env,
    python: path.join(sb.venv, 'bin', 'python3'), argv0: 'python3', stdio: [true, true, true], cwdFd: true,
  };
  const devnull = fs.openSync('/dev/null', 'r+');
  const dir = fs.openSync(sb.dir, 'r');
  try {
    t.equal(await exchange(lane, Buffer.from('GET / HTTP/1.0\r\n\r\n')), '', 'not a frame: dropped');
    t.equal(await exchange(lane, encodeFrame([1, 2, 3], 0)), '', 'not a JSON object: dropped');
    t.equal(await exchange(lane, encodeFrame(request, 4), [devnull]), '', 'fewer fds than it announces: dropped');
    t.match(await exchange(lane, encodeFrame({ ...request, client: '0.0.0' }, 4), [devnull, devnull, devnull, dir]), /"decline".*version/, 'another version: declined');
    t.match(await exchange(lane, encodeFrame({ ...request, python: '/usr/bin/python3' }, 4), [devnull, devnull, devnull, dir]), /"decline".*interpreter/, 'another interpreter: declined');
    t.match(await exchange(lane, encodeFrame(request, 4), [devnull, devnull, devnull, devnull]), /"decline".*fds/, 'a cwd fd that is no directory: declined');
    t.match(await exchange(lane, encodeFrame({ ...request, file: 'never-ran.py' }, 4), [devnull, devnull, devnull, dir]), /"decline".*other-family/, 'a script it has not run, of another family: declined');
    t.match(await exchange(lane, encodeFrame({ ...request, env: { ...sb.env, A: 1 } }, 4), [devnull, devnull, devnull, dir]), /"decline".*env/, 'a number in the environment: declined');
    t.match(await exchange(lane, encodeFrame({ ...request, env: { ...sb.env, 'A=B': 'x' } }, 4), [devnull, devnull, devnull, dir]), /"decline".*env/, 'a name with "=" in the environment: declined');
    t.match(await exchange(lane, encodeFrame({ ...request, env: { ...sb.env, A: 'x\0y' } }, 4), [devnull, devnull, devnull, dir]), /"decline".*env/, 'a NUL in a value: declined');
    t.match(await exchange(lane, encodeFrame({ ...request, env: { ...sb.env, 'A\0': 'x' } }, 4), [devnull, devnull, devnull, dir]), /"decline".*env/, 'a NUL in a name: declined');
  } finally {
    fs.closeSync(devnull);
    fs.closeSync(dir);
  }
  // Clients that hang up half-way, or say nothing at all.
  await exchange(lane, Buffer.from('PN'), [], true);
  await exchange(lane, Buffer.alloc(0), [], true);
  const before = await laneRuns();
  t.same(view(await runner(['ok.py'])), view(await python(sb, ['ok.py'])), 'a good run after all that');
  t.equal(await laneRuns(), before + 1, 'by the lane');
  t.equal((await daemonStatus(sb)).zygotes.find((z: { pid: number }) => z.pid === base.pid)?.pid, base.pid, 'from the same zygote');
});

t.test('a route to nowhere: the runner asks the daemon; stopping the daemon removes lanes and routes', async (t) => {
  write(sb, 'nowhere.py', 'print("ran")\n');
  const route = path.join(sb.runtimeDir, 'r', routeName(path.join(sb.venv, 'bin', 'python3'), sb.dir, 'nowhere.py'));
  fs.symlinkSync(path.join(sb.runtimeDir, 'lane999'), route);
  t.same(view(await runner(['nowhere.py'])), view(await python(sb, ['nowhere.py'])), 'the run happened');
  t.ok(lanePaths().length > 0, 'zygotes have lanes');
  await pynwheel(sb, ['stop']);
  for (let i = 0; i < 200 && (lanePaths().length || fs.existsSync(path.join(sb.runtimeDir, 'r'))); i++) await sleep(25);
  t.same(lanePaths(), [], 'no lane is left');
  t.notOk(fs.existsSync(path.join(sb.runtimeDir, 'r')), 'nor any route');
});
