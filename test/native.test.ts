// The native addon on its own: fd passing, sockets, Poller, flock, fdKind, dieBySignal, processAttributes.
// Child processes load the built addon by path, so these run without the TypeScript build.
import t, { type Test } from 'tap';
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../lib/shared/native';

const ADDON = path.resolve(__dirname, '..', 'build', 'Release', 'pynwheel.node');
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const errno = os.constants.errno;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node -e SCRIPT` with `n` bound to the addon; killed if it outlives `timeoutMs`. */
function runNode(script: string, options: { args?: string[]; nodeArgs?: string[]; stdio?: StdioOptions; timeoutMs?: number } = {}) {
  const code = `const n = require(${JSON.stringify(ADDON)});\n${script}`;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '-e', code, '--', ...(options.args ?? [])], {
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const match = /^flags:\s*([0-7]+)$/m.exec(info);
  if (!match) throw new Error(`no flags in fdinfo of ${fd}`);
  return parseInt(match[1], 8);
}

const isCloexec = (fd: number) => (fdFlags(fd) & O_CLOEXEC) !== 0;
const isNonBlocking = (fd: number) => (fdFlags(fd) & O_NONBLOCK) !== 0;
const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tempDir(t: Test, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pnw-native-${name}-`));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Closes the fds at the end of the test unless the test closed them already. */
function closeLater(t: Test, ...fds: number[]) {
  t.teardown(() => {
    for (const fd of fds) if (native.fdKind(fd) !== null) native.close(fd);
  });
}

/** A FIFO (a named pipe): [read end, write end], both blocking. */
function makeFifo(t: Test): [number, number] {
  const fifo = path.join(tempDir(t, 'fifo'), 'pipe');
  const made = spawnSync('mkfifo', [fifo]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
  // O_NONBLOCK so the open does not wait for a writer; the read end is made blocking after.
  const readEnd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeEnd = fs.openSync(fifo, 'w');
  native.setNonBlocking(readEnd, false);
  closeLater(t, readEnd, writeEnd);
  return [readEnd, writeEnd];
}

/** Reads `fd` to EOF on the thread pool (the fd is blocking). */
function readAll(fd: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const next = () => {
      const buf = Buffer.alloc(4096);
      fs.read(fd, buf, 0, buf.length, null, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return resolve(Buffer.concat(chunks).toString());
        chunks.push(buf.subarray(0, n));
        next();
      });
    };
    next();
  });
}

/** Resolves with the first poll event on `fd`, then closes the poller. */
function pollOnce(fd: number, readable: boolean, writable: boolean) {
  return new Promise<{ err: Error | null; readable: boolean; writable: boolean }>((resolve) => {
    const poller = new native.Poller(fd, (err, r, w) => {
      poller.close();
      resolve({ err, readable: r, writable: w });
    });
    poller.start(readable, writable);
  });
}

t.test('fds pass between two processes, both ways', async (t) => {
  const [parentEnd, childEnd] = native.socketpair();
  closeLater(t, parentEnd, childEnd);
  const [readEnd, writeEnd] = makeFifo(t);
  const file = path.join(tempDir(t, 'pass'), 'from-child.txt');

  // The child gets its end as fd 3; it receives a pipe and answers with an fd of its own.
  const { done } = runNode(`
    const fs = require('fs');
    const got = n.recvMsg(3, 64, 4);
    fs.writeSync(got.fds[0], 'hello from child, data=' + got.data.toString() + ', fds=' + got.fds.length + '\\n');
    for (const fd of got.fds) n.close(fd);
    const own = fs.openSync(process.argv[1], 'w+');
    fs.writeSync(own, 'written by the child');
    if (n.sendMsg(3, Buffer.from('Y'), [own]) !== 1) throw new Error('short send');
  `, { args: [file], stdio: ['ignore', 'pipe', 'pipe', childEnd] });
  native.close(childEnd);

  t.equal(native.sendMsg(parentEnd, Buffer.from('X'), [writeEnd]), 1, 'one data byte sent with the fd');
  native.close(writeEnd); // now only the child holds the write end: EOF once it closes it
  t.equal(await readAll(readEnd), 'hello from child, data=X, fds=1\n', 'the child wrote into the pipe it was sent');

  await pollOnce(parentEnd, true, false);
  const back = native.recvMsg(parentEnd, 64, 4);
  t.ok(back, 'a message came back');
  t.equal(back!.data.toString(), 'Y');
  t.equal(back!.fds.length, 1, 'with one fd');
  const fd = back!.fds[0];
  t.equal(fs.fstatSync(fd).ino, fs.statSync(file).ino, 'the fd is the file the child opened');
  const buf = Buffer.alloc(64);
  t.equal(buf.toString('utf8', 0, fs.readSync(fd, buf, 0, 64, 0)), 'written by the child');
  native.close(fd);

  const result = await done;
  t.same(result, { code: 0, signal: null, stdout: '', stderr: '' }, 'the child exited cleanly');
});

