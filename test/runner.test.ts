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

t.test('everything else goes to the Node CLI, with the same words', async (t) => {
  const open = fs.mkdtempSync(path.join(sb.dir, 'open-'));
  fs.chmodSync(open, 0o777);
  const viaNode = await collect(process.execPath, [path.join(ROOT, 'bin', 'pynwheel.js'), 'run', 'hello.py'], { cwd: sb.dir, env: { ...sb.env, PYNWHEEL_RUNTIME_DIR: open } });
  const viaRunner = await viaShim(['run', 'hello.py'], { PYNWHEEL_RUNTIME_DIR: open });
  t.same(view(viaRunner), view(viaNode), 'an unsafe runtime directory: the Node CLI\'s refusal');
  t.match((await viaShim(['status'])).stdout.toString(), /daemon: pid \d+/, 'status');
  t.equal((await viaShim(['run'])).status, 2, 'a usage error');
  const disabled = await viaShim(['run', 'hello.py'], { PYNWHEEL_DISABLE: '1' });
  t.equal(disabled.stdout.toString(), 'hello\n', 'PYNWHEEL_DISABLE');
  const pid = Number(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.pid'), 'utf8'));
  t.ok(isAlive(pid));
  const { py, pnw } = await both(sb, ['hello.py']);
  t.same(view(pnw), view(py));
});
