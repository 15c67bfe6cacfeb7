// The run's command line and name are python's: /proc/self/cmdline and comm byte for byte, and
// pgrep -f / pkill -f find and end the run as they do python's process. Through the Node CLI
// and the native runner (bin/pynwheel).
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collect, makeSandbox, sleep, view, write, CLI, ROOT, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');

let sb: Sandbox;
t.before(() => { sb = makeSandbox('title'); });
t.teardown(() => sb.cleanup());

const clients: Array<[string, string[]]> = [['the Node CLI', [process.execPath, CLI, 'run']], ['the runner', [SHIM, 'run']]];

t.test('cmdline, comm and environ read from /proc/self by the script', async (t) => {
  write(sb, 'cmdline.py', [
    'import sys',
    'out = sys.stdout.buffer',
    'out.write(repr(open("/proc/self/cmdline", "rb").read()).encode() + b"\\n")',
    'out.write(repr(open("/proc/self/comm", "rb").read()).encode() + b"\\n")',
    // The environment python started with: os.environ's at the start.
    'import os',
    'environ = open("/proc/self/environ", "rb").read().split(b"\\0")',
    'print(environ[:-1] == [k + b"=" + v for k, v in os.environb.items()], environ[-1])',
    '',
  ].join('\n'));
  const args = ['cmdline.py', 'a b', '', 'ünï', '--x'];
  const py = await collect('python3', args, { cwd: sb.dir, env: sb.env });
  t.equal(py.status, 0);
  t.match(py.stdout.toString(), /^b'python3\\x00cmdline\.py\\x00a b\\x00\\x00/, 'python\'s, as a reference');
  // Its zygote warm first: these are the zygote's runs (a cold run is python's own, whose
  // /proc/self/environ has the PYTHONPATH that makes `import pynwheel` work there).
  t.equal((await collect(process.execPath, [CLI, 'warm', 'cmdline.py'], { cwd: sb.dir, env: sb.env })).status, 0, 'warmed');
  for (const [name, command] of clients) {
    for (const round of [1, 2]) {
      t.same(view(await collect(command[0], [...command.slice(1), ...args], { cwd: sb.dir, env: sb.env })), view(py), `${name}, run ${round}`);
    }
  }
  // -m: python shows `python3 -m MODULE ARGS`.
  write(sb, 'showcmd.py', 'import sys\nprint(open("/proc/self/cmdline", "rb").read())\n');
  const pym = await collect('python3', ['-m', 'showcmd', 'x'], { cwd: sb.dir, env: sb.env });
  for (const [name, command] of clients) {
    t.same(view(await collect(command[0], [...command.slice(1), '-m', 'showcmd', 'x'], { cwd: sb.dir, env: sb.env })), view(pym), `${name}: -m`);
  }
});

/** Starts `command` running a script that writes its pid and sleeps; pgrep -f finds it, pkill -f ends it. */
async function pgrepAndPkill(command: string[], job: string): Promise<{ found: boolean; status: number | null; signal: string | null; stderr: string }> {
  const pidFile = path.join(sb.dir, `${job}.pid`);
  fs.rmSync(pidFile, { force: true });
  const child = spawn(command[0], [...command.slice(1), job, 'arg'], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const ended = new Promise<[number | null, string | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
  const written = () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').length > 0;
  for (let i = 0; i < 400 && !written(); i++) await sleep(25);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const listed = spawnSync('pgrep', ['-f', `${job} arg`], { encoding: 'utf8' }).stdout.split('\n').map(Number);
  spawnSync('pkill', ['-f', `${job} arg`]);
  const [status, signal] = await ended;
  return { found: listed.includes(pid), status, signal, stderr };
}

t.test('pgrep -f finds the run, pkill -f ends it as it ends python', async (t) => {
  const job = `job${process.pid}.py`;
  write(sb, job, 'import os, time\nwith open(__file__ + ".pid", "w") as f:\n    f.write(str(os.getpid()))\ntime.sleep(60)\n');
  const py = await pgrepAndPkill(['python3'], job);
  t.same(py, { found: true, status: null, signal: 'SIGTERM', stderr: '' }, 'python: found, and dies of SIGTERM');
  for (const [name, command] of clients) {
    for (const round of [1, 2]) t.same(await pgrepAndPkill(command, job), py, `${name}, run ${round}`);
  }
});