t.test('recvMsg in one process: data and fds, CLOEXEC, MSG_CTRUNC', async (t) => {
  const [a, b] = native.socketpair();
  closeLater(t, a, b);
  t.ok(isCloexec(a) && isCloexec(b), 'socketpair ends are CLOEXEC');
  t.notOk(isNonBlocking(a) || isNonBlocking(b), 'and blocking');

  const devNull = fs.openSync('/dev/null', 'r');
  const dir = fs.openSync(os.tmpdir(), 'r');
  closeLater(t, devNull, dir);
  t.equal(native.sendMsg(a, Buffer.from('hello'), [devNull, dir]), 5);
  const got = native.recvMsg(b, 64, 4)!;
  t.equal(got.data.toString(), 'hello');
  t.ok(Buffer.isBuffer(got.data), 'data is a Buffer');
  t.equal(got.fds.length, 2);
  t.notOk(got.fds.includes(devNull) || got.fds.includes(dir), 'the received fds are new fds');
  t.same(got.fds.map((fd) => native.fdKind(fd)), ['chr', 'dir'], 'in the order they were sent');
  t.ok(got.fds.every(isCloexec), 'received fds are CLOEXEC');
  for (const fd of got.fds) native.close(fd);

  // Data without fds; a Uint8Array view with an offset sends just its own bytes.
  const view = new Uint8Array([46, 46, 97, 98, 99, 46, 46]).subarray(2, 5);
  t.equal(native.sendMsg(a, view, []), 3);
  t.same(native.recvMsg(b, 64, 4), { data: Buffer.from('abc'), fds: [] });

  // Too many fds for the receiver: every fd that arrived is closed, and it is an error.
  const before = fdCount();
  native.sendMsg(a, Buffer.from('z'), [devNull, devNull, devNull, devNull, devNull]);
  t.throws(() => native.recvMsg(b, 64, 2), {
    code: 'ECTRUNC',
    syscall: 'recvmsg',
    message: /control data truncated/,
  }, 'MSG_CTRUNC is an ECTRUNC error');
  t.equal(fdCount(), before, 'no fd leaked from the truncated message');
  native.sendMsg(a, Buffer.from('z'), [devNull]);
  t.throws(() => native.recvMsg(b, 64, 0), { code: 'ECTRUNC' }, 'maxFds 0 and an fd arrives: ECTRUNC');
  t.equal(fdCount(), before, 'still no leak');

  native.sendMsg(a, Buffer.from('after'), []);
  t.equal(native.recvMsg(b, 64, 2)!.data.toString(), 'after', 'the socket is still usable');

  // A short read leaves the rest for the next call.
  native.sendMsg(a, Buffer.from('0123456789'), []);
  t.equal(native.recvMsg(b, 4, 0)!.data.toString(), '0123');
  t.equal(native.recvMsg(b, 64, 0)!.data.toString(), '456789');
});

