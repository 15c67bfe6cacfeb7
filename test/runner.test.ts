// The native runner (bin/pynwheel -> build/Release/pynwheel-runner): the warm path without Node.
// Differential against python3, and hand-over to the Node CLI for everything else.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { both, collect, isAlive, makeSandbox, python, sleep, view, write, ROOT, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');

let sb: Sandbox;
t.before(() => { sb = makeSandbox('runner'); });
t.teardown(() => sb.cleanup());

const viaShim = (args: string[], env: NodeJS.ProcessEnv = {}) => collect(SHIM, args, { cwd: sb.dir, env: { ...sb.env, ...env } });

t.test('the runner is built and the shim uses it', async (t) => {
  t.ok(fs.existsSync(RUNNER), 'build/Release/pynwheel-runner exists');
  write(sb, 'hello.py', 'print("hello")\n');
  t.equal((await viaShim(['run', 'hello.py'])).stdout.toString(), 'hello\n', 'the first run (the Node CLI starts the daemon)');
  // With the daemon up, a PATH without node still works: no Node on the warm path.
  const noNode = await viaShim(['run', 'hello.py'], { PATH: `${path.join(sb.venv, 'bin')}:/usr/bin:/bin`.split(':').filter((d) => !fs.existsSync(path.join(d, 'node'))).join(':') });
  t.equal(noNode.stdout.toString(), 'hello\n', 'a warm run needs no node on PATH');
  t.equal(noNode.status, 0);
});

t.test('differential through the runner: argv, exits, tracebacks, signals, stdin', async (t) => {
  const cases: Record<string, string> = {
    'argv.py': 'import sys\nprint(sys.argv, sys.orig_argv[1:])\n',
    'exit7.py': 'import sys\nprint("out")\nsys.exit(7)\n',
    'message.py': 'import sys\nsys.exit("fatal")\n',
    'boom.py': 'def f():\n    raise ValueError("boom")\nf()\n',
    'term.py': 'import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n',
    'stdin.py': 'import sys, hashlib\nd = sys.stdin.buffer.read()\nprint(len(d), hashlib.sha256(d).hexdigest())\n',
  };
  for (const [name, source] of Object.entries(cases)) write(sb, name, source);
  const input = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) & 0xff));
  for (const [name, args, options] of [
    ['argv.py', ['--help', '-v', '--', 'ünï', ''], {}],
    ['exit7.py', [], {}], ['message.py', [], {}], ['boom.py', [], {}], ['term.py', [], {}],
    ['stdin.py', [], { input }],
  ] as const) {
    const py = await python(sb, [name, ...args], options);
    const pnw = await collect(SHIM, ['run', name, ...args], { cwd: sb.dir, env: sb.env, ...options });
    t.same(view(pnw), view(py), `${name}`);
  }
  const shebang = write(sb, 'shebang.py', '#!/usr/bin/env pynwheel\nimport sys\nprint(sys.argv)\n', 0o755);
  t.same(view(await viaShim([shebang, 'x'])), view(await python(sb, [shebang, 'x'])), 'the shebang form');
  t.same(view(await viaShim(['--file', 'argv.py', '--args', 'a', 'b'])), view(await python(sb, ['argv.py', 'a', 'b'])), 'the spec\'s form');
  t.same(view(await viaShim(['run', '-m', 'json.tool', '--help'])), view(await python(sb, ['-m', 'json.tool', '--help'])), '-m');
});

t.test('closed stdin gives sys.stdin None, as with python', async (t) => {
  write(sb, 'closed.py', 'import sys\nprint(sys.stdin, file=sys.stderr)\n');
  const run = (command: string) => spawnSync('sh', ['-c', `exec ${command} <&-`], { cwd: sb.dir, env: sb.env });
  const py = run('python3 closed.py');
  const pnw = run(`${SHIM} run closed.py`);
  t.equal(pnw.stderr.toString(), py.stderr.toString());
  t.equal(pnw.stderr.toString(), 'None\n');
});

