// PYNWHEEL_DEBUG=1 in the native runner (bin/pynwheel -> build/Release/pynwheel-runner): real
// runs against a sandboxed daemon say on stderr which path each took and why (a lane taken,
// declined, missing, gone or closed; a module run; each hand-over to the Node CLI), and without
// the variable a run's stderr is byte for byte python's.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { routeName } from '../lib/shared/route-name';
import { encodeFrame } from '../lib/shared/wire';
import { collect, makeSandbox, python, stopDaemon, write, ROOT, type Outcome, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');
const PREFIX = 'pynwheel debug: ';
const RUNNER_PREFIX = `${PREFIX}runner: `;

let sb: Sandbox;
const scratch: string[] = [];
t.before(() => { sb = makeSandbox('debug-runner', { cold: true }); });
t.teardown(async () => {
  await sb.cleanup();
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

const SCRIPT = 'import sys\nprint("out", sys.argv[1:])\nprint("to stderr", file=sys.stderr)\nsys.exit(3)\n';

function run(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Outcome> {
  return collect(SHIM, args, { cwd: sb.dir, env: { ...sb.env, ...env }, input });
}
const debugRun = (args: string[], env: NodeJS.ProcessEnv = {}, input?: string) => run(args, { ...env, PYNWHEEL_DEBUG: '1' }, input);

/** The runner's debug lines, without their prefix. */
function runnerLines(o: Outcome): string[] {
  return o.stderr.toString().split('\n').filter((line) => line.startsWith(RUNNER_PREFIX)).map((line) => line.slice(RUNNER_PREFIX.length));
}
/** stderr without any process's debug lines: what the run itself wrote. */
function withoutDebug(o: Outcome): string {
  return o.stderr.toString().split(/(?<=\n)/).filter((line) => !line.startsWith(PREFIX)).join('');
}

const python3 = () => path.join(sb.venv, 'bin', 'python3');
const routeOf = (file: string) => routeName(python3(), fs.realpathSync(sb.dir), file);
const routeLink = (file: string) => path.join(sb.runtimeDir, 'r', routeOf(file));

t.test('a first run: no route, no daemon: a cold run, python\'s own, and the daemon started to warm the next', async (t) => {
  write(sb, 'a.py', SCRIPT);
  const py = await python(sb, ['a.py', 'x']);
  const first = await debugRun(['run', 'a.py', 'x']);
  const lines = runnerLines(first);
  // (no route of its own, nor a warm lane of its imports' family: the base's, for a script of the standard library)
  t.match(lines[0], new RegExp(`^no route \\(no-route: r/${routeOf('a.py')}: No such file or directory\\), nor one of its family \\[\\] \\(r/f-[0-9a-f]{16}: No such file or directory\\); asking the daemon$`), 'no route, nor a lane of its family');
  t.same(lines.slice(1), [
    'started the daemon, which warms the zygote for the next run',
    'running python directly (cold run: no daemon listening (connect: No such file or directory))',
  ], 'the runner says why python runs it');
  t.equal(first.stdout.toString(), py.stdout.toString(), 'the run\'s stdout is python\'s');
  t.equal(withoutDebug(first), py.stderr.toString(), 'and so is its stderr, less the debug lines');
  t.equal(first.status, 3);
});

t.test('warm runs: the lane taken; without PYNWHEEL_DEBUG stderr is byte for byte python\'s', async (t) => {
  const py = await python(sb, ['a.py', 'x']);
  let warm: Outcome | undefined;
  // The route is published as the first run starts; its zygote's spares may still be readying.
  for (let attempt = 0; attempt < 10; attempt++) {
    warm = await debugRun(['run', 'a.py', 'x']);
    if (runnerLines(warm).some((line) => line.startsWith('lane taken'))) break;
  }
  t.same(runnerLines(warm!), [`lane taken (route r/${routeOf('a.py')})`], 'one line: the lane, by its route');
  t.equal(warm!.stdout.toString(), py.stdout.toString());
  t.equal(withoutDebug(warm!), py.stderr.toString());
  t.equal(warm!.status, 3);
  for (const env of [{}, { PYNWHEEL_DEBUG: '0' }, { PYNWHEEL_DEBUG: '' }]) {
    const quiet = await run(['run', 'a.py', 'x'], env);
    t.equal(quiet.stderr.toString(), py.stderr.toString(), `${JSON.stringify(env)}: stderr is python's, byte for byte`);
    t.equal(quiet.stdout.toString(), py.stdout.toString());
    t.equal(quiet.status, 3);
  }
});

t.test('a changed script: its lane\'s spare reads it; one that needs more than its zygote has: the lane declines, with its reason, and the daemon runs it', async (t) => {
  write(sb, 'a.py', `${SCRIPT}# changed\n`);
  const same = await python(sb, ['a.py']);
  const taken = await debugRun(['run', 'a.py']);
  t.same(runnerLines(taken), [`lane taken (route r/${routeOf('a.py')})`], 'the same imports: the spare read it and took it');
  t.equal(taken.stdout.toString(), same.stdout.toString());
  t.equal(withoutDebug(taken), same.stderr.toString());
  // An import the base zygote has not made (wave: standard library, imported by no other script here).
  write(sb, 'a.py', `import wave\n${SCRIPT}`);
  const py = await python(sb, ['a.py']);
  const declined = await debugRun(['run', 'a.py']);
  const lines = runnerLines(declined);
  t.equal(lines.length, 2, 'two lines');
  t.match(lines[0], /^lane declined: \S.*; asking the daemon$/, `the decline and its reason: ${lines[0]}`);
  t.match(lines[1], /^the daemon started the run \(pid \d+\)$/, 'then the daemon\'s run');
  t.equal(declined.stdout.toString(), py.stdout.toString());
  t.equal(withoutDebug(declined), py.stderr.toString());
  const quiet = await run(['run', 'a.py']);
  t.equal(quiet.stderr.toString(), py.stderr.toString(), 'without the variable: python\'s stderr');
});

t.test('a module run asks the daemon', async (t) => {
  write(sb, 'mod_debug.py', SCRIPT);
  const py = await python(sb, ['-m', 'mod_debug', 'y']);
  const r = await debugRun(['run', '-m', 'mod_debug', 'y']);
  const lines = runnerLines(r);
  t.equal(lines[0], 'module run (module-run); asking the daemon');
  t.match(lines[1], /^the daemon started the run \(pid \d+\)$/);
  t.equal(lines.length, 2);
  t.equal(withoutDebug(r), py.stderr.toString());
  t.equal((await run(['run', '-m', 'mod_debug', 'y'])).stderr.toString(), py.stderr.toString(), 'without the variable: python\'s stderr');
});

t.test('a route whose zygote is gone, and a lane that closes before the run starts', async (t) => {
  // Warm the route of b.py, then point it elsewhere (and back: the daemon keeps the route it made).
  write(sb, 'b.py', SCRIPT);
  for (let attempt = 0; attempt < 10 && !fs.existsSync(routeLink('b.py')); attempt++) await run(['run', 'b.py']);
  const link = routeLink('b.py');
  const lane = fs.readlinkSync(link);
  const scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-debug-'));
  scratch.push(scratchDir);
  const point = (target: string) => {
    fs.rmSync(link, { force: true });
    fs.symlinkSync(target, link);
  };
  t.teardown(() => point(lane));
  const py = await python(sb, ['b.py']);

  // A socket with nobody listening on it: ECONNREFUSED.
  const dead = path.join(scratchDir, 'dead.sock');
  spawnSync(python3(), ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', dead]);
  point(dead);
  let r = await debugRun(['run', 'b.py']);
  let lines = runnerLines(r);
  // (then its family's lane: the base zygote's, which is warm)
  t.match(lines[0], new RegExp(`^route gone \\(route-gone: r/${routeOf('b.py')}: Connection refused\\); its family's lane \\[\\]: r/f-[0-9a-f]{16}$`));
  t.match(lines[1], /^lane taken \(route r\/f-[0-9a-f]{16}\)$/);
  t.equal(withoutDebug(r), py.stderr.toString());

  // A listener that hangs up at once.
  const closing = path.join(scratchDir, 'closing.sock');
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(closing, resolve));
  point(closing);
  r = await debugRun(['run', 'b.py']);
  lines = runnerLines(r);
  t.match(lines[0], /^lane closed \(lane-closed: (end of file|recvmsg: .+|sendmsg: .+)\) before the run started; asking the daemon$/, lines[0]);
  t.match(lines[1], /^the daemon started the run \(pid \d+\)$/);
  t.equal(withoutDebug(r), py.stderr.toString());
  r = await run(['run', 'b.py']);
  t.equal(r.stderr.toString(), py.stderr.toString(), 'without the variable: python\'s stderr');
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

t.test('every hand-over to the Node CLI says why', async (t) => {
  const open = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-debug-open-'));
  scratch.push(open);
  fs.chmodSync(open, 0o755);
  const cases: Array<[string, string[], NodeJS.ProcessEnv, string]> = [
    ['no arguments', [], {}, 'no arguments'],
    ['another command', ['status'], {}, 'another command than run'],
    ['a usage error', ['run', '--python'], {}, 'usage needs Node (it explains what is wrong with the command line)'],
    ['PYNWHEEL_DISABLE', ['run', 'a.py'], { PYNWHEEL_DISABLE: '1' }, 'PYNWHEEL_DISABLE=1 (python runs the script itself)'],
    ['PYTHONINSPECT', ['run', 'a.py'], { PYTHONINSPECT: '1' }, 'PYTHONINSPECT is set (python runs the script itself)'],
    ['an unsafe runtime directory', ['run', 'a.py'], { PYNWHEEL_RUNTIME_DIR: open }, 'the runtime directory is missing or not safely ours'],
    ['no such interpreter', ['run', '--python', '/nonexistent/python3', 'a.py'], {}, 'the interpreter was not found'],
  ];
  for (const [name, args, env, why] of cases) {
    const r = await debugRun(args, env, '');
    t.same(runnerLines(r), [`handing over to the Node CLI: ${why}`], name);
    const quiet = await run(args, env, '');
    t.notMatch(quiet.stderr.toString(), PREFIX, `${name}: nothing without the variable`);
  }
});

t.test('a daemon that answers ESTALE or EVERSION: the Node CLI takes over', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-debug-fake-'));
  scratch.push(dir);
  fs.chmodSync(dir, 0o700);
  let reply: Buffer = Buffer.alloc(0);
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end(reply));
  });
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'daemon.sock'), resolve));
  const env = { PYNWHEEL_RUNTIME_DIR: dir };
  const py = await python(sb, ['a.py']);

  // ESTALE: the Node CLI asks again, gets ESTALE again, and runs python itself.
  reply = encodeFrame({ type: 'error', code: 'ESTALE', message: 'modules are changing' }, 0);
  let r = await debugRun(['run', 'a.py'], env);
  t.same(runnerLines(r).slice(-1), ['handing over to the Node CLI: the daemon answered ESTALE (modules are changing)']);
  t.equal(r.stdout.toString(), py.stdout.toString(), 'python ran it');
  t.equal(withoutDebug(r), py.stderr.toString());

  // Another protocol version: the Node CLI replaces the daemon, and the run happens.
  reply = encodeFrame({ type: 'error', code: 'EVERSION', message: 'old' }, 0);
  reply.writeUInt8(2, 2);
  r = await debugRun(['run', 'a.py'], env);
  t.same(runnerLines(r).find((line) => line.startsWith('handing over')),
    'handing over to the Node CLI: the daemon\'s reply could not be read (other-version): another version?');
  t.equal(r.stdout.toString(), py.stdout.toString(), 'the run happened');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await stopDaemon({ ...sb.env, ...env });
});
