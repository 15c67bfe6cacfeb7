// The protocol's test vectors (test/vectors/*.json, shared with the zygote's and the runner's
// tests) through the TypeScript side: frames through FrameDecoder at both limits, route names,
// run-argument parsing, the daemon's request checks on real fds of each kind, and the
// constants lib/shared/protocol-constants.ts takes from lib/shared/protocol.json.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRunArgs, UsageError } from '../lib/cli/run-args';
import { planPythonOptions } from '../lib/api/python-options';
import { checkRunFds, checkRunRequest } from '../lib/daemon/request-check';
import { native } from '../lib/shared/native';
import * as constants from '../lib/shared/protocol-constants';
import { routeName } from '../lib/shared/route-name';
import { encodeFrame, FrameDecoder, type Message } from '../lib/shared/wire';

const VECTORS = path.join(__dirname, 'vectors');
const PROTOCOL = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'lib', 'shared', 'protocol.json'), 'utf8'));

/** A vector file, or (until the lead's files are merged) the samples given here in its format. */
function vectors<T>(name: string, samples: T): T {
  const file = path.join(VECTORS, name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) as T : samples;
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;
const devNulls = (n: number) => Array.from({ length: n }, () => fs.openSync('/dev/null', 'r'));
const closeAll = (fds: number[]) => fds.forEach((fd) => { try { fs.closeSync(fd); } catch { /* the decoder closed it */ } });

interface FrameVector { name: string; hex: string; fds: number; limit: 'client' | 'zygote'; message?: Message; error?: string; reason?: string }

const frames = vectors<{ valid: FrameVector[]; invalid: FrameVector[] }>('frames.json', {
  valid: [{ name: 'a status request', hex: '504e0100000000117b2274797065223a22737461747573227d', fds: 0, limit: 'client', message: { type: 'status' } }],
  invalid: [{ name: 'bad magic', hex: '585801000000000c7b2274797065223a2278227d', fds: 0, limit: 'client', error: 'EPROTO', reason: 'bad-magic' }],
});

const limitOf = (v: FrameVector) => (v.limit === 'zygote' ? constants.MAX_ZYGOTE_FRAME : constants.MAX_CLIENT_FRAME);

/** Decodes a vector's stream whole, and byte by byte (its fds with the first byte). */
function decode(v: FrameVector, split: boolean): { frames: Array<{ message: Message; fds: number }>; error?: { code?: string; reason?: string } } {
  const bytes = Buffer.from(v.hex, 'hex');
  const fds = devNulls(v.fds);
  const decoder = new FrameDecoder(limitOf(v));
  const out: Array<{ message: Message; fds: number }> = [];
  try {
    const chunks = split ? Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)) : [bytes];
    chunks.forEach((chunk, i) => {
      for (const frame of decoder.push(chunk, i === 0 ? fds : [])) {
        out.push({ message: frame.message, fds: frame.fds.length });
        closeAll(frame.fds);
      }
    });
    return { frames: out };
  } catch (err) {
    return { frames: out, error: err as { code?: string; reason?: string } };
  } finally {
    closeAll(decoder.drainFds());
    closeAll(fds);
  }
}

t.test('frames.json: each valid stream decodes to its message with its fds, whole or byte by byte', async (t) => {
  const before = openFds();
  for (const v of frames.valid) {
    for (const split of [false, true]) {
      const { frames: got, error } = decode(v, split);
      t.notOk(error, `${v.name}${split ? ' (byte by byte)' : ''}: no error`);
      t.same(got, [{ message: v.message, fds: v.fds }], `${v.name}${split ? ' (byte by byte)' : ''}: its message and ${v.fds} fds`);
    }
    // What this side writes reads back as the same message (the bytes may be spelled otherwise).
    const again = new FrameDecoder(limitOf(v)).push(encodeFrame(v.message!, 0), []);
    t.same(again.map((f) => f.message), [v.message], `${v.name}: encodeFrame writes it back`);
  }
  t.equal(openFds(), before, 'no fd left open');
});

