// The daemon's life and its faults: auto-start, exactly one daemon, stale sockets, peers that
// send garbage, zygotes and clients that die, signals passed on, status and stop.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLI, daemonStatus, collect, isAlive, makeSandbox, pynwheel, python, sleep, view, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('daemon', { cold: true }); });
t.teardown(() => sb.cleanup());

const socketPath = () => path.join(sb.runtimeDir, 'daemon.sock');
const daemonPid = () => Number(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.pid'), 'utf8'));

/** A cold run starts the daemon and does not wait for it: its pid once it is up and is not `old`. */
async function newDaemonPid(old: number): Promise<number> {
  for (let i = 0; i < 400; i++) {
    const pid = fs.existsSync(path.join(sb.runtimeDir, 'daemon.pid')) ? daemonPid() : 0;
    if (pid && pid !== old && fs.existsSync(socketPath())) return pid;
    await sleep(25);
  }
  return old;
}

/** The zygote of `family` ('' base, 'numpy', ...) once it has as many warm-ups as `count`. */
async function warmedFor(family: string, count = 1): Promise<Record<string, any> | undefined> {
  for (let i = 0; i < 400; i++) {
    const z = ((await status()).zygotes as Array<Record<string, any>>).find((z) => z.key.family.join() === family);
    if ((z?.warmedFor?.length ?? 0) >= count) return z;
    await sleep(25);
  }
  return undefined;
}

/** Status as JSON through the CLI. */
function status(): Promise<Record<string, any>> {
  return daemonStatus(sb);
}

function rawFrame(message: unknown, fdCount = 0, version = 1): Buffer {
  const payload = Buffer.from(typeof message === 'string' ? message : JSON.stringify(message));
  const header = Buffer.alloc(8);
  header.write('PN', 0, 'latin1');
  header.writeUInt8(version, 2);
  header.writeUInt8(fdCount, 3);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Send raw bytes as a client and return what came back before the daemon closed. */
function sendRaw(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath());
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(Buffer.concat(chunks)) : reject(err)));
    sock.on('close', () => resolve(Buffer.concat(chunks)));
    sock.end(bytes);
  });
}

