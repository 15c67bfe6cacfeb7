// The Node API: run() and spawn() against child_process.spawn of python3 (same stdout, stderr
// and exit), each option, limits that kill the run (timeout, abort, maxBuffer) leaving no
// process behind, 100 calls at once, and the errors' parsed traceback.
import t, { type Test } from 'tap';
import { spawn as spawnChild } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { AbortError, MaxBufferError, PythonError, PynwheelError, run, spawn, TimeoutError, type RunOptions } from '../dist/index';
import { collect, isAlive, makeSandbox, sleep, view, write, type Outcome, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('api'); });
t.teardown(() => sb.cleanup());

const opts = (extra: RunOptions = {}): RunOptions => ({ cwd: sb.dir, env: sb.env, ...extra });

/** run() with reject: false, shaped like helpers' Outcome for view(). */
async function viaRun(args: string[], extra: RunOptions = {}): Promise<Outcome> {
  const r = await run(args[0], args.slice(1), opts({ reject: false, ...extra }));
  return { stdout: r.stdout as Buffer, stderr: r.stderr as Buffer, status: r.exitCode, signal: r.signal };
}

/** The same script with child_process.spawn('python3', [...pythonOptions, ...args]) and run(). */
async function same(t: Test, args: string[], extra: RunOptions = {}): Promise<Outcome> {
  const py = await collect('python3', [...(extra.pythonOptions ?? []), ...args], {
    cwd: sb.dir, env: extra.env ?? sb.env, input: extra.input as string | undefined,
  });
  const pnw = await viaRun(args, extra);
  t.same(view(pnw), view(py), `run() == python3 ${[...(extra.pythonOptions ?? []), ...args].join(' ')}`);
  return pnw;
}

t.test('differential: stdout, stderr, exit status and an uncaught exception as python3 has them', async (t) => {
  write(sb, 'both.py', [
    'import sys',
    'print("out", sys.argv[1:], repr(sys.stdin.read()))',
    'print("err", file=sys.stderr)',
    'sys.stdout.flush()',
    'if sys.argv[1:] == ["raise"]:',
    '    raise ValueError("bad value")',
    'sys.exit(int(sys.argv[1]))',
  ].join('\n') + '\n');
  await same(t, ['both.py', '0'], { input: 'some input\n' });
  await same(t, ['both.py', '3']);
  await same(t, ['both.py', 'raise']);
  write(sb, 'killself.py', 'import os, signal\nprint("bye", flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\n');
  const killed = await same(t, ['killself.py']);
  t.equal(killed.signal, 'SIGTERM');
  write(sb, 'fds.py', 'import os, stat\nprint([stat.S_ISSOCK(os.fstat(fd).st_mode) for fd in (0, 1, 2)], os.isatty(1))\n');
  await same(t, ['fds.py'], { input: '' }); // pipes are socketpairs, as libuv makes them
});

t.test('pipes are this process\'s own socketpairs: output never passes through the daemon', async (t) => {
  write(sb, 'peer.py', [
    'import os, socket, struct',
    'for fd in (0, 1, 2):',
    '    s = socket.socket(fileno=os.dup(fd))',
    '    print(struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0])',
  ].join('\n') + '\n');
  const r = await run('peer.py', opts({ encoding: 'utf8', input: '' }));
  // SO_PEERCRED of a socketpair names the process that made it: here, this one.
  t.same((r.stdout as string).trim().split('\n').map(Number), [process.pid, process.pid, process.pid], 'the other end of stdin, stdout and stderr is this process');
});

t.test('the result: Buffers by default, strings with encoding, parsed lines with mode json', async (t) => {
  write(sb, 'lines.py', 'import json, sys\nfor i in range(3):\n    print(json.dumps({"i": i, "s": "é"}))\nprint("note", file=sys.stderr)\n');
  const plain = await run('lines.py', opts());
  t.ok(Buffer.isBuffer(plain.stdout) && Buffer.isBuffer(plain.stderr), 'Buffers');
  t.equal(plain.exitCode, 0);
  t.equal(plain.signal, null);
  t.type(plain.durationMs, 'number');
  const text = await run('lines.py', opts({ encoding: 'utf8' }));
  t.equal(text.stdout, '{"i": 0, "s": "\\u00e9"}\n{"i": 1, "s": "\\u00e9"}\n{"i": 2, "s": "\\u00e9"}\n');
  t.equal(text.stderr, 'note\n');
  write(sb, 'bytes.py', 'import sys\nsys.stdout.buffer.write(b"\\xe9\\n")\n');
  t.equal((await run('bytes.py', opts({ encoding: 'latin1' }))).stdout, 'é\n', 'any Node encoding');
  const json = await run('lines.py', opts({ mode: 'json' }));
  t.same(json.stdout, [{ i: 0, s: 'é' }, { i: 1, s: 'é' }, { i: 2, s: 'é' }]);
  t.equal(json.stderr, 'note\n', 'stderr stays text in mode json');
  const binary = await run('lines.py', opts({ mode: 'binary' }));
  t.ok(Buffer.isBuffer(binary.stdout));
  write(sb, 'notjson.py', 'print("[1]")\nprint("oops")\n');
  const bad = await run('notjson.py', opts({ mode: 'json' })).catch((e) => e);
  t.equal(bad.code, 'EJSONLINE');
  t.equal(bad.line, 'oops');
  t.same(bad.stdout, [[1]], 'the lines parsed before it');
});