t.test('frames.json: each invalid stream fails with its code and frameErrors reason', async (t) => {
  const before = openFds();
  for (const v of frames.invalid) {
    for (const split of [false, true]) {
      const { error } = decode(v, split);
      t.same({ code: error?.code, reason: error?.reason }, { code: v.error, reason: v.reason }, `${v.name}${split ? ' (byte by byte)' : ''}: ${v.error} ${v.reason}`);
    }
    t.ok(Object.hasOwn(PROTOCOL.frameErrors, v.reason!), `${v.name}: ${v.reason} is a frameErrors code`);
  }
  t.equal(openFds(), before, 'no fd left open');
});

t.test('frames.json: the limits are each reader\'s own', async (t) => {
  // A frame just over the client limit is refused by a client-frame reader only.
  const header = Buffer.alloc(8);
  header.write('PN', 0, 'latin1');
  header.writeUInt8(1, 2);
  header.writeUInt32BE(constants.MAX_CLIENT_FRAME + 1, 4);
  t.throws(() => new FrameDecoder(constants.MAX_CLIENT_FRAME).push(header, []), { code: 'EPROTO', reason: 'too-long' });
  t.same(new FrameDecoder(constants.MAX_ZYGOTE_FRAME).push(header, []), [], 'a zygote-frame reader waits for the rest');
  header.writeUInt32BE(constants.MAX_CLIENT_FRAME, 4);
  t.same(new FrameDecoder(constants.MAX_CLIENT_FRAME).push(header, []), [], 'exactly the client limit is allowed');
});

const routes = vectors<{ routes: Array<{ python: string; cwd: string; file: string; session?: number; name: string }> }>('route-names.json', {
  routes: [{ python: '/usr/bin/python3', cwd: '/home/u', file: 'a.py', name: '8e2a555f458ec9f8' }],
});

t.test('route-names.json: routeName gives each name', async (t) => {
  t.ok(routes.routes.length > 0, 'there are routes to check');
  for (const r of routes.routes) t.equal(routeName(r.python, r.cwd, r.file, r.session), r.name, `${JSON.stringify([r.python, r.cwd, r.file, r.session])}`);
});

interface RunArgsCase { name: string; argv: string[]; env?: Record<string, string>; result?: Record<string, unknown>; usage?: boolean; runner?: string }

const runArgs = vectors<{ cases: RunArgsCase[] }>('run-args.json', {
  cases: [
    { name: 'a.py -x -- b', argv: ['a.py', '-x', '--', 'b'], result: { file: 'a.py', args: ['-x', '--', 'b'], options: [], pythonArgv: ['a.py', '-x', '--', 'b'] } },
    { name: '-u a.py', argv: ['-u', 'a.py'], result: { file: 'a.py', args: [], options: ['-u'], pythonArgv: ['-u', 'a.py'], env: { PYTHONUNBUFFERED: '1' } } },
    { name: '-i a.py', argv: ['-i', 'a.py'], result: { direct: true, pythonArgv: ['-i', 'a.py'] } },
    { name: '--python', argv: ['--python'], usage: true, runner: 'node' },
  ],
});

/** What the vectors say of a command line: parseRunArgs, then planPythonOptions with the case's environment. */
function readRunArgs(argv: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const parsed = parseRunArgs(argv);
  const plan = parsed.direct === undefined ? planPythonOptions(parsed.options, env) : undefined;
  if (plan === undefined || plan.unsupported.length) {
    return { direct: true, ...(parsed.python !== undefined ? { python: parsed.python } : {}), pythonArgv: parsed.pythonArgv };
  }
  // An absent field is absent, not undefined-valued, in the vectors.
  const got: Record<string, unknown> = Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined));
  if (Object.keys(plan.env).length) got.env = plan.env;
  return got;
}

t.test('run-args.json: parseRunArgs gives each result or a usage error', async (t) => {
  t.ok(runArgs.cases.some((c) => c.result?.direct) && runArgs.cases.some((c) => c.result?.env) && runArgs.cases.some((c) => c.result?.code !== undefined), 'the vectors have direct runs, variables and -c');
  for (const c of runArgs.cases) {
    if (c.usage) {
      let error: unknown = null;
      try {
        parseRunArgs(c.argv);
      } catch (err) {
        error = err;
      }
      t.ok(error instanceof UsageError, `${c.name}: a usage error`);
      continue;
    }
    t.strictSame(readRunArgs(c.argv, c.env), c.result, `${c.name}`);
  }
});