t.test('sendMsg/recvMsg edge cases: empty data, EOF, EAGAIN, EPIPE, bad arguments', async (t) => {
  const [a, b] = native.socketpair();
  closeLater(t, a, b);

  t.throws(() => native.sendMsg(a, new Uint8Array(0), [0]), TypeError, 'fds need a data byte');
  t.throws(() => native.sendMsg(a, Buffer.from('x'), new Array(254).fill(0)), RangeError, 'at most 253 fds');
  t.throws(() => native.sendMsg(a, 'x' as unknown as Uint8Array, []), TypeError, 'data must be a Uint8Array');
  t.throws(() => native.sendMsg(a, Buffer.from('x'), [1.5]), TypeError, 'fds must be integers');
  t.throws(() => native.recvMsg(b, 0, 0), RangeError, 'maxBytes >= 1');
  t.throws(() => native.recvMsg(b, 1, 254), RangeError, 'maxFds <= 253');
  t.equal(native.sendMsg(a, new Uint8Array(0), []), 0, 'an empty message without fds sends nothing');

  native.setNonBlocking(b, true);
  t.ok(isNonBlocking(b), 'setNonBlocking(true) sets O_NONBLOCK');
  t.equal(native.recvMsg(b, 64, 4), null, 'nothing to read on a non-blocking socket: null');

  native.setNonBlocking(a, true);
  const chunk = Buffer.alloc(65536, 1);
  let result = 0;
  let sends = 0;
  for (; sends < 10_000 && result !== -1; sends++) result = native.sendMsg(a, chunk, []);
  t.equal(result, -1, `a full non-blocking socket gives -1 (after ${sends} sends)`);
  native.setNonBlocking(a, false);
  t.notOk(isNonBlocking(a), 'setNonBlocking(false) clears O_NONBLOCK');

  native.close(b);
  t.throws(() => native.sendMsg(a, Buffer.from('x'), []), { code: 'EPIPE', syscall: 'sendmsg' },
    'a closed peer is EPIPE (no SIGPIPE)');

  const [c, d] = native.socketpair();
  closeLater(t, c, d);
  native.sendMsg(c, Buffer.from('last'), []);
  native.close(c);
  t.equal(native.recvMsg(d, 64, 4)!.data.toString(), 'last', 'data sent before close is still read');
  const eof = native.recvMsg(d, 64, 4)!;
  t.equal(eof.data.length, 0, 'then EOF: data of length 0');
  t.same(eof.fds, []);
});

t.test('syscall errors look like Node errors', async (t) => {
  const dir = tempDir(t, 'errors');
  const missing = path.join(dir, 'missing.sock');
  t.throws(() => native.connect(missing), {
    code: 'ENOENT',
    errno: -errno.ENOENT,
    syscall: 'connect',
    path: missing,
    message: `connect ENOENT ${missing}`,
  });
  const err = (() => { try { native.connect(missing); } catch (e) { return e; } })();
  t.ok(err instanceof Error, 'an Error instance');

  const plain = path.join(dir, 'plain-file');
  fs.writeFileSync(plain, '');
  t.throws(() => native.connect(plain), { code: /^(ECONNREFUSED|ENOTSOCK)$/, syscall: 'connect', path: plain },
    'connecting to a non-socket');

  t.throws(() => native.close(-1), { code: 'EBADF', errno: -errno.EBADF, syscall: 'close', message: 'close EBADF' });
  t.throws(() => native.peerCred(-1), { code: 'EBADF', syscall: 'getsockopt' });
  const devNull = fs.openSync('/dev/null', 'r');
  closeLater(t, devNull);
  t.throws(() => native.peerCred(devNull), { code: 'ENOTSOCK' }, 'peerCred of a non-socket');
  t.throws(() => native.recvMsg(-1, 1, 0), { code: 'EBADF', syscall: 'recvmsg' });
  t.throws(() => native.sendMsg(-1, Buffer.from('x'), []), { code: 'EBADF', syscall: 'sendmsg' });
  t.throws(() => native.setNonBlocking(-1, true), { code: 'EBADF', syscall: 'fcntl' });
  t.throws(() => native.accept(-1), { code: 'EBADF', syscall: 'accept' });

  const long = path.join(dir, 'x'.repeat(120));
  t.throws(() => native.connect(long), { code: 'ENAMETOOLONG', syscall: 'connect', path: long });
  t.throws(() => native.listen(long, 8), { code: 'ENAMETOOLONG', syscall: 'bind', path: long });

  t.throws(() => native.close('3' as unknown as number), TypeError, 'a string fd is a TypeError');
  t.throws(() => native.close(1.5), RangeError, 'a fractional fd is a RangeError');
  t.throws(() => native.connect(''), TypeError, 'an empty path is a TypeError');
  t.throws(() => native.connect('/tmp/a\0b'), TypeError, 'a path with NUL is a TypeError');
});