t.test('cwd, env, pythonPath and its alias python, module, scriptPath, args in options', async (t) => {
  write(sb, 'sub/where.py', 'import os, sys\nprint(os.getcwd(), os.environ.get("PNW_API"), sys.executable, sys.argv[1:])\n');
  const venvPython = path.join(sb.venv, 'bin', 'python3');
  const r = await run('where.py', ['a b', '--flag'], opts({ cwd: path.join(sb.dir, 'sub'), env: { ...sb.env, PNW_API: 'yes' }, encoding: 'utf8' }));
  t.equal(r.stdout, `${path.join(sb.dir, 'sub')} yes ${venvPython} ['a b', '--flag']\n`);
  const viaAlias = await run('sub/where.py', opts({ python: venvPython, encoding: 'utf8', args: ['x'] }));
  t.match(viaAlias.stdout, new RegExp(` None ${venvPython} \\['x'\\]\\n$`), 'python-shell\'s args option, and python as an alias');
  const viaScriptPath = await run('where.py', opts({ pythonPath: venvPython, scriptPath: 'sub', encoding: 'utf8' }));
  t.match(viaScriptPath.stdout, /\[\]\n$/);
  const fromUrl = await run(new URL(`file://${path.join(sb.dir, 'sub', 'where.py')}`), opts({ cwd: new URL(`file://${sb.dir}`), encoding: 'utf8' }));
  t.match(fromUrl.stdout, new RegExp(`^${sb.dir} `), 'file and cwd as file: URLs');
  const py = await collect('python3', ['-m', 'json.tool'], { cwd: sb.dir, env: sb.env, input: '{"b": [1, 2]}' });
  const mod = await run('json.tool', opts({ module: true, input: '{"b": [1, 2]}' }));
  t.equal(mod.stdout.toString(), py.stdout.toString(), 'module: as python -m');
});