t.test('the first client starts the daemon; two racing clients get exactly one', async (t) => {
  write(sb, 'hello.py', 'print("hello")\n');
  // Four cold runs at once: python runs each (no daemon yet), and each starts a daemon that
  // warms the zygote for the next run: one wins the lock, the others hand it their warm-ups.
  const results = await Promise.all(Array.from({ length: 4 }, () => pynwheel(sb, ['run', 'hello.py'], { env: { PYNWHEEL_DEBUG: '1' } })));
  // (No daemon yet; or, racing, the daemon another one started, whose zygote is not ready. On a
  // loaded machine a client may start only after the zygote is warm: its run is a warm one.)
  const cold = results.filter((r) => /running python directly \((cold-start: no daemon listening|cold run: )/.test(r.stderr.toString())).length;
  for (const r of results) {
    t.equal(r.stdout.toString(), 'hello\n');
    t.match(r.stderr.toString(), /running python directly \((cold-start: no daemon listening|cold run: )|lane taken|asking the daemon/, 'a cold run (python ran it), or a warm one');
  }
  t.ok(cold >= 1, `the first ones were cold runs (${cold} of 4)`);
  const pid = await newDaemonPid(0);
  t.ok(isAlive(pid), 'the daemon is running');
  const z = await warmedFor('', cold);
  const s = await status();
  t.equal(s.pid, pid, 'every client reached the same daemon');
  t.equal(s.runs, 4 - cold, 'no zygote ran the cold ones');
  t.equal(s.zygotes.length, 1, 'one zygote for one interpreter');
  t.equal(z?.warmedFor.length, cold, 'which the cold runs warmed (each daemon that lost the race handed its warm-up over)');
  t.ok(z?.warmedFor.every((w: { why: string; target: string }) => w.why === 'cold run' && w.target === 'hello.py'), 'for hello.py');
  const next = await pynwheel(sb, ['run', 'hello.py'], { env: { PYNWHEEL_DEBUG: '1' } });
  t.equal(next.stdout.toString(), 'hello\n');
  t.match(next.stderr.toString(), /lane taken/, 'the next run is warm: it came by the lane');
  t.equal((await status()).runs, 4 - cold + 1);
  t.equal(s.zygotes[0].python, path.join(sb.venv, 'bin', 'python3'), "the sandbox's venv python");
  const mode = fs.statSync(sb.runtimeDir).mode & 0o777;
  t.equal(mode, 0o700, 'runtime directory is private');
});

t.test('status shows preloaded modules and runs served', async (t) => {
  write(sb, 'imports.py', 'import json, decimal\nfrom collections import OrderedDict\nimport xml.dom.minidom\nprint("ok")\n');
  const r = await pynwheel(sb, ['run', 'imports.py']);
  t.equal(r.stdout.toString(), 'ok\n');
  const s = await status();
  const z = s.zygotes[0];
  for (const m of ['decimal', 'xml.dom.minidom']) t.ok(z.preloaded.includes(m), `${m} is preloaded`);
  write(sb, 'mine/localmod.py', 'X = 1\n');
  write(sb, 'mine/main.py', 'import localmod, fractions\nprint(localmod.X)\n');
  t.equal((await pynwheel(sb, ['run', 'mine/main.py'])).stdout.toString(), '1\n');
  const after = (await status()).zygotes[0];
  t.ok(after.preloaded.includes('fractions'), 'a stdlib module is preloaded');
  t.notOk(after.preloaded.includes('localmod'), 'the script\'s own module is never preloaded');
  t.match(after.notShared.localmod ?? '', /script's own directory/, 'and status says why');
  const text = (await pynwheel(sb, ['status'])).stdout.toString();
  t.match(text, /daemon: pid \d+/);
  t.match(text, /preloaded: .*decimal/);
});

t.test('a pre-forked child takes the next run; one that lacks new imports is not used', async (t) => {
  write(sb, 'spare-a.py', 'import sys\nprint("a", sys.argv[1])\n');
  write(sb, 'spare-b.py', 'import ipaddress\nprint("b", ipaddress.ip_address("::1").version)\n');
  const before = (await status()).zygotes[0].forks;
  for (let i = 0; i < 3; i++) t.equal((await pynwheel(sb, ['run', 'spare-a.py', String(i)])).stdout.toString(), `a ${i}\n`);
  const afterA = (await status()).zygotes[0].forks;
  t.ok(afterA.spare - before.spare >= 2, `repeated runs were handed to pre-forked children (${JSON.stringify(afterA)})`);
  t.equal((await pynwheel(sb, ['run', 'spare-b.py'])).stdout.toString(), 'b 6\n', 'a run that needs a new import gets it');
  const afterB = (await status()).zygotes[0].forks;
  t.equal(afterB.onDemand - afterA.onDemand, 1, 'the stale spare was not used: that run was forked after the import');
  t.ok((await status()).zygotes[0].preloaded.includes('ipaddress'));
});

t.test('a new script whose imports the zygote has is run by a spare forked before it; its next run comes by the lane', async (t) => {
  write(sb, 'known-a.py', 'import ipaddress\nprint("known", ipaddress.ip_address("::1").version)\n');
  t.equal((await pynwheel(sb, ['run', 'known-a.py'])).stdout.toString(), 'known 6\n');
  await pynwheel(sb, ['run', 'known-a.py']);
  await sleep(300); // the spares the zygote forks after a run
  const before = (await status()).zygotes[0];
  write(sb, 'known-b.py', 'import ipaddress\nprint("new script", ipaddress.ip_address("127.0.0.1").version)\n');
  const first = await pynwheel(sb, ['run', 'known-b.py']);
  const py = await python(sb, ['known-b.py']);
  t.same(view(first), view(py), 'as python');
  const after = (await status()).zygotes[0];
  t.equal(after.forks.onDemand - before.forks.onDemand, 0, `no fork for it (${JSON.stringify(before.forks)} -> ${JSON.stringify(after.forks)})`);
  t.equal(after.forks.spare - before.forks.spare, 1, 'a waiting spare took it');
  await sleep(300);
  const second = await pynwheel(sb, ['run', 'known-b.py']);
  t.same(view(second), view(py), 'its next run too');
  t.equal((await status()).zygotes[0].lane.served - after.lane.served, 1, 'by the lane (the spares that did not know it were replaced)');
});

t.test('third-party packages get zygotes of their own family; stdlib-only runs never pay for them', async (t) => {
  type Z = { pid: number; key: { family: string[] }; preloaded: string[]; runs: number };
  const byFamily = async (family: string) => ((await status()).zygotes as Z[]).find((z) => z.key.family.join() === family);
  write(sb, 'fam_plain.py', 'import json, sys\nprint("plain", "numpy" in sys.modules)\n');
  write(sb, 'fam_numpy.py', 'import fractions\nimport numpy as np\nprint("numpy", int(np.arange(4).sum()))\n');
  write(sb, 'numpy_shadow/numpy.py', 'print("my own numpy")\n');
  write(sb, 'numpy_shadow/use.py', 'import numpy\n');
  // The first is a cold run (no numpy zygote yet): python's, and numpy's zygote warms for the next.
  t.equal((await pynwheel(sb, ['run', 'fam_numpy.py'])).stdout.toString(), 'numpy 6\n');
  t.match((await warmedFor('numpy'))?.warmedFor, [{ why: 'cold run', target: 'fam_numpy.py' }], 'numpy\'s zygote warmed for the cold run');
  for (let i = 0; i < 2; i++) {
    t.equal((await pynwheel(sb, ['run', 'fam_numpy.py'])).stdout.toString(), 'numpy 6\n');
    t.equal((await pynwheel(sb, ['run', 'fam_plain.py'])).stdout.toString(), 'plain False\n', 'a stdlib-only run has no numpy');
  }
  const base = (await byFamily(''))!;
  const numpy = (await byFamily('numpy'))!;
  t.ok(base && numpy && base.pid !== numpy.pid, 'a base zygote and a numpy zygote');
  t.notOk(base.preloaded.includes('numpy'), 'the base zygote never imported numpy');
  t.ok(numpy.preloaded.includes('numpy') && numpy.preloaded.includes('fractions'), 'the numpy zygote has it, and the stdlib the script names');
  t.equal(numpy.runs, 2, 'both numpy runs were forked from it');
  // The daemon remembers the family of a script; when the script changes, the zygote routes it.
  const runsBefore = base.runs;
  write(sb, 'fam_numpy.py', 'import json\nprint("no numpy now")\n');
  t.equal((await pynwheel(sb, ['run', 'fam_numpy.py'])).stdout.toString(), 'no numpy now\n');
  t.equal((await byFamily(''))!.runs, runsBefore + 1, 'a script that stopped importing numpy runs from the base zygote');
  // A module of the script's own directory is not a third-party package.
  t.equal((await pynwheel(sb, ['run', 'numpy_shadow/use.py'])).stdout.toString(), 'my own numpy\n');
  t.equal((await byFamily('numpy'))!.runs, 2, 'the script with its own numpy.py did not go to the numpy zygote');
  t.match((await pynwheel(sb, ['status'])).stdout.toString(), /family: numpy/);
});

t.test('malformed frames get an error or a closed connection; the daemon keeps serving', async (t) => {
  const before = fs.readdirSync(`/proc/${daemonPid()}/fd`).length;
  const cases: Array<[string, Buffer]> = [
    ['random bytes', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['truncated header', Buffer.from('PN')],
    ['truncated payload', rawFrame({ type: 'run' }).subarray(0, 12)],
    ['huge length', (() => { const b = rawFrame({}); b.writeUInt32BE(0xffffffff, 4); return b; })()],
    ['invalid JSON', rawFrame('{"type": "run", ')],
    ['not an object', rawFrame('[1,2,3]')],
    ['unknown type', rawFrame({ type: 'launch-missiles' })],
    ['wrong types', rawFrame({ type: 'run', file: 42, args: 'x', cwd: 1, env: [], python: null })],
    ['announces fds it does not carry', rawFrame({ type: 'run' }, 3)],
    ['another protocol version', rawFrame({ type: 'status' }, 0, 99)],
  ];
  for (const [name, bytes] of cases) {
    const reply = await sendRaw(bytes);
    t.ok(reply.length === 0 || reply.subarray(8).toString().includes('"error"'), `${name}: error reply or closed`);
  }
  const reply = await sendRaw(rawFrame({ type: 'run', client: 'x', file: 'a.py', args: [], cwd: '/', env: {}, python: '/bin/true', argv0: 'p', stdio: [true, true, true], cwdFd: false }));
  t.match(reply.subarray(8).toString(), /EBADREQUEST|announces 3 fds/, 'a run without its fds is refused');
  write(sb, 'after.py', 'print("still serving")\n');
  const r = await pynwheel(sb, ['run', 'after.py']);
  t.equal(r.stdout.toString(), 'still serving\n', 'a normal run works right after');
  await sleep(100);
  const after = fs.readdirSync(`/proc/${daemonPid()}/fd`).length;
  t.equal(after, before, 'no fd leaked in the daemon');
});

t.test('signals sent to the client reach the run', async (t) => {
  const forwarded = ['SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
  write(sb, 'handler.py', [
    'import signal, sys, time',
    'def on(signo, frame):',
    '    print("got", signal.Signals(signo).name, flush=True)',
    '    if signo == signal.SIGTERM:',
    '        sys.exit(42)',
    `for s in (${forwarded.map((s) => `signal.${s}`).join(', ')}, signal.SIGTERM):`,
    '    signal.signal(s, on)',
    'print("ready", flush=True)',
    'while True:',
    '    time.sleep(0.05)',
  ].join('\n') + '\n');
  const child = spawn(process.execPath, [CLI, 'run', 'handler.py'], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const closed = new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  while (!out.includes('ready')) await sleep(20);
  for (const signal of forwarded) {
    child.kill(signal);
    while (!out.includes(`got ${signal}`)) await sleep(20);
  }
  child.kill('SIGTERM');
  const [code] = await closed;
  t.equal(out, `ready\n${[...forwarded, 'SIGTERM'].map((s) => `got ${s}\n`).join('')}`, 'each signal ran the script\'s handler');
  t.equal(code, 42, 'the handler\'s exit status comes back');
});

t.test('an unhandled SIGINT kills the run and the client mirrors it', async (t) => {
  write(sb, 'sleepy.py', 'import time\nprint("ready", flush=True)\ntime.sleep(30)\n');
  const child = spawn(process.execPath, [CLI, 'run', 'sleepy.py'], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const closed = new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  while (!out.includes('ready')) await sleep(20);
  child.kill('SIGINT');
  const [, signal] = await closed;
  t.equal(signal, 'SIGINT', 'death by SIGINT, as python after an uncaught KeyboardInterrupt');
  t.match(err, /KeyboardInterrupt/);
});

t.test('a client killed with SIGKILL takes its run with it', async (t) => {
  const marker = path.join(sb.dir, 'run.pid');
  write(sb, 'orphan.py', `import os, time\nopen(${JSON.stringify(marker)}, "w").write(str(os.getpid()))\nwhile True:\n    time.sleep(0.05)\n`);
  const child = spawn(process.execPath, [CLI, 'run', 'orphan.py'], { cwd: sb.dir, env: sb.env, stdio: 'ignore' });
  while (!fs.existsSync(marker) || !fs.readFileSync(marker, 'utf8')) await sleep(20);
  const runPid = Number(fs.readFileSync(marker, 'utf8'));
  t.ok(isAlive(runPid));
  child.kill('SIGKILL');
  for (let i = 0; i < 100 && isAlive(runPid); i++) await sleep(20);
  t.notOk(isAlive(runPid), 'the run is gone');
});

t.test('a zygote killed during a run: clear error, non-zero status, next run works', async (t) => {
  write(sb, 'long.py', 'import time\nprint("ready", flush=True)\ntime.sleep(30)\n');
  const child = spawn(process.execPath, [CLI, 'run', 'long.py'], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  while (!out.includes('ready')) await sleep(20);
  const zygotePid = (await status()).zygotes[0].pid;
  process.kill(zygotePid, 'SIGKILL');
  const code = await closed;
  t.equal(code, 125, 'pynwheel\'s own failure status');
  t.match(err, /pynwheel: .*zygote.*killed by SIGKILL/);
  write(sb, 'next.py', 'print("next")\n');
  const r = await pynwheel(sb, ['run', 'next.py']);
  t.equal(r.stdout.toString(), 'next\n');
  t.not((await status()).zygotes[0].pid, zygotePid, 'a new zygote');
});

t.test('a daemon that died leaves a stale socket; the next client replaces it', async (t) => {
  const pid = daemonPid();
  const zygotePid = (await status()).zygotes[0].pid;
  process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(20);
  t.ok(fs.existsSync(socketPath()), 'the stale socket is still there');
  for (let i = 0; i < 100 && isAlive(zygotePid); i++) await sleep(20);
  t.notOk(isAlive(zygotePid), 'its zygote left with it');
  write(sb, 'again.py', 'print("again")\n');
  const r = await pynwheel(sb, ['run', 'again.py']);
  t.equal(r.stdout.toString(), 'again\n');
  t.not(await newDaemonPid(pid), pid, 'a new daemon (the cold run started it)');
});

t.test('the runtime directory is refused when it is not safely ours', async (t) => {
  write(sb, 'x.py', 'print(1)\n');
  const base = fs.mkdtempSync(path.join(sb.dir, 'rt-'));
  const open = path.join(base, 'open');
  fs.mkdirSync(open, { mode: 0o777 });
  fs.chmodSync(open, 0o777);
  const link = path.join(base, 'link');
  fs.symlinkSync(open, link);
  const file = path.join(base, 'file');
  fs.writeFileSync(file, '');
  const other = path.join(base, 'other');
  fs.mkdirSync(other, { mode: 0o700 });
  fs.chownSync(other, 65534, 65534);
  const cases: Array<[string, string, RegExp]> = [
    [open, 'mode 0777', /open to other users \(mode 777\).*chmod 700/],
    [link, 'a symlink', /is a symbolic link/],
    [file, 'a plain file', /not a directory/],
    [other, 'owned by another uid', /belongs to uid 65534/],
  ];
  for (const [dir, what, message] of cases) {
    const r = await collect(process.execPath, [CLI, 'run', 'x.py'], { cwd: sb.dir, env: { ...sb.env, PYNWHEEL_RUNTIME_DIR: dir } });
    t.equal(r.status, 125, `${what}: refused`);
    t.match(r.stderr.toString(), message, `${what}: says what is wrong`);
    t.equal(r.stdout.length, 0, `${what}: nothing ran`);
  }
});

t.test('the programmatic run() inherits stdio and resolves the exit', async (t) => {
  write(sb, 'api.py', 'import sys\nprint("from api", sys.argv[1:])\nsys.exit(3)\n');
  // run() captures output and rejects a non-zero exit by default (test/api.test.ts); here, as
  // the CLI, with the caller's stdio and the exit status as a result.
  const script = `require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'index.js'))}).run('api.py', ['x'], { cwd: ${JSON.stringify(sb.dir)}, stdio: 'inherit', reject: false }).then((r) => console.error(JSON.stringify(r)))`;
  const r = await collect(process.execPath, ['-e', script], { cwd: sb.dir, env: sb.env });
  t.equal(r.stdout.toString(), "from api ['x']\n");
  const result = JSON.parse(r.stderr.toString());
  t.equal(result.exitCode, 3);
  t.equal(result.signal, null);
  t.equal(result.stdout, null, 'inherited output is not captured');
});

t.test('pynwheel start brings a daemon up, and says so when one runs', async (t) => {
  await pynwheel(sb, ['stop']);
  const first = await pynwheel(sb, ['start']);
  t.equal(first.status, 0);
  t.match(first.stdout.toString(), /pynwheel daemon running \(pid \d+\)/);
  const pid = daemonPid();
  const second = await pynwheel(sb, ['start']);
  t.match(second.stdout.toString(), new RegExp(`pid ${pid}\\b`), 'the same daemon');
});

t.test('pynwheel stop ends the daemon and its zygotes', async (t) => {
  const s = await status();
  const pid = daemonPid();
  const r = await pynwheel(sb, ['stop']);
  t.match(r.stdout.toString(), /stopped/);
  for (let i = 0; i < 100 && (isAlive(pid) || isAlive(s.zygotes[0]?.pid ?? 0)); i++) await sleep(20);
  t.notOk(isAlive(pid), 'daemon gone');
  if (s.zygotes[0]) t.notOk(isAlive(s.zygotes[0].pid), 'zygote gone');
  t.notOk(fs.existsSync(socketPath()), 'socket removed');
  const again = await pynwheel(sb, ['status']);
  t.equal(again.status, 3);
  t.match(again.stdout.toString(), /not running/);
});

t.test('a daemon of another version is found out at the handshake and replaced', async (t) => {
  await pynwheel(sb, ['stop']);
  // A stand-in for an old daemon: it answers every request in protocol 99 and writes its pid.
  const fake = spawn(process.execPath, ['-e', `
    const net = require('net'), fs = require('fs');
    const dir = ${JSON.stringify(sb.runtimeDir)};
    const frame = Buffer.from('PN\\x63\\x00\\x00\\x00\\x00\\x02{}', 'latin1');
    net.createServer((c) => { c.on('error', () => {}); c.end(frame); })
      .listen(dir + '/daemon.sock', () => { fs.writeFileSync(dir + '/daemon.pid', String(process.pid)); console.log('up'); });
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => fake.on('exit', resolve));
  await new Promise((resolve) => fake.stdout.once('data', resolve));
  write(sb, 'versioned.py', 'print("served by the new daemon")\n');
  const r = await pynwheel(sb, ['run', 'versioned.py']);
  t.equal(r.stdout.toString(), 'served by the new daemon\n');
  t.equal(r.status, 0);
  await exited;
  t.not(await newDaemonPid(fake.pid!), fake.pid, 'a daemon of this version took over');
});