t.test('listen, accept, connect, peerCred', async (t) => {
  const sock = path.join(tempDir(t, 'listen'), 'daemon.sock');
  const server = native.listen(sock, 16);
  closeLater(t, server);
  t.ok(fs.statSync(sock).isSocket(), 'the socket file exists');
  t.ok(isCloexec(server) && isNonBlocking(server), 'the listening fd is CLOEXEC and non-blocking');
  t.equal(native.accept(server), null, 'nothing pending: null');
  t.throws(() => native.listen(sock, 16), { code: 'EADDRINUSE', syscall: 'bind', path: sock });

  const client = native.connect(sock);
  closeLater(t, client);
  t.ok(isCloexec(client), 'the client fd is CLOEXEC');
  t.notOk(isNonBlocking(client), 'and blocking');

  let accepted: number | null = null;
  for (let i = 0; i < 100 && accepted === null; i++) {
    accepted = native.accept(server);
    if (accepted === null) await sleep(10);
  }
  t.type(accepted, 'number', 'the connection is accepted');
  const conn = accepted!;
  closeLater(t, conn);
  t.ok(isCloexec(conn) && isNonBlocking(conn), 'the accepted fd is CLOEXEC and non-blocking');
  t.equal(native.accept(server), null, 'and nothing else is pending');

  const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
  t.same(native.peerCred(conn), me, 'peerCred of the accepted end is this process');
  t.same(native.peerCred(client), me, 'peerCred of the client end is this process');

  native.sendMsg(client, Buffer.from('ping'), []);
  await pollOnce(conn, true, false);
  t.equal(native.recvMsg(conn, 64, 0)!.data.toString(), 'ping', 'data flows over the connection');
});

t.test('Poller', async (t) => {
  const [a, b] = native.socketpair();
  closeLater(t, a, b);
  const events: Array<{ err: Error | null; readable: boolean; writable: boolean }> = [];
  let wake: (() => void) | null = null;
  const next = () => new Promise<void>((resolve) => { wake = resolve; });
  const poller = new native.Poller(a, (err, readable, writable) => {
    events.push({ err, readable, writable });
    if (readable) native.recvMsg(a, 4096, 0); // drain, or it stays readable
    poller.stop();
    wake?.();
  });
  t.ok(isNonBlocking(a), 'uv_poll_init makes the fd non-blocking');

  let fired = next();
  poller.start(true, false);
  native.sendMsg(b, Buffer.from('x'), []);
  await fired;
  t.same(events.pop(), { err: null, readable: true, writable: false }, 'readable fires when data arrives');

  fired = next();
  poller.start(false, true);
  await fired;
  t.same(events.pop(), { err: null, readable: false, writable: true }, 'writable fires');

  poller.start(true, false);
  poller.start(false, false); // the same as stop()
  native.sendMsg(b, Buffer.from('y'), []);
  await sleep(50);
  t.equal(events.length, 0, 'start(false, false) stops watching');
  fired = next();
  poller.start(true, true);
  await fired;
  t.same(events.pop(), { err: null, readable: true, writable: true }, 'changing the events while stopped works');

  poller.start(true, false);
  t.throws(() => new native.Poller(a, () => undefined), { code: 'EEXIST', syscall: 'uv_poll_init' },
    'a second poller on a watched fd is refused');
  poller.stop();

  // The peer going away shows up as readable, and the read sees EOF.
  const [c, d] = native.socketpair();
  closeLater(t, c, d);
  const hup = new Promise<{ readable: boolean; data: number }>((resolve) => {
    const p = new native.Poller(c, (_err, readable) => {
      p.close();
      resolve({ readable, data: native.recvMsg(c, 64, 0)!.data.length });
    });
    p.start(true, false);
  });
  native.close(d);
  t.same(await hup, { readable: true, data: 0 }, 'a closed peer is readable with EOF');

  // A peer that closes with our data unread leaves us an error (POLLERR): the callback gets it.
  const [e, f] = native.socketpair();
  closeLater(t, e, f);
  native.sendMsg(e, Buffer.from('unread'), []);
  native.close(f);
  const { err } = await pollOnce(e, true, false);
  t.match(err, { code: 'EBADF', syscall: 'uv_poll', errno: -errno.EBADF }, 'a socket error reaches the callback as a Node error');

  poller.close();
  poller.close();
  t.pass('close twice is safe');
  poller.stop();
  poller.ref();
  poller.unref();
  t.throws(() => poller.start(true, false), /after close/, 'start after close throws');
  t.throws(() => new native.Poller(a, 'x' as unknown as () => void), TypeError);
  const file = fs.openSync(__filename, 'r');
  closeLater(t, file);
  t.throws(() => new native.Poller(file, () => undefined), { code: 'EPERM', syscall: 'uv_poll_init' },
    'a regular file cannot be polled');
  // The test finishing at all shows that no poller keeps the loop alive.
});