t.test('env defaults to process.env', async (t) => {
  write(sb, 'envdefault.py', 'import os\nprint(os.environ.get("PNW_FROM_PROCESS"))\n');
  const saved = { ...process.env };
  Object.assign(process.env, { PYNWHEEL_RUNTIME_DIR: sb.runtimeDir, PYNWHEEL_IDLE: '120', PNW_FROM_PROCESS: 'inherited', PATH: sb.env.PATH, LANG: 'C.UTF-8' });
  delete process.env.VIRTUAL_ENV;
  delete process.env.PYNWHEEL_PYTHON;
  try {
    const r = await run('envdefault.py', { cwd: sb.dir, encoding: 'utf8' });
    t.equal(r.stdout, 'inherited\n');
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
});

t.test('pythonOptions are honoured as python honours them', async (t) => {
  write(sb, 'flags.py', [
    'import sys, io, faulthandler, warnings',
    'def documented():',
    '    "a docstring, which -OO strips"',
    'print("optimize", sys.flags.optimize, "debug", __debug__, "docstring", documented.__doc__)',
    'print("bytecode", sys.dont_write_bytecode, "warnoptions", sys.warnoptions, "utf8", sys.flags.utf8_mode)',
    'print("dev", sys.flags.dev_mode, "faulthandler", faulthandler.is_enabled(), "digits", sys.get_int_max_str_digits())',
    'print("unbuffered", isinstance(sys.stdout.buffer, io.RawIOBase), "ignore_env", sys.flags.ignore_environment)',
    'warnings.warn("careful", DeprecationWarning)',
  ].join('\n') + '\n');
  for (const pythonOptions of [
    ['-u'], ['-B'], ['-O'], ['-OO'], ['-W', 'error::DeprecationWarning'], ['-Wdefault'],
    ['-X', 'utf8'], ['-X', 'dev'], ['-Xfaulthandler', '-X', 'int_max_str_digits=700'], ['-uB', '-O'],
    ['-E'], // no variable stands for it: the interpreter runs the script itself
  ]) {
    await same(t, ['flags.py'], { pythonOptions });
  }
  const imports = await run('flags.py', opts({ pythonOptions: ['-X', 'importtime'], encoding: 'utf8' }));
  t.match(imports.stderr, /import time: .*\| encodings/, '-X importtime reports the imports (python itself runs it)');
});

t.test('stdio: inherit, ignore, per stream, an fd, a stream with an fd, a stream without', async (t) => {
  write(sb, 'io.py', 'import sys\ndata = sys.stdin.read() if sys.stdin else None\nprint("out", repr(data))\nprint("err", file=sys.stderr)\n');
  const ignored = await run('io.py', opts({ stdio: 'ignore' }));
  t.equal(ignored.stdout, null);
  t.equal(ignored.stderr, null);
  const mixed = await run('io.py', opts({ stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }));
  t.equal(mixed.stdout, "out ''\n", "'ignore' stdin is /dev/null");
  t.equal(mixed.stderr, null);
  const file = path.join(sb.dir, 'captured.txt');
  const fd = fs.openSync(file, 'w');
  try {
    await run('io.py', opts({ stdio: ['pipe', fd, fd], input: 'to a file' }));
  } finally {
    fs.closeSync(fd);
  }
  t.equal(fs.readFileSync(file, 'utf8'), "err\nout 'to a file'\n", 'one fd for both (stdout to a file is block-buffered)');
  const fileStream = fs.createWriteStream(file);
  await new Promise((resolve) => fileStream.on('open', resolve));
  await run('io.py', opts({ stdio: ['ignore', fileStream, 'ignore'] }));
  await new Promise((resolve) => fileStream.end(resolve));
  t.equal(fs.readFileSync(file, 'utf8'), "out ''\n", 'a stream with an fd: the fd itself');
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (d: Buffer) => chunks.push(d));
  const viaStream = await run('io.py', opts({ stdio: [Readable.from(['from ', 'a stream']), sink, 'pipe'], encoding: 'utf8' }));
  await finished(sink);
  t.equal(Buffer.concat(chunks).toString(), "out 'from a stream'\n", 'a stream without an fd is fed through a pipe');
  t.equal(viaStream.stderr, 'err\n');
  // 'inherit' gives the caller's own fds: the output is the node process's.
  const script = `require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))}).run('io.py', { stdio: 'inherit' }).then((r) => console.error(JSON.stringify(r.stdout)))`;
  const inherited = await collect(process.execPath, ['-e', script], { cwd: sb.dir, env: sb.env, input: 'typed' });
  t.equal(inherited.stdout.toString(), "out 'typed'\n");
  t.equal(inherited.stderr.toString(), 'err\nnull\n');
});

t.test('input: a string, a Buffer, a Readable; none closes a piped stdin', async (t) => {
  write(sb, 'upper.py', 'import sys\nprint(sys.stdin.read().upper(), end="")\n');
  t.equal((await run('upper.py', opts({ input: 'abc', encoding: 'utf8' }))).stdout, 'ABC');
  t.equal((await run('upper.py', opts({ input: Buffer.from('déf'), encoding: 'utf8' }))).stdout, 'DÉF');
  t.equal((await run('upper.py', opts({ input: Readable.from([Buffer.from('g'), Buffer.from('h')]), encoding: 'utf8' }))).stdout, 'GH');
  t.equal((await run('upper.py', opts({ encoding: 'utf8' }))).stdout, '', 'EOF at once');
  await t.rejects(run('upper.py', opts({ input: 'x', stdio: 'ignore' })), TypeError);
});

t.test('reject: a non-zero exit rejects with a PythonError unless reject is false', async (t) => {
  write(sb, 'three.py', 'import sys\nprint("partial")\nsys.exit(3)\n');
  const err = await run('three.py', opts({ encoding: 'utf8' })).catch((e) => e);
  t.ok(err instanceof PythonError);
  t.equal(err.exitCode, 3);
  t.equal(err.signal, null);
  t.equal(err.stdout, 'partial\n');
  t.equal(err.traceback, null, 'no traceback for sys.exit');
  t.match(err.message, /three\.py exited with status 3/);
  const ok = await run('three.py', opts({ reject: false }));
  t.equal(ok.exitCode, 3);
});