t.test('signals sent to the runner reach the run', async (t) => {
  write(sb, 'handler.py', 'import signal, sys, time\nsignal.signal(signal.SIGUSR1, lambda *a: print("got USR1", flush=True))\nprint("ready", flush=True)\nfor _ in range(300):\n    time.sleep(0.05)\n');
  const child = spawn(SHIM, ['run', 'handler.py'], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const closed = new Promise<string | null>((resolve) => child.on('close', (_c, s) => resolve(s)));
  for (let i = 0; i < 400 && !out.includes('ready'); i++) await sleep(20);
  child.kill('SIGUSR1');
  for (let i = 0; i < 200 && !out.includes('got USR1'); i++) await sleep(20);
  t.match(out, /got USR1/, 'the script\'s handler ran');
  child.kill('SIGTERM');
  t.equal(await closed, 'SIGTERM', 'the default action ended the run and the runner died the same way');
});

/** Start `command`, wait for "ready", send `signo`, and return what python-style output and ending it had. */
async function signalled(command: string, args: string[], signo: number): Promise<{ out: string; code: number | null; signal: string | null }> {
  const child = spawn(command, args, { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const closed = new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  for (let i = 0; i < 500 && !out.includes('ready'); i++) await sleep(10);
  process.kill(child.pid!, signo);
  const [code, signal] = await closed;
  return { out, code, signal };
}

t.test('every catchable signal sent to the runner reaches the run, as sent to python', async (t) => {
  write(sb, 'catch.py', [
    'import signal, sys, time',
    'signo = int(sys.argv[1])',
    'got = []',
    'signal.signal(signo, lambda n, f: got.append(n))',
    'print("ready", flush=True)',
    'for _ in range(500):',
    '    if got:',
    '        break',
    '    time.sleep(0.01)',
    'print("got", got)',
  ].join('\n') + '\n');
  write(sb, 'default.py', 'import time\nprint("ready", flush=True)\ntime.sleep(5)\nprint("not ended")\n');
  const interpreter = path.join(sb.venv, 'bin', 'python3');
  // 1-31 but SIGKILL and SIGSTOP (not catchable): SIGSEGV, SIGCHLD, SIGPIPE, SIGTSTP, ... too;
  // and realtime signals, which have no name in Node.
  const catchable = [...Array.from({ length: 31 }, (_, i) => i + 1).filter((n) => n !== 9 && n !== 19), 36, 50, 64];
  for (const signo of catchable) {
    const py = await signalled(interpreter, ['catch.py', String(signo)], signo);
    const pnw = await signalled(SHIM, ['run', 'catch.py', String(signo)], signo);
    t.same(pnw, py, `signal ${signo}: the script's handler ran (${JSON.stringify(py.out.split('\n')[1])})`);
  }
  // Default actions: the run ends by the signal and the runner dies the same way.
  for (const signo of [10, 12, 14, 15, 24, 25, 36, 64]) {
    const py = await signalled(interpreter, ['default.py'], signo);
    const pnw = await signalled(SHIM, ['run', 'default.py'], signo);
    t.same(pnw, py, `signal ${signo} unhandled: ${py.signal ?? py.code}`);
  }
});

t.test('a signal that reaches the client before its run has started ends it as python: nothing is left behind', async (t) => {
  // The run writes its pid first, so a run that did start can be looked for afterwards.
  const source = 'import os, sys, time\nopen(sys.argv[1], "w").write(str(os.getpid()))\ntime.sleep(3 if len(sys.argv) < 3 else 0)\nprint("not ended")\n';
  const delays = [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20];
  // By the daemon (a script it has no route for: each run is relayed to a spare in the
  // zygote), and by the lane (a script that ran before).
  write(sb, 'early.py', source);
  t.equal((await viaShim(['run', 'early.py', path.join(sb.dir, 'early-warm.pid'), 'quick'])).stdout.toString(), 'not ended\n', 'a run that publishes the route');
  for (const way of ['daemon', 'lane'] as const) {
    let started = 0;
    for (const delay of delays) {
      const script = way === 'daemon' ? write(sb, `early-${delay}.py`, source) : 'early.py';
      const pidFile = path.join(sb.dir, `early-${way}-${delay}.pid`);
      const child = spawn(SHIM, ['run', script, pidFile], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
      const closed = new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      await sleep(delay);
      child.kill('SIGTERM');
      t.same(await closed, [null, 'SIGTERM'], `by the ${way}, after ${delay} ms: died of SIGTERM, as python would`);
      await sleep(300);
      if (!fs.existsSync(pidFile)) continue; // the run never started
      started++;
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      t.notOk(pid > 0 && isAlive(pid), `by the ${way}, after ${delay} ms: the run (pid ${pid}) did not outlive its client`);
    }
    t.comment(`by the ${way}: ${started} of ${delays.length} runs had started when the signal came`);
  }
});

t.test('everything else goes to the Node CLI, with the same words', async (t) => {
  const open = fs.mkdtempSync(path.join(sb.dir, 'open-'));
  fs.chmodSync(open, 0o777);
  const viaNode = await collect(process.execPath, [path.join(ROOT, 'bin', 'pynwheel.js'), 'run', 'hello.py'], { cwd: sb.dir, env: { ...sb.env, PYNWHEEL_RUNTIME_DIR: open } });
  const viaRunner = await viaShim(['run', 'hello.py'], { PYNWHEEL_RUNTIME_DIR: open });
  t.same(view(viaRunner), view(viaNode), 'an unsafe runtime directory: the Node CLI\'s refusal');
  t.match((await viaShim(['status'])).stdout.toString(), /daemon: pid \d+/, 'status');
  t.equal((await viaShim(['run', '--python'])).status, 2, 'a usage error');
  const disabled = await viaShim(['run', 'hello.py'], { PYNWHEEL_DISABLE: '1' });
  t.equal(disabled.stdout.toString(), 'hello\n', 'PYNWHEEL_DISABLE');
  const pid = Number(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.pid'), 'utf8'));
  t.ok(isAlive(pid));
  const { py, pnw } = await both(sb, ['hello.py']);
  t.same(view(pnw), view(py));
});
