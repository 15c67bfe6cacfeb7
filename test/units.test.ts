// Pure functions on their own, beyond the shared vectors (test/vectors.test.ts): run-argument
// parsing (lib/cli/run-args.ts, python's command line), route names (lib/shared/route-name.ts) against a plain BigInt
// FNV-1a, the daemon's request checks at their limits (lib/daemon/request-check.ts), and the
// status text of path counts (lib/cli/status.ts), socket closes held while a socket of ours is
// in flight (lib/shared/socket-closes.ts).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseRunArgs, UsageError } from '../lib/cli/run-args';
import { formatStatus } from '../lib/cli/status';
import { checkRunFds, checkRunRequest } from '../lib/daemon/request-check';
import { fdCountOf } from '../lib/shared/messages';
import { MAX_ARGS, MAX_LIMITS } from '../lib/shared/protocol-constants';
import { routeName, routesDir } from '../lib/shared/route-name';
import { closeSocket, socketInFlight } from '../lib/shared/socket-closes';
import type { Message } from '../lib/shared/wire';

function usageError(argv: string[]): string | null {
  try {
    parseRunArgs(argv);
    return null;
  } catch (err) {
    return err instanceof UsageError ? err.message : `not a UsageError: ${String(err)}`;
  }
}

t.test('run arguments: what follows the script is the script\'s, verbatim', async (t) => {
  t.same(parseRunArgs(['a.py', '--python', 'x', '-m', 'y', '--file', '--']), { file: 'a.py', args: ['--python', 'x', '-m', 'y', '--file', '--'], options: [], pythonArgv: ['a.py', '--python', 'x', '-m', 'y', '--file', '--'] });
  t.same(parseRunArgs(['--python', '/a', '--python', '/b', 'a.py']), { file: 'a.py', args: [], python: '/b', options: [], pythonArgv: ['a.py'] }, 'the last --python counts');
  t.same(parseRunArgs(['--python=', 'a.py']), { file: 'a.py', args: [], python: '', options: [], pythonArgv: ['a.py'] }, '--python= is an empty interpreter (resolved later as unset)');
  t.match(parseRunArgs(['-m', '-x']), { direct: /not a module name/, pythonArgv: ['-m', '-x'] }, 'after -m comes the module: not a name, python says so itself');
  t.same(parseRunArgs(['--file', 'a.py', '--args']), { file: 'a.py', args: [], options: [], pythonArgv: ['a.py'] }, '--args with nothing after it');
  t.same(parseRunArgs(['--', '--', 'x']), { file: '--', args: ['x'], options: [], pythonArgv: ['--', '--', 'x'] }, 'a script named --, after --');
  t.same(parseRunArgs(['-u', '-c', 'pass', '-u']), { code: 'pass', args: ['-u'], options: ['-u'], pythonArgv: ['-u', '-c', 'pass', '-u'] }, '-c ends the options');
  t.match(parseRunArgs(['--unknown', 'a.py']), { direct: /an option python reads itself \(--unknown\)/ }, 'python reads what it does not know');
  t.match(parseRunArgs(['-p', 'py', 'a.py']), { direct: /\(-p\)/ }, '-p is not python\'s (pynwheel\'s own options are long ones)');
  t.match(parseRunArgs(['-u', '--python', 'py', 'a.py']), { direct: /\(--python\)/, pythonArgv: ['-u', '--python', 'py', 'a.py'] }, 'pynwheel\'s options stand first');
  t.match(parseRunArgs([]), { direct: /no script/, pythonArgv: [] });
  t.match(parseRunArgs(['-m']), { direct: /without its argument \(-m\)/ }, 'python prints its own words');
  t.match(usageError(['--python']), /--python needs an interpreter path/);
  t.match(usageError(['--file', 'a.py', 'b']), /only --args may follow, not "b"/);
});

/** FNV-1a 64 as its definition says, in BigInt: what routeName's two 32-bit halves must equal. */
function fnv1a64(bytes: Buffer): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return hash.toString(16).padStart(16, '0');
}

