// The native client (bin/pynwheel -> build/Release/pynwheel-runner), beyond test/runner.test.ts:
// how the shim finds it through symlinks, closed stdio as python has it, SIGINT, and requests
// byte-for-byte what the Node CLI sends (odd bytes in argv and the environment included), checked
// against a fake daemon that records them.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { HEADER_SIZE } from '../lib/shared/protocol-constants';
import { encodeFrame } from '../lib/shared/wire';
import { CLI, collect, makeSandbox, python, sleep, stopDaemon, view, write, ROOT, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');

let sb: Sandbox;
const scratch: string[] = [];
t.before(() => { sb = makeSandbox('native-client'); });
t.teardown(async () => {
  await sb.cleanup();
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

/** `sh -c 'exec COMMAND ARGS REDIRECTION'`: a caller with some of its stdio closed. */
function shell(command: string[], redirection: string, env: NodeJS.ProcessEnv = sb.env) {
  const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return spawnSync('sh', ['-c', `exec ${quoted} ${redirection}`], { cwd: sb.dir, env });
}

const withoutNode = (dirs: string[]) => dirs.filter((d) => !fs.existsSync(path.join(d, 'node'))).join(':');

t.test('no daemon yet and no node on PATH: the first run starts it through the Node CLI', async (t) => {
  write(sb, 'hello.py', 'import sys\nprint("hello", sys.argv[1:])\n');
  const env = { ...sb.env, PATH: withoutNode(sb.env.PATH!.split(':')) };
  const first = await collect(SHIM, ['run', 'hello.py', 'ä'], { cwd: sb.dir, env });
  t.same(view(first), view(await python(sb, ['hello.py', 'ä'])), 'the Node CLI the runner was built with took over');
  t.ok(fs.existsSync(path.join(sb.runtimeDir, 'daemon.pid')), 'and started the daemon');
  const warm = await collect(SHIM, ['run', 'hello.py', 'ä'], { cwd: sb.dir, env });
  t.same(view(warm), view(first), 'the warm run');
});

t.test('the shim finds the runner through npm\'s symlinks and from a shebang', async (t) => {
  // A closed stdin is the runner's tell: it gives python sys.stdin None, the Node CLI cannot.
  write(sb, 'tell.py', '#!/usr/bin/env pynwheel\nimport sys\nprint(sys.stdin, sys.argv[1:])\n', 0o755);
  const expected = shell(['python3', 'tell.py', 'x y'], '<&-').stdout.toString();
  t.equal(expected, 'None [\'x y\']\n');
  const layout = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-layout-'));
  scratch.push(layout);
  const link = (target: string, at: string) => {
    fs.mkdirSync(path.dirname(path.join(layout, at)), { recursive: true });
    fs.symlinkSync(target, path.join(layout, at));
    return path.join(layout, at);
  };
  link(ROOT, 'project/node_modules/pynwheel');
  const local = link('../pynwheel/bin/pynwheel', 'project/node_modules/.bin/pynwheel');
  link(ROOT, 'prefix/lib/node_modules/pynwheel');
  const global = link('../lib/node_modules/pynwheel/bin/pynwheel', 'prefix/bin/pynwheel');
  const elsewhere = link(SHIM, 'elsewhere/pw');
  for (const [name, bin] of [['node_modules/.bin', local], ['a global prefix', global], ['an unusual link', elsewhere]]) {
    t.equal(shell([bin, 'tell.py', 'x y'], '<&-').stdout.toString(), expected, `${name}: the runner ran`);
  }
  const env = { ...sb.env, PATH: `${path.dirname(local)}:${sb.env.PATH}` };
  t.equal(shell(['./tell.py', 'x y'], '<&-', env).stdout.toString(), expected, '#!/usr/bin/env pynwheel: the runner ran');
  // A package whose runner was never built (install scripts skipped): the Node CLI runs.
  const unbuilt = path.join(layout, 'unbuilt');
  fs.mkdirSync(path.join(unbuilt, 'bin'), { recursive: true });
  for (const name of ['pynwheel', 'pynwheel.js']) fs.copyFileSync(path.join(ROOT, 'bin', name), path.join(unbuilt, 'bin', name));
  fs.chmodSync(path.join(unbuilt, 'bin', 'pynwheel'), 0o755);
  fs.symlinkSync(path.join(ROOT, 'dist'), path.join(unbuilt, 'dist'));
  const viaNode = shell([path.join(unbuilt, 'bin', 'pynwheel'), 'tell.py', 'x y'], '<&-');
  t.match(viaNode.stdout.toString(), /^<_io.TextIOWrapper name='<stdin>'.*\['x y'\]\n$/, 'no runner: the Node CLI ran (it reopens a closed stdin)');
});

t.test('closed stdio fds are closed in the run too, as with python', async (t) => {
  write(sb, 'closed.py', [
    'import os, sys',
    'streams = [sys.stdin is None, sys.stdout is None, sys.stderr is None]',
    'for fd in (3, 4):',  // the runner's own fds (socket, cwd) must not reach the run
    '    try: os.fstat(fd); streams.append(fd)',
    '    except OSError: pass',
    'os.write(2 if sys.stdout is None else 1, (repr(streams) + "\\n").encode())',
    'print("to stdout")',
  ].join('\n') + '\n');
  for (const redirection of ['<&-', '>&-', '2>&-', '<&- >&-', '0<&- 2>&-']) {
    const py = shell(['python3', 'closed.py'], redirection);
    const pnw = shell([SHIM, 'run', 'closed.py'], redirection);
    t.same({ out: pnw.stdout.toString(), err: pnw.stderr.toString(), status: pnw.status },
      { out: py.stdout.toString(), err: py.stderr.toString(), status: py.status }, redirection);
  }
});

t.test('SIGINT to the client: KeyboardInterrupt in the run, and the client dies of SIGINT', async (t) => {
  write(sb, 'wait.py', 'import time\nprint("ready", flush=True)\ntime.sleep(60)\n');
  const interrupted = async (command: string, args: string[]) => {
    const child = spawn(command, args, { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const closed = new Promise<string | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    for (let i = 0; i < 500 && !out.includes('ready'); i++) await sleep(20);
    child.kill('SIGINT');
    return { signal: await closed, out, err: err.replace(/File ".*wait.py"/, 'File "wait.py"') };
  };
  const py = await interrupted('python3', ['wait.py']);
  const pnw = await interrupted(SHIM, ['run', 'wait.py']);
  t.match(py.err, /KeyboardInterrupt/);
  t.same(pnw, py);
});

// ---------------------------------------------------------------- against a fake daemon

interface FakeDaemon {
  dir: string;
  requests: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** A listener on DIR/daemon.sock that records each request and answers with `replies`. */
async function fakeDaemon(replies: (request: Record<string, unknown>) => Buffer[]): Promise<FakeDaemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-fake-'));
  fs.chmodSync(dir, 0o700);
  scratch.push(dir);
  const requests: Array<Record<string, unknown>> = [];
  const server = net.createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (data.length < HEADER_SIZE || data.length < HEADER_SIZE + data.readUInt32BE(4)) return;
      const request = JSON.parse(data.subarray(HEADER_SIZE, HEADER_SIZE + data.readUInt32BE(4)).toString('utf8'));
      data = data.subarray(HEADER_SIZE + data.readUInt32BE(4));
      if (request.type !== 'run') return;
      requests.push(request);
      for (const reply of replies(request)) socket.write(reply);
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'daemon.sock'), resolve));
  return { dir, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const frame = (message: object, version = 1) => {
  const bytes = encodeFrame(message, 0);
  bytes.writeUInt8(version, 2);
  return bytes;
};

/** A C-like launcher: exec with raw byte argv and environment (duplicates and invalid UTF-8). */
const LAUNCHER = [
  'import base64, ctypes, json, os, sys',
  'spec = json.loads(sys.argv[1])',
  'os.close(0)',  // the runner's tell (see above)
  'array = lambda items: (ctypes.c_char_p * (len(items) + 1))(*[base64.b64decode(i) for i in items], None)',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'libc.execve(base64.b64decode(spec["argv"][0]), array(spec["argv"]), array(spec["env"]))',
  'sys.exit("execve: errno %d" % ctypes.get_errno())',
].join('\n') + '\n';

function launch(argv: Buffer[], env: Buffer[], options: { cwd?: string } = {}) {
  const launcher = write(sb, 'launcher.py', LAUNCHER);
  const b64 = (items: Buffer[]) => items.map((b) => b.toString('base64'));
  return collect('python3', [launcher, JSON.stringify({ argv: b64(argv), env: b64(env) })], { cwd: options.cwd ?? sb.dir, env: sb.env });
}

// The runner itself, not the shim: /bin/sh, which runs the shim, rewrites the environment it
// passes on (drops names that are not shell identifiers, keeps the last of duplicates, adds PWD);
// see the last case and bin/pynwheel.
t.test('the runner sends what the Node CLI sends, whatever the bytes', async (t) => {
  const fake = await fakeDaemon(() => [frame({ type: 'started', pid: 1 }), frame({ type: 'exit', code: 3 })]);
  const b = (text: string) => Buffer.from(text, 'latin1');
  const cases: Record<string, { args: Buffer[]; env: Buffer[]; cwd?: string; shim?: boolean }> = {
    'plain': { args: [b('run'), b('x.py'), Buffer.from('ä €', 'utf8'), b('-v'), b('--'), b('')], env: [] },
    'odd bytes in args': { args: [b('run'), b('--python=python3'), b('x.py'), b('\xff'), b('\xe2\x82A'), b('\xf0\x9f\x98'), b('\xed\xa0\x80'), b('\xc0\x80|\xf4\x90\x80\x80|\xe0\x80\x80|\xf0\x80\x80A')], env: [] },
    'odd bytes in the environment': {
      args: [b('x.py')],
      env: [b('A=1'), b('A=2'), b('\xff=name not UTF-8'), b('B\xe2\x82=also not'), b('=empty name'), b('NOEQUALS'), b('V=\xe2\x82A\x01"\\\x7f\n\t'), Buffer.from('É=é', 'utf8'), b('EMPTY=')],
    },
    '-m and spelled paths': {
      args: [b('run'), b('--python'), b('./venv//bin/../bin/python3'), b('-mjson.tool'), b('--x')],
      env: [b(`PATH=${sb.venv}/bin//:${sb.venv}/bin/:/usr/bin`), b(`VIRTUAL_ENV=${sb.venv}/`)],
    },
    'the spec\'s form, a venv': { args: [b('--file'), b('x.py'), b('--args'), b('a')], env: [b(`VIRTUAL_ENV=${sb.venv}/./`)] },
    'a relative runtime directory': { args: [b('run'), b('x.py')], env: [b(`PYNWHEEL_RUNTIME_DIR=./${path.basename(fake.dir)}/`)], cwd: path.dirname(fake.dir) },
    'through the shim (an environment sh passes on unchanged)': { args: [b('run'), b('x.py'), b('\xff')], env: [b(`PWD=${sb.dir}`), b('V=\xe2\x82A')], shim: true },
  };
  fs.symlinkSync(sb.venv, path.join(sb.dir, 'venv'));
  for (const [name, c] of Object.entries(cases)) {
    // The case's variables first: of duplicate names the first counts, for Node and the runner.
    const env = [...c.env, b(`PATH=${sb.env.PATH}`), b(`PYNWHEEL_RUNTIME_DIR=${fake.dir}`)];
    const before = fake.requests.length;
    const viaRunner = await launch([b(c.shim ? SHIM : RUNNER), ...c.args], env, c);
    const viaNode = await launch([b(process.execPath), b(CLI), ...c.args], env, c);
    t.equal(viaRunner.status, 3, `${name}: the runner exits as the run did`);
    t.same(view(viaRunner), view(viaNode), `${name}: the same outcome`);
    t.equal(fake.requests.length, before + 2, `${name}: both reached the fake daemon`);
    const [runner, node] = fake.requests.slice(-2);
    // The one difference on purpose: the Node CLI cannot see that stdin was closed.
    t.same(runner.stdio, [false, true, true], `${name}: the runner (not Node) sent the first request`);
    // Both send their umask and resource limits (the run need not read /proc/<pid> for them).
    // And the runner asks for its run's status by a signal (the Node CLI cannot take one), and
    // says which signals its caller ignores and blocks (Node resets both at start).
    const { notify, signals, ...asked } = runner;
    t.same({ ...asked, stdio: null }, { ...node, stdio: null }, `${name}: the same request`);
    t.ok(Array.isArray(notify) && notify[0] === os.constants.signals.SIGURG && Number.isSafeInteger(notify[1]) && notify[1] > 0 && notify[1] < 2 ** 48,
      `${name}: the runner asks for its status by SIGURG with a token`);
    // The launcher is python, which ignores SIGPIPE and SIGXFSZ; exec keeps that.
    t.same(signals, { ignored: [os.constants.signals.SIGPIPE, os.constants.signals.SIGXFSZ], blocked: [] }, `${name}: the runner sent its caller's signals`);
    t.equal(runner.umask, parseInt(/^Umask:\s*(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1], 8), `${name}: the runner sent our umask`);
    t.same(limitsOf(runner.limits), limitsOf(readOwnLimits()), `${name}: and our resource limits`);
  }
  t.equal(fake.requests[0].client, JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version, 'the runner\'s version is package.json\'s');
  await fake.close();
});

t.test('error and signal replies end the runner as they end the Node CLI', async (t) => {
  let reply: Buffer[] = [];
  const fake = await fakeDaemon(() => reply);
  const env = { ...sb.env, PYNWHEEL_RUNTIME_DIR: fake.dir };
  const both = async () => {
    const runner = await collect(SHIM, ['run', 'x.py'], { cwd: sb.dir, env });
    const node = await collect(process.execPath, [CLI, 'run', 'x.py'], { cwd: sb.dir, env });
    return { runner: view(runner), node: view(node) };
  };
  reply = [frame({ type: 'error', code: 'EZYGOTE', message: 'cannot "start" \u00e9\u20ac \\ \u0001 \ud83d\ude00 ok' })];
  let r = await both();
  t.same(r.runner, r.node, 'an error: its message, exit status 125');
  t.equal(r.runner.status, 125);
  reply = [frame({ type: 'started', pid: 1 }), frame({ type: 'exit', signal: os.constants.signals.SIGTERM, core: false })];
  r = await both();
  t.same(r.runner, r.node, 'death by a signal');
  t.equal(r.runner.signal, 'SIGTERM');
  reply = [frame({ type: 'started', pid: 1 })];
  r = await both();
  t.equal(r.runner.stderr, 'pynwheel: lost the pynwheel daemon during the run\n', 'the daemon gone mid-run');
  t.equal(r.runner.status, 125);
  t.equal(r.node.status, 125);
  await fake.close();
});

t.test('a daemon of another protocol version: the Node CLI replaces it and the run happens', async (t) => {
  const fake = await fakeDaemon(() => [frame({ type: 'error', code: 'EVERSION', message: 'old' }, 2)]);
  const env = { ...sb.env, PYNWHEEL_RUNTIME_DIR: fake.dir };
  write(sb, 'hello.py', 'import sys\nprint("hello", sys.argv[1:])\n');
  const r = await collect(SHIM, ['run', 'hello.py', 'v'], { cwd: sb.dir, env });
  t.same(view(r), view(await python(sb, ['hello.py', 'v'])));
  t.ok(fake.requests.length >= 1, 'the old daemon was asked first');
  await fake.close();
  await stopDaemon(env);
});

t.test('an unsafe runtime directory: the Node CLI\'s refusal, word for word', async (t) => {
  const real = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-unsafe-'));
  scratch.push(real);
  fs.chmodSync(real, 0o700);
  const linked = path.join(real, 'link');
  fs.symlinkSync(real, linked);
  const open = path.join(real, 'open');
  fs.mkdirSync(open, { mode: 0o755 });
  fs.chmodSync(open, 0o755);
  for (const [dir, words] of [[linked, /is a symbolic link/], [open, /is open to other users/]] as const) {
    const env = { ...sb.env, PYNWHEEL_RUNTIME_DIR: dir };
    const runner = await collect(SHIM, ['run', 'hello.py'], { cwd: sb.dir, env });
    const node = await collect(process.execPath, [CLI, 'run', 'hello.py'], { cwd: sb.dir, env });
    t.match(node.stderr.toString(), words);
    t.same(view(runner), view(node), dir);
  }
});

type Limit = [number, number, number];
/** NOFILE (7) and STACK (3): limits every process has and a test can compare. */
function limitsOf(limits: Limit[]): Limit[] {
  return limits.filter(([resource]) => resource === 7 || resource === 3).sort((a, b) => a[0] - b[0]);
}

/** This process's limits as /proc shows them (the runner it spawns inherits them). */
function readOwnLimits(): Limit[] {
  const rows: Record<string, number> = { 'Max stack size': 3, 'Max open files': 7 };
  const limits: Limit[] = [];
  for (const line of fs.readFileSync('/proc/self/limits', 'utf8').split('\n')) {
    for (const [label, resource] of Object.entries(rows)) {
      if (!line.startsWith(label)) continue;
      const [soft, hard] = line.slice(label.length).trim().split(/\s+/).map((v) => (v === 'unlimited' ? -1 : Number(v)));
      limits.push([resource, soft, hard]);
    }
  }
  return limits;
}
