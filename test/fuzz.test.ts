// 10,000 malformed messages: each must get an error reply or a closed connection, and the
// daemon and its zygote must stay up, serve a normal run right after, and leak no fd.
import t from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { native } from '../lib/shared/native';
import { daemonStatus, makeSandbox, pynwheel, sleep, write, type Sandbox } from './helpers';

const TOTAL = 10_000;
const FD_CASES = 600; // of TOTAL, sent with SCM_RIGHTS fds through the addon
const PARALLEL = 8;

let sb: Sandbox;
t.before(() => { sb = makeSandbox('fuzz'); });
t.teardown(() => sb.cleanup());

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = Number(process.env.PYNWHEEL_FUZZ_SEED ?? 20261123);
const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: T[]): T => items[int(items.length)];

function frame(payload: Buffer | string, { version = 1, fds = 0, length }: { version?: number; fds?: number; length?: number } = {}): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const header = Buffer.alloc(8);
  header.write('PN', 0, 'latin1');
  header.writeUInt8(version, 2);
  header.writeUInt8(fds, 3);
  header.writeUInt32BE(length ?? body.length, 4);
  return Buffer.concat([header, body]);
}

function validRun(): Record<string, unknown> {
  return {
    type: 'run', client: 'fuzz', file: 'x.py', args: ['a'], cwd: '/', env: { A: 'b' },
    python: '/usr/bin/python3', argv0: 'python3', stdio: [true, true, true], cwdFd: true,
  };
}

const WRONG_VALUES: unknown[] = [null, 0, -1, 1.5, '', 'x', [], {}, [1, 2], { a: 1 }, true, '\u0000', 'a\u0000b', 1e308];

/** One malformed message to send without fds; returns [category, bytes]. */
function malformed(): [string, Buffer] {
  switch (int(10)) {
    case 0: return ['random bytes', Buffer.from(Array.from({ length: int(300) }, () => int(256)))];
    case 1: return ['random payload', frame(Buffer.from(Array.from({ length: int(200) }, () => int(256))))];
    case 2: {
      const whole = frame(JSON.stringify(validRun()));
      return ['truncated frame', whole.subarray(0, int(whole.length))];
    }
    case 3: return ['huge length', frame('{}', { length: 0x7fffffff + int(0x7fffffff) })];
    case 4: {
      const text = JSON.stringify(validRun());
      return ['invalid JSON', frame(text.slice(0, 1 + int(text.length - 2)) + pick(['', '}', ',', '"', '\\']))];
    }
    case 5: {
      const request = validRun();
      const key = pick(Object.keys(request));
      request[key] = pick(WRONG_VALUES);
      return ['wrong types', frame(JSON.stringify(request), { fds: 4 })];
    }
    case 6: return ['unknown version', frame(JSON.stringify({ type: 'status' }), { version: pick([0, 2, 7, 99, 255]) })];
    case 7: return ['unknown type', frame(JSON.stringify({ type: pick(['', 'RUN', 'exec', 'signal', 'exit', 'started', 'x'.repeat(1000)]) }))];
    case 8: return ['not an object', frame(pick(['[]', '1', '"run"', 'null', 'true', '{"type":1}', '{"type":null}']))];
    default: return ['fds announced, none sent', frame(JSON.stringify(validRun()), { fds: 1 + int(4) })];
  }
}

/** Sends bytes, half-closes, and collects what comes back until the daemon closes. */
function exchange(socket: string, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const sock = net.connect(socket);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { sock.destroy(); resolve(Buffer.from('TIMEOUT')); }, 15_000);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => undefined); // EPIPE/ECONNRESET: the daemon closed on us, which is fine
    sock.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
    sock.end(bytes);
  });
}

/** An acceptable answer: nothing (closed), or one error frame. */
function isRefusal(reply: Buffer): boolean {
  if (reply.length === 0) return true;
  if (reply.length < 8 || reply.toString('latin1', 0, 2) !== 'PN') return false;
  const length = reply.readUInt32BE(4);
  try {
    return JSON.parse(reply.subarray(8, 8 + length).toString()).type === 'error';
  } catch {
    return false;
  }
}

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

async function settledFdCount(pid: number, expected: number): Promise<number> {
  let count = fdCount(pid);
  for (let i = 0; i < 50 && count !== expected; i++) {
    await sleep(50);
    count = fdCount(pid);
  }
  return count;
}