t.test('an error\'s traceback: type, message and frames', async (t) => {
  write(sb, 'tb/helper.py', 'def divide(a, b):\n    return a / b\n');
  write(sb, 'tb/main.py', [
    'from helper import divide',
    'def outer():',
    '    try:',
    '        {}["missing"]',
    '    except KeyError:',
    '        divide(1, 0)',
    'outer()',
  ].join('\n') + '\n');
  const err = await run('tb/main.py', opts()).catch((e) => e);
  t.ok(err instanceof PythonError);
  t.equal(err.exitCode, 1);
  t.equal(err.traceback.type, 'ZeroDivisionError', 'the exception that ended the run, not the one it was handling');
  t.equal(err.traceback.message, 'division by zero');
  t.same(err.traceback.frames, [
    { file: path.join(sb.dir, 'tb', 'main.py'), line: 7, function: '<module>', source: 'outer()' },
    { file: path.join(sb.dir, 'tb', 'main.py'), line: 6, function: 'outer', source: 'divide(1, 0)' },
    { file: path.join(sb.dir, 'tb', 'helper.py'), line: 2, function: 'divide', source: 'return a / b' },
  ]);
  t.match(err.message, /exited with status 1: ZeroDivisionError: division by zero/);
  write(sb, 'syntax.py', 'print("never"\n');
  const syntax = await run('syntax.py', opts()).catch((e) => e);
  t.equal(syntax.traceback.type, 'SyntaxError');
  t.match(syntax.traceback.frames[0], { file: path.join(sb.dir, 'syntax.py'), line: 1, function: null });
});

t.test('spawn: streams, pid, events in order, kill, and the result promise', async (t) => {
  write(sb, 'echo.py', 'import os, sys\nprint(os.getpid(), flush=True)\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n');
  const child = spawn('echo.py', opts({ encoding: 'utf8' }));
  const events: string[] = [];
  child.on('spawn', () => events.push('spawn'));
  child.on('exit', (code, signal) => events.push(`exit ${code} ${signal}`));
  child.on('close', (code, signal) => events.push(`close ${code} ${signal}`));
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stdin!.write('hello\n');
  while (!out.includes('HELLO')) await sleep(10);
  t.equal(Number(out.split('\n')[0]), child.pid, 'pid is the run\'s own');
  child.stdin!.end('bye\n');
  const result = await child.result;
  t.equal(result.stdout, `${child.pid}\nHELLO\nBYE\n`, 'the result holds all of stdout too');
  t.same(events, ['spawn', 'exit 0 null', 'close 0 null']);
  t.equal(child.exitCode, 0);
  t.equal(child.kill(), false, 'nothing to kill after the exit');

  const interrupted = spawn('echo.py', opts({ encoding: 'utf8' }));
  await new Promise((resolve) => interrupted.stdout!.once('data', resolve)); // in the script, reading stdin
  t.equal(interrupted.kill('SIGINT'), true);
  const err = await interrupted.result.catch((e) => e);
  t.ok(err instanceof PythonError);
  t.equal(err.signal, 'SIGINT', 'an uncaught KeyboardInterrupt dies of SIGINT, as python');
  t.equal(err.traceback?.type, 'KeyboardInterrupt');
  t.equal(interrupted.killed, true);
  t.notOk(isAlive(interrupted.pid!));

  const early = spawn('echo.py', opts());
  t.equal(early.kill('SIGKILL'), true, 'a signal sent before the run has started waits for it');
  t.equal(early.pid, undefined);
  const killed = await early.result.catch((e) => e);
  t.equal(killed.signal, 'SIGKILL');
  t.notOk(isAlive(early.pid!));
});

/** A script that waits until killed; its pid is its first line. */
function sleeper(name: string, ignoreTerm = false): string {
  return write(sb, name, `import os, signal, sys, time\n${ignoreTerm ? 'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n' : ''}print(os.getpid(), flush=True)\ntime.sleep(60)\n`);
}

t.test('timeout kills the run, then rejects with a TimeoutError; nothing is left behind', async (t) => {
  sleeper('slow.py');
  // Long enough for the script to print its pid (and, below, to ignore SIGTERM) first.
  const err = await run('slow.py', opts({ timeout: 1500, encoding: 'utf8' })).catch((e) => e);
  t.ok(err instanceof TimeoutError);
  t.equal(err.code, 'ETIMEDOUT');
  t.equal(err.signal, 'SIGTERM');
  t.equal(Number(err.stdout), err.pid, 'output read so far is kept');
  t.notOk(isAlive(err.pid), 'the run is gone');
  sleeper('stubborn.py', true);
  const forced = await run('stubborn.py', opts({ timeout: 1500, forceKillAfterDelay: 200 })).catch((e) => e);
  t.ok(forced instanceof TimeoutError);
  t.equal(forced.signal, 'SIGKILL', 'SIGKILL when killSignal is ignored');
  t.notOk(isAlive(forced.pid));
});