t.test('Poller and the event loop (in child processes)', async (t) => {
  const started = runNode(`
    const [a, b] = n.socketpair();
    const p = new n.Poller(a, () => {});
    p.start(true, false);
    setTimeout(() => process.stdout.write('alive'), 300);
    setTimeout(() => p.close(), 400);
  `);
  t.same(await started.done, { code: 0, signal: null, stdout: 'alive', stderr: '' },
    'a started poller keeps the process alive until closed');

  const unrefd = runNode(`
    const [a, b] = n.socketpair();
    const p = new n.Poller(a, () => {});
    p.start(true, false);
    p.unref();
    process.on('exit', () => process.stdout.write('exited'));
  `, { timeoutMs: 5000 });
  t.same(await unrefd.done, { code: 0, signal: null, stdout: 'exited', stderr: '' }, 'an unref\'d poller does not');

  const collected = runNode(`
    const [a, b] = n.socketpair();
    (() => {
      const p = new n.Poller(a, (err, r) => {
        process.stdout.write('fired ' + r + ' ' + n.recvMsg(a, 64, 0).data);
        p.close();
      });
      p.start(true, false);
    })();
    for (let i = 0; i < 5; i++) global.gc();
    setTimeout(() => { global.gc(); n.sendMsg(b, Buffer.from('late'), []); }, 50);
  `, { nodeArgs: ['--expose-gc'] });
  t.same(await collected.done, { code: 0, signal: null, stdout: 'fired true late', stderr: '' },
    'a started poller nobody references is not collected');

  const throwing = runNode(`
    const [a, b] = n.socketpair();
    const p = new n.Poller(a, () => { throw new Error('boom from the callback'); });
    p.start(false, true);
  `);
  const thrown = await throwing.done;
  t.equal(thrown.code, 1, 'an exception in the callback is fatal');
  t.match(thrown.stderr, /boom from the callback/, 'and reported');

  const handled = runNode(`
    const [a, b] = n.socketpair();
    process.on('uncaughtException', (e) => { process.stdout.write('caught ' + e.message); p.close(); });
    const p = new n.Poller(a, () => { throw new Error('boom'); });
    p.start(false, true);
  `);
  t.same(await handled.done, { code: 0, signal: null, stdout: 'caught boom', stderr: '' },
    'it reaches process.on("uncaughtException")');

  const worker = runNode(`
    const { Worker } = require('worker_threads');
    const w = new Worker(${JSON.stringify(`
      const n = require(${JSON.stringify(ADDON)});
      const [a, b] = n.socketpair();
      const p = new n.Poller(a, () => {});
      p.start(true, false);
      require('worker_threads').parentPort.postMessage('polling');
    `)}, { eval: true });
    w.on('message', () => w.terminate().then(() => process.stdout.write('terminated')));
  `);
  t.same(await worker.done, { code: 0, signal: null, stdout: 'terminated', stderr: '' },
    'a worker with an active poller can be terminated');
});

t.test('tryLockExclusive', async (t) => {
  const lockFile = path.join(tempDir(t, 'lock'), 'daemon.lock');
  fs.writeFileSync(lockFile, '');
  const holder = runNode(`
    const fd = require('fs').openSync(process.argv[1], 'r');
    process.stdout.write(String(n.tryLockExclusive(fd)));
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `, { args: [lockFile], stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => { holder.child.kill('SIGKILL'); });
  await new Promise((resolve) => holder.child.stdout!.once('data', resolve));

  const fd = fs.openSync(lockFile, 'r');
  closeLater(t, fd);
  t.equal(native.tryLockExclusive(fd), false, 'held by another process: false');
  holder.child.stdin!.end();
  const result = await holder.done;
  t.same(result, { code: 0, signal: null, stdout: 'true', stderr: '' }, 'the holder had taken the lock');
  t.equal(native.tryLockExclusive(fd), true, 'after it exits: true');
  t.equal(native.tryLockExclusive(fd), true, 'taking it again through the same fd: true');
  t.throws(() => native.tryLockExclusive(-1), { code: 'EBADF', syscall: 'flock' });
});

t.test('fdKind', async (t) => {
  const dir = tempDir(t, 'kind');
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, 'x');
  const fileFd = fs.openSync(file, 'r');
  const dirFd = fs.openSync(dir, 'r');
  const devNull = fs.openSync('/dev/null', 'r');
  const [s1, s2] = native.socketpair();
  closeLater(t, fileFd, dirFd, devNull, s1, s2);
  const [readEnd, writeEnd] = makeFifo(t);
  t.equal(native.fdKind(fileFd), 'file');
  t.equal(native.fdKind(dirFd), 'dir');
  t.equal(native.fdKind(s1), 'socket');
  t.equal(native.fdKind(devNull), 'chr');
  t.equal(native.fdKind(readEnd), 'fifo');
  t.equal(native.fdKind(writeEnd), 'fifo');
  native.close(s2);
  t.equal(native.fdKind(s2), null, 'a closed fd: null');
  t.equal(native.fdKind(-1), null, 'a negative fd: null');
});