t.test(`${TOTAL} malformed messages are refused and nothing is lost (seed ${SEED})`, async (t) => {
  write(sb, 'ok.py', 'import json\nprint("ok")\n');
  t.equal((await pynwheel(sb, ['run', 'ok.py'])).stdout.toString(), 'ok\n', 'a run before');
  const socket = path.join(sb.runtimeDir, 'daemon.sock');
  const daemonPid = Number(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.pid'), 'utf8'));
  const status = await daemonStatus(sb);
  const zygotePid: number = status.zygotes[0].pid;
  const daemonFds = fdCount(daemonPid);
  const zygoteFds = fdCount(zygotePid);

  const categories = new Map<string, number>();
  const failures: string[] = [];
  const count = (category: string, ok: boolean, detail: string) => {
    categories.set(category, (categories.get(category) ?? 0) + 1);
    if (!ok && failures.length < 10) failures.push(`${category}: ${detail}`);
    else if (!ok) failures.push('');
  };

  // Messages with real fds, of wrong number or kind.
  const listening = native.listen(path.join(sb.dir, 'listening.sock'), 1);
  const dir = fs.openSync(sb.dir, 'r');
  const devNull = fs.openSync('/dev/null', 'r+');
  for (let i = 0; i < FD_CASES; i++) {
    const request = validRun();
    let fds: number[];
    let category: string;
    switch (i % 5) {
      case 0: category = 'fewer fds than announced'; fds = [devNull]; break;
      case 1: category = 'more fds than announced'; fds = [devNull, devNull, devNull, dir, devNull]; request.stdio = [true, true, false]; break;
      case 2: category = 'a directory as stdin'; fds = [dir, devNull, devNull, dir]; break;
      case 3: category = '/dev/null as the cwd'; fds = [devNull, devNull, devNull, devNull]; break;
      default: category = 'a listening socket as the cwd'; fds = [devNull, devNull, devNull, listening]; break;
    }
    const announced = i % 5 === 1 ? 3 : 4;
    const bytes = frame(JSON.stringify(request), { fds: announced });
    const fd = native.connect(socket);
    try {
      native.sendMsg(fd, bytes, fds);
      const chunks: Buffer[] = [];
      for (;;) {
        const got = native.recvMsg(fd, 65536, 8);
        if (!got || got.data.length === 0) break;
        got.fds.forEach((f) => fs.closeSync(f));
        chunks.push(got.data);
      }
      const reply = Buffer.concat(chunks);
      count(category, isRefusal(reply), reply.toString('latin1').slice(0, 120));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      count(category, code === 'ECONNRESET' || code === 'EPIPE', String(err));
    } finally {
      fs.closeSync(fd);
    }
  }
  fs.closeSync(listening);
  fs.closeSync(dir);
  fs.closeSync(devNull);

  // A few huge ones: an environment over the frame limit, and too many arguments.
  const huge: Array<[string, Buffer]> = [];
  for (let i = 0; i < 10; i++) {
    huge.push(['huge environment', frame(JSON.stringify({ ...validRun(), env: { BIG: 'x'.repeat(9 * 1024 * 1024) } }), { fds: 4 })]);
    huge.push(['huge argument list', frame(JSON.stringify({ ...validRun(), args: Array.from({ length: 150_000 }, (_, k) => String(k)) }), { fds: 4 })]);
  }

  const plain: Array<[string, Buffer]> = [...huge];
  while (plain.length + FD_CASES < TOTAL) plain.push(malformed());
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < plain.length) {
      const [category, bytes] = plain[next++];
      const reply = await exchange(socket, bytes);
      count(category, isRefusal(reply), reply.toString('latin1').slice(0, 120));
    }
  }));

  const total = [...categories.values()].reduce((a, b) => a + b, 0);
  t.equal(total, TOTAL, `${TOTAL} messages sent`);
  t.same(failures, [], 'every one got an error reply or a closed connection');
  t.ok(categories.size >= 17, `all kinds were sent: ${[...categories].map(([c, n]) => `${c} ${n}`).join(', ')}`);

  t.ok(fs.existsSync(`/proc/${daemonPid}`), 'the daemon is still up');
  t.ok(fs.existsSync(`/proc/${zygotePid}`), 'its zygote is still up');
  const after = await pynwheel(sb, ['run', 'ok.py']);
  t.equal(after.stdout.toString(), 'ok\n', 'a normal run works right after');
  t.equal(JSON.parse((await pynwheel(sb, ['status', '--json'])).stdout.toString()).zygotes[0].pid, zygotePid, 'served by the same zygote');
  t.equal(await settledFdCount(daemonPid, daemonFds), daemonFds, 'the daemon leaked no fd');
  t.equal(await settledFdCount(zygotePid, zygoteFds), zygoteFds, 'the zygote leaked no fd');
});