t.test('an AbortSignal kills the run and rejects with an AbortError; nothing is left behind', async (t) => {
  sleeper('abortable.py');
  const controller = new AbortController();
  const child = spawn('abortable.py', opts({ signal: controller.signal }));
  child.stdout!.once('data', () => controller.abort(new Error('enough')));
  const err = await child.result.catch((e) => e);
  t.ok(err instanceof AbortError);
  t.equal(err.name, 'AbortError');
  t.equal(err.code, 'ABORT_ERR');
  t.equal(err.cause.message, 'enough');
  t.notOk(isAlive(child.pid!), 'the run is gone');
  const early = await run('abortable.py', opts({ signal: AbortSignal.abort() })).catch((e) => e);
  t.ok(early instanceof AbortError, 'an aborted signal starts nothing');
  t.equal(early.pid, undefined);
});

t.test('maxBuffer: more output kills the run and rejects with Node\'s error code', async (t) => {
  write(sb, 'chatty.py', 'import sys, time\nsys.stdout.write("x" * 100000)\nsys.stdout.flush()\ntime.sleep(60)\n');
  const err = await run('chatty.py', opts({ maxBuffer: 1000 })).catch((e) => e);
  t.ok(err instanceof MaxBufferError);
  t.equal(err.code, 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER');
  t.equal(err.stdout.length, 1000, 'what fits is kept');
  t.notOk(isAlive(err.pid));
});

t.test('100 concurrent run() calls from one process all complete with the right outputs', async (t) => {
  write(sb, 'square.py', 'import sys\nn = int(sys.argv[1])\nprint(n * n)\nprint(sys.stdin.read(), file=sys.stderr, end="")\n');
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => run('square.py', [String(i)], opts({ input: `in ${i}`, encoding: 'utf8' }))));
  const wrong = results.map((r, i) => (r.stdout === `${i * i}\n` && r.stderr === `in ${i}` ? null : i)).filter((i) => i !== null);
  t.same(wrong, [], 'every run had its own args, input and output');
});

t.test('pynwheel\'s own trouble is a PynwheelError with a code', async (t) => {
  const err = await run('x.py', opts({ pythonPath: '/nonexistent/python3' })).catch((e) => e);
  t.ok(err instanceof PynwheelError);
  t.equal(err.code, 'ENOPYTHON');
  const child = spawn('x.py', opts({ python: 'no-such-python' }));
  const emitted = await new Promise<Error>((resolve) => child.on('error', resolve));
  t.equal((emitted as PynwheelError).code, 'ENOPYTHON', "spawn emits 'error', as ChildProcess");
  await t.rejects(child.result, { code: 'ENOPYTHON' });
  t.throws(() => spawn('x.py', opts({ stdio: 'ipc' as never })), TypeError, 'bad options throw at once');
});

t.test('ESM entry point', async (t) => {
  write(sb, 'esm.py', 'print("from esm")\n');
  const script = `import { run, PythonError } from 'pynwheel'; const r = await run(${JSON.stringify(path.join(sb.dir, 'esm.py'))}, { encoding: 'utf8' }); console.log(r.stdout.trim(), typeof PythonError);`;
  const r = await collect(process.execPath, ['--input-type=module', '-e', script], { cwd: path.join(__dirname, '..'), env: sb.env });
  t.equal(r.stderr.toString(), '');
  t.equal(r.stdout.toString(), 'from esm function\n');
  // cluster() too, and loading the package loads no BullMQ (about 80 ms) until cluster() is called.
  const loaded = `import * as p from 'pynwheel'; import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);
    const bull = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/bullmq/'));
    const before = bull(); const c = p.cluster('redis://127.0.0.1:1', { key: 'k'.repeat(32) }); const after = bull(); await c.close();
    console.log(typeof p.cluster, before, after);`;
  const c = await collect(process.execPath, ['--input-type=module', '-e', loaded], { cwd: path.join(__dirname, '..'), env: sb.env });
  t.equal(c.stdout.toString(), 'function false true\n', `the ESM entry has cluster(), and BullMQ loads only with it (${c.stderr.toString().trim()})`);
});