type FdKind = 'pipe' | 'tty' | 'file' | 'dir' | 'closed';
interface RequestCase { name: string; request: Message; fds: FdKind[]; daemon: string | null; lane: string | null }

const SAMPLE_REQUEST = {
  type: 'run', client: '0.1.0', file: 'a.py', args: ['x'], cwd: '$DIR', env: { PATH: '/usr/bin:/bin' },
  python: '$PYTHON', argv0: 'python3', stdio: [true, true, true], cwdFd: true,
};
const requests = vectors<{ lane: { files: string[] }; requests: RequestCase[] }>('requests.json', {
  lane: { files: ['a.py'] },
  requests: [
    { name: 'a whole request', request: SAMPLE_REQUEST, fds: ['pipe', 'tty', 'file', 'dir'], daemon: 'accept', lane: 'accept' },
    { name: 'stdin a directory', request: SAMPLE_REQUEST, fds: ['dir', 'pipe', 'pipe', 'dir'], daemon: 'stdio-is-directory', lane: 'stdio-is-directory' },
    { name: 'stdout closed', request: SAMPLE_REQUEST, fds: ['pipe', 'closed', 'pipe', 'dir'], daemon: 'stdio-not-open', lane: 'stdio-not-open' },
  ],
});

/** Real fds of each kind; `closed` is a number no fd of this process has. */
function makeFds(kinds: FdKind[], dir: string): { fds: number[]; opened: number[] } {
  const opened: number[] = [];
  const fds = kinds.map((kind) => {
    switch (kind) {
      case 'pipe': {
        const [a, b] = native.socketpair(); // what a 'pipe' is for the Node API, as for libuv
        opened.push(a, b);
        return a;
      }
      case 'tty': {
        const fd = fs.openSync('/dev/ptmx', fs.constants.O_RDWR | fs.constants.O_NOCTTY); // a pseudo-terminal
        opened.push(fd);
        return fd;
      }
      case 'file': {
        const fd = fs.openSync(path.join(dir, 'out.txt'), 'a');
        opened.push(fd);
        return fd;
      }
      case 'dir': {
        const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
        opened.push(fd);
        return fd;
      }
      case 'closed': {
        let fd = 900;
        while (native.fdKind(fd) !== null) fd++;
        return fd;
      }
    }
  });
  return { fds, opened };
}

function substitute(value: unknown, dir: string, python: string): unknown {
  if (typeof value === 'string') return value.replaceAll('$DIR', dir).replaceAll('$PYTHON', python);
  if (Array.isArray(value)) return value.map((v) => substitute(v, dir, python));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, dir, python)]));
  }
  return value;
}

t.test('requests.json: the daemon\'s checks give each verdict, on real fds of each kind', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-vectors-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const file of requests.lane.files) fs.writeFileSync(path.join(dir, file), 'print("hi")\n');
  let checked = 0;
  for (const c of requests.requests) {
    if (c.daemon === null) continue; // not the daemon's check (another request type)
    const message = substitute(c.request, dir, process.execPath) as Message;
    const { fds, opened } = makeFds(c.fds, dir);
    let verdict = 'accept';
    try {
      checkRunFds(checkRunRequest(message, fds.length), fds, native.fdKind);
    } catch (err) {
      t.equal((err as { code?: string }).code, 'EBADREQUEST', `${c.name}: EBADREQUEST`);
      verdict = String((err as { reason?: string }).reason);
    } finally {
      closeAll(opened);
    }
    t.equal(verdict, c.daemon, `${c.name}: ${c.daemon}`);
    if (c.daemon !== 'accept') t.ok(Object.hasOwn(PROTOCOL.requestChecks, c.daemon), `${c.name}: ${c.daemon} is a requestChecks code`);
    checked++;
  }
  t.ok(checked > 0, `${checked} requests checked`);
});