t.test('dieBySignal', async (t) => {
  const cases: Array<[string, string, NodeJS.Signals]> = [
    ['SIGTERM', 'n.dieBySignal(15, false)', 'SIGTERM'],
    ['SIGTERM with a JS handler installed', 'process.on("SIGTERM", () => {}); n.dieBySignal(15, false)', 'SIGTERM'],
    ['SIGPIPE, which Node ignores', 'n.dieBySignal(13, false)', 'SIGPIPE'],
    ['SIGABRT without a core', 'n.dieBySignal(6, false)', 'SIGABRT'],
    ['SIGINT', 'n.dieBySignal(2, false)', 'SIGINT'],
  ];
  for (const [name, script, signal] of cases) {
    const result = await runNode(`${script}; process.stdout.write('survived')`).done;
    t.same(result, { code: null, signal, stdout: '', stderr: '' }, name);
  }
  const ignored = await runNode('n.dieBySignal(28, false)').done; // SIGWINCH: ignored by default
  t.same({ code: ignored.code, signal: ignored.signal }, { code: 128 + 28, signal: null },
    'a signal that does not kill falls back to exit(128 + signo)');
  t.throws(() => native.dieBySignal(0, false), RangeError);
  t.throws(() => native.dieBySignal(65, false), RangeError);
  t.throws(() => native.dieBySignal(15, 'no' as unknown as boolean), TypeError);
});

t.test('processAttributes: the umask and the resource limits, as /proc and the shell see them', async (t) => {
  const before = native.processAttributes()!;
  const statusUmask = () => parseInt(/^Umask:\s*(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1], 8);
  t.equal(before.umask, statusUmask(), 'the umask as /proc/self/status has it');
  const old = process.umask(0o077);
  try {
    t.equal(native.processAttributes()!.umask, 0o077, 'a changed umask is seen at once');
  } finally {
    process.umask(old);
  }
  t.equal(native.processAttributes()!.umask, before.umask, 'and reading it changed nothing');
  // A child whose limits a shell set: its own view, through the addon loaded by path.
  const script = `const a = require(${JSON.stringify(ADDON)}).processAttributes(); console.log(JSON.stringify(a))`;
  const child = spawnSync('sh', ['-c', `umask 027; ulimit -c 0; ulimit -S -s 4096; ulimit -t 1000; exec "${process.execPath}" -e '${script}'`]);
  const seen = JSON.parse(child.stdout.toString()) as { umask: number; limits: Array<[number, number, number]> };
  t.equal(seen.umask, 0o027, 'a child\'s umask');
  const limit = (resource: number) => seen.limits.find(([r]) => r === resource)?.slice(1);
  const RLIMIT = { CPU: 0, STACK: 3, CORE: 4 };
  t.same(limit(RLIMIT.CPU), [1000, 1000], 'RLIMIT_CPU (ulimit -t sets both)');
  t.equal(limit(RLIMIT.STACK)![0], 4096 * 1024, 'RLIMIT_STACK soft (ulimit -S -s)');
  t.same(limit(RLIMIT.CORE), [0, 0], 'RLIMIT_CORE');
  t.ok(seen.limits.every(([r, soft, hard]) => Number.isInteger(r) && soft >= -1 && hard >= -1), 'every triple is whole numbers, -1 for unlimited');
});