t.test('route names: FNV-1a 64 of python NUL cwd NUL file, for any text', async (t) => {
  t.equal(routeName('', '', ''), fnv1a64(Buffer.from('\0\0')), 'empty parts');
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  const alphabet = ['a', '/', '.', ' ', 'ü', '€', '\u{1f600}', '\0', 'Z', '\u0001'];
  const text = () => Array.from({ length: Math.floor(random() * 40) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
  let same = 0;
  for (let i = 0; i < 2000; i++) {
    const [python, cwd, file] = [text(), text(), text()];
    if (routeName(python, cwd, file) === fnv1a64(Buffer.from(`${python}\0${cwd}\0${file}`))) same++;
  }
  t.equal(same, 2000, '2000 random names agree with the BigInt definition');
  t.match(routeName('/usr/bin/python3', '/home/u', 'a.py'), /^[0-9a-f]{16}$/, '16 lowercase hex digits');
  t.equal(routesDir('/run/pnw'), '/run/pnw/r');
});

const base = (): Record<string, unknown> => ({
  type: 'run', client: '0.1.0', file: 'a.py', args: [], cwd: '/', env: {}, python: '/usr/bin/python3', argv0: 'python3',
  stdio: [true, true, true], cwdFd: false,
});
function reason(message: Record<string, unknown>, fdCount = fdCountOf(message as never)): string {
  try {
    checkRunRequest(message as Message, fdCount);
    return 'accept';
  } catch (err) {
    const e = err as { code?: string; reason?: string; message: string };
    return e.code === 'EBADREQUEST' && e.message.startsWith('bad run request: ') ? String(e.reason) : `unexpected ${e.code}: ${e.message}`;
  }
}

t.test('request checks at their limits', async (t) => {
  t.equal(reason({ ...base(), args: Array.from({ length: MAX_ARGS }, () => 'x') }), 'accept', `${MAX_ARGS} arguments`);
  t.equal(reason({ ...base(), args: Array.from({ length: MAX_ARGS + 1 }, () => 'x') }), 'bad-args', `${MAX_ARGS + 1} arguments`);
  const limit: [number, number, number] = [0, -1, -1];
  t.equal(reason({ ...base(), umask: 0, limits: Array.from({ length: MAX_LIMITS }, () => limit) }), 'accept', `${MAX_LIMITS} limits`);
  t.equal(reason({ ...base(), umask: 0, limits: Array.from({ length: MAX_LIMITS + 1 }, () => limit) }), 'bad-limits', `${MAX_LIMITS + 1} limits`);
  t.equal(reason({ ...base(), umask: 0o777 }), 'accept', 'umask 0o777');
  t.equal(reason({ ...base(), notify: [os.constants.signals.SIGURG, 2 ** 53 - 1] }), 'accept', 'the largest notify token');
  t.equal(reason({ ...base(), notify: [os.constants.signals.SIGURG, 1.5] }), 'bad-notify', 'a fractional token');
  t.equal(reason({ ...base(), module: 'a', file: undefined }), 'accept', 'a module run (file undefined is no file)');
  t.equal(reason({ ...base(), env: { 'A B': 'x', é: 'y' } }), 'accept', 'any name without "=" or NUL');
  t.equal(reason({ ...base(), env: null }), 'bad-env');
  t.equal(reason(base(), 1), 'fd-count', 'fewer fds than announced');
  t.equal(reason({ ...base(), stdio: [false, false, false], cwdFd: true }, 1), 'accept', 'the cwd fd alone');
});

// What native.fdKind answers for real fds of each kind is checked in test/vectors.test.ts.
t.test('fd checks: in order stdin, stdout, stderr, then the cwd', async (t) => {
  const kinds: Record<number, string | null> = { 10: 'chr', 11: 'socket', 12: 'fifo', 13: 'dir', 14: null, 15: 'file' };
  const kindOf = (fd: number) => kinds[fd] ?? null;
  const check = (request: Record<string, unknown>, fds: number[]): string => {
    try {
      checkRunFds(checkRunRequest(request as Message, fds.length), fds, kindOf);
      return 'accept';
    } catch (err) {
      return `${String((err as { reason?: string }).reason)}: ${(err as Error).message}`;
    }
  };
  t.equal(check({ ...base(), cwdFd: true }, [10, 11, 12, 13]), 'accept', 'a tty, a socket, a pipe and a directory');
  t.equal(check({ ...base(), stdio: [false, true, true] }, [13, 15]), 'stdio-is-directory: bad run request: stdout is a directory', 'a closed stdin shifts the fds');
  t.equal(check(base(), [10, 14, 13]), 'stdio-not-open: bad run request: stdout is not an open fd', 'the first failure counts');
  t.equal(check({ ...base(), cwdFd: true }, [10, 10, 10, 15]), 'cwd-fd-not-directory: bad run request: the cwd fd is not a directory');
  t.equal(check({ ...base(), stdio: [false, false, false], cwdFd: true }, [14]), 'cwd-fd-not-directory: bad run request: the cwd fd is not a directory', 'a closed cwd fd');
});

t.test('status text: each zygote\'s paths and its last declines, from a zygote that counts them or not', async (t) => {
  const now = Date.now();
  const zygote = {
    pid: 10, python: '/v/bin/python3', version: '3.11.4 (main)', key: { realPython: '/usr/bin/python3.11', env: {}, family: [] },
    startedAt: now, runs: 5, active: 0, forks: { spare: 4, onDemand: 1 }, lane: { served: 3 }, preloaded: [],
  };
  const counted = formatStatus({
    pid: 1, version: '0.1.0', startedAt: now, runs: 5, active: 0,
    zygotes: [{
      ...zygote,
      paths: { lane: 3, daemon: 2, routed: 1, stale: 0 },
      declines: { 'unknown-script': 1, 'other-key-env': 2 },
      recentDeclines: [['other-key-env', 'another value', now / 1000 - 30], ['unknown-script', 'not run', now / 1000 - 20], ['other-key-env', 'again', now / 1000 - 10], ['other-key-env', 'last', now / 1000]],
    }],
  });
  t.match(counted, /\n {2}paths: 3 from the lane, 2 through the daemon \(1 routed here for their family, 0 after a stale zygote\)\n/);
  t.match(counted, /\n {2}lane declines: other-key-env 2, unknown-script 1\n/, 'most frequent first');
  t.match(counted, /\n {2}last declines: unknown-script \(not run\) 20s ago; other-key-env \(again\) 10s ago; other-key-env \(last\) 0s ago\n/, 'the last three, newest last');
  const uncounted = formatStatus({ pid: 1, version: '0.1.0', startedAt: now, runs: 5, active: 0, zygotes: [{ ...zygote, paths: { routed: 0, stale: 2 }, declines: {}, recentDeclines: [] }] });
  t.match(uncounted, /\n {2}paths: 0 routed here for their family, 2 after a stale zygote\n/, 'a zygote that does not count its own: the daemon\'s counts alone');
  t.notMatch(uncounted, /declines/, 'no decline lines without declines');
});

t.test('socket closes wait while a socket of ours is in flight, and happen once none is', async (t) => {
  const isOpen = (fd: number): boolean => { try { fs.fstatSync(fd); return true; } catch { return false; } };
  const [a, b] = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r')];
  closeSocket(a);
  t.notOk(isOpen(a), 'nothing in flight: closed at once');
  const first = socketInFlight();
  const second = socketInFlight();
  closeSocket(b);
  t.ok(isOpen(b), 'held while two are in flight');
  first();
  first(); // a second word of the same one counts once
  t.ok(isOpen(b), 'held while one still is');
  second();
  t.notOk(isOpen(b), 'closed once none is');
});