t.test('protocol-constants.ts holds protocol.json\'s values', async (t) => {
  t.equal(constants.PROTOCOL_VERSION, PROTOCOL.version);
  t.equal(constants.MAGIC, Buffer.from(PROTOCOL.magic, 'latin1').readUInt16BE(0), 'magic');
  t.equal(constants.HEADER_SIZE, PROTOCOL.headerSize);
  t.equal(constants.MAX_CLIENT_FRAME, PROTOCOL.limits.clientFrameBytes);
  t.equal(constants.MAX_CLIENT_FRAME, 8 * 1024 * 1024, 'client frames: 8 MiB');
  t.equal(constants.MAX_ZYGOTE_FRAME, PROTOCOL.limits.zygoteFrameBytes);
  t.equal(constants.MAX_ZYGOTE_FRAME, 64 * 1024 * 1024, 'zygote frames: 64 MiB');
  t.equal(constants.MAX_FDS_PER_FRAME, PROTOCOL.limits.fdsPerFrame);
  t.equal(constants.MAX_FDS_PER_FRAME, 253, '253 fds a frame');
  t.equal(constants.MAX_ARGS, PROTOCOL.limits.args);
  t.equal(constants.MAX_LIMITS, PROTOCOL.limits.resourceLimits);
  t.equal(constants.NOTIFY_TOKEN_BELOW, PROTOCOL.limits.notifyTokenBelow);
  t.same(constants.NOTIFY_SIGNAL_NAMES, PROTOCOL.notifySignals);
  t.equal(constants.DEBUG_VARIABLE, PROTOCOL.debug.variable);
  t.equal(constants.DEBUG_PREFIX, PROTOCOL.debug.prefix);
  // The frame header as encodeFrame writes it.
  const frame = encodeFrame({ type: 'x' }, 3);
  t.equal(frame.subarray(0, 2).toString('latin1'), PROTOCOL.magic);
  t.equal(frame.readUInt8(2), PROTOCOL.version);
  t.equal(frame.readUInt8(3), 3, 'the fd count');
  t.equal(frame.readUInt32BE(4), frame.length - PROTOCOL.headerSize, 'the payload length');
});

t.test('a frame of 253 fds goes through a real socket and the channel\'s reader', async (t) => {
  // The addon's recvMsg has room for 253 fds (the kernel's SCM_MAX_FD): what a frame may carry.
  const before = openFds();
  const [a, b] = native.socketpair();
  const fds = devNulls(constants.MAX_FDS_PER_FRAME);
  native.sendMsg(a, encodeFrame({ type: 'fds' }, fds.length), fds);
  closeAll(fds);
  const received = native.recvMsg(b, 64 * 1024, constants.MAX_FDS_PER_FRAME);
  t.equal(received?.fds.length, constants.MAX_FDS_PER_FRAME, 'all 253 fds arrive in one recvmsg');
  const decoded = new FrameDecoder(constants.MAX_CLIENT_FRAME).push(received!.data, received!.fds);
  t.equal(decoded[0].fds.length, constants.MAX_FDS_PER_FRAME, 'and go with the frame');
  closeAll(decoded[0].fds);
  closeAll([a, b]);
  t.equal(openFds(), before, 'no fd left open');
});

interface ClusterVector { name: string; message: Message; verdict: string; inFlight?: number[]; inFlightCount?: number }
const clusterSession = JSON.parse(fs.readFileSync(path.join(VECTORS, 'cluster-session.json'), 'utf8')) as { requests: ClusterVector[]; frames: ClusterVector[] };

t.test('cluster-session.json: a session\'s first frame and its frames through the daemon\'s checks', async (t) => {
  const { checkClusterRequest, checkSessionFrame } = await import('../lib/daemon/cluster-check');
  const verdict = (check: () => unknown): string => {
    try {
      check();
      return 'accept';
    } catch (err) {
      t.equal((err as { code?: string }).code, 'ECLUSTER');
      return (err as { reason?: string }).reason ?? String(err);
    }
  };
  t.ok(clusterSession.requests.length > 5 && clusterSession.frames.length > 5);
  for (const v of clusterSession.requests) t.equal(verdict(() => checkClusterRequest(v.message)), v.verdict, v.name);
  for (const v of clusterSession.frames) {
    const inFlight = new Set(v.inFlight ?? Array.from({ length: v.inFlightCount ?? 0 }, (_, i) => i + 1));
    t.equal(verdict(() => checkSessionFrame(v.message, inFlight)), v.verdict, v.name);
  }
  const codes = new Set([...clusterSession.requests, ...clusterSession.frames].map((v) => v.verdict));
  t.same(Object.keys(PROTOCOL.cluster.checks).filter((c) => !codes.has(c)), [], 'every cluster.checks code has a vector');
  t.same(constants.CLUSTER_LIMITS, PROTOCOL.cluster.limits);
});
