// pynwheel/python-shell against the python-shell package itself: the same script with the same
// options through both, the same events, values, properties and errors. Then what its own suite
// does not cover: 50 shells at once each exchanging 1,000 messages, a script that crashes in the
// middle of a conversation, kill() leaving no process behind, the entry points.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PythonShell as Theirs } from 'python-shell';
import { NewlineTransformer, PythonShell as Ours, PythonShellError, type Options } from '../dist/python-shell/index';
import { daemonStatus, isAlive, makeSandbox, ROOT, sleep, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => {
  sb = makeSandbox('pyshell');
  write(sb, 'py/echo_text.py', 'import sys\nfor line in sys.stdin:\n  print(line[:-1])\n');
  write(sb, 'py/echo_json.py', 'import sys, json\nfor line in sys.stdin:\n  print(json.dumps(json.loads(line)), flush=True)\n');
  write(sb, 'py/echo_binary.py', 'import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n');
  write(sb, 'py/echo_args.py', 'import sys, os\nfor v in sys.argv[1:]:\n  print(v)\nprint(os.getcwd() == os.environ.get("WANT_CWD", os.getcwd()))\n');
  write(sb, 'py/exit_code.py', 'import sys\nsys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)\n');
  write(sb, 'py/error.py', '# an error\n\ndef divide_by_zero():\n  print(1/0)\n\ndivide_by_zero()\n');
  write(sb, 'py/hi_then_error.py', 'print("hi")\nraise Exception("fibble-fah")\n');
  write(sb, 'py/logging_stderr.py', 'import logging, sys\nlogging.basicConfig(level=logging.DEBUG)\nlogging.info("one")\nlogging.getLogger("x").warning("two")\nprint("out")\n');
  write(sb, 'py/unicode.py', 'import sys\nsys.stdout.buffer.write("é ü ✓\\n".encode(sys.argv[1]))\nsys.stderr.buffer.write("ß\\n".encode(sys.argv[1]))\n');
  write(sb, 'py/flags.py', 'import sys\nprint(sys.flags.optimize, sys.flags.dont_write_bytecode, sys.argv)\n');
  write(sb, 'py/quiet_forever.py', 'import time\nwhile True:\n  time.sleep(1)\n');
  write(sb, 'py/forever.py', 'import time\nprint("ready", flush=True)\nwhile True:\n  time.sleep(1)\n');
  write(sb, 'py/crash_midway.py', [
    'import sys, json',
    'for n, line in enumerate(sys.stdin):',
    '  if n == 5:',
    '    raise RuntimeError("crashed at message %d" % n)',
    '  print(json.dumps({"n": n, "got": json.loads(line)}), flush=True)',
  ].join('\n') + '\n');
  write(sb, 'py/partial.py', 'import sys\nfor line in sys.stdin:\n  sys.stdout.write(line[:-1].replace("$", "\\n"))\n  sys.stdout.flush()\n');
  for (const PS of [Ours, Theirs]) PS.defaultOptions = { cwd: sb.dir, env: sb.env };
});
t.teardown(() => sb.cleanup());

type AnyShell = typeof Ours | typeof Theirs;
type Shell = InstanceType<AnyShell>;

/** An error as both packages' tests can compare it: its fields, and its stack without JS frames. */
function errorView(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as Error & Record<string, unknown>;
  const fields = Object.fromEntries(Object.keys(e).sort().map((k) => [k, e[k]]));
  return {
    name: e.name, message: e.message, ...fields,
    stack: e.stack?.split('\n').filter((line) => !line.startsWith('    at ')).join('\n'),
  };
}

/** A shell's life as a list of what happened: every event and what end()'s callback got. */
function observe(PS: AnyShell, script: string, options: Options | undefined, drive: (shell: Shell) => void): Promise<unknown> {
  return new Promise((resolve) => {
    const shell = new PS(script, options as never) as Shell;
    const seen: unknown[] = [['command', shell.command, 'scriptPath', shell.scriptPath, 'terminated', shell.terminated, 'mode', shell.mode]];
    let stdoutData = '';
    for (const event of ['message', 'stderr', 'pythonError', 'error'] as const) {
      shell.on(event, (value: unknown) => seen.push([event, errorView(value)]));
    }
    if (options?.mode === 'binary' && shell.stdout) shell.stdout.on('data', (d: Buffer) => { stdoutData += d.toString('latin1'); });
    shell.on('close', () => seen.push(['close', shell.terminated, shell.exitCode, shell.exitSignal]));
    drive(shell);
    shell.end((err, code, signal) => {
      seen.push(['end', errorView(err), code, signal, shell.terminated, stdoutData]);
      // stdout's and stderr's events interleave as their pipes happen to be read, in either
      // package: each stream's order is compared, not the two streams' interleaving.
      const kinds = ['command', 'message', 'stderr', 'pythonError', 'error', 'close', 'end'];
      resolve(seen.map((e, i) => [e, i] as const)
        .sort(([a, i], [b, j]) => kinds.indexOf((a as string[])[0]) - kinds.indexOf((b as string[])[0]) || i - j)
        .map(([e]) => e));
    });
  });
}

async function same(t: Test, script: string, options: Options | undefined, drive: (shell: Shell) => void = () => undefined): Promise<unknown> {
  const theirs = await observe(Theirs, script, options, drive);
  const ours = await observe(Ours, script, options, drive);
  t.same(ours, theirs, `same as python-shell: ${script} ${JSON.stringify(options ?? {})}`);
  return ours;
}

t.test('conversations in each mode, with formatters and parsers, as python-shell has them', async (t) => {
  await same(t, 'py/echo_text.py', { mode: 'text' }, (s) => s.send('hello').send('world').send(''));
  await same(t, 'py/echo_json.py', { mode: 'json' }, (s) => s.send({ a: 'b' }).send(null).send([1, 2, 3]).send('x'));
  await same(t, 'py/echo_binary.py', { mode: 'binary' }, (s) => s.send(Buffer.from([0, 1, 2, 255])).send(Buffer.from('text')));
  await same(t, 'py/echo_text.py', { formatter: (m: string) => m.toUpperCase(), parser: (m: string) => `<${m}>` }, (s) => s.send('ab').send('cd'));
  await same(t, 'py/echo_text.py', { formatter: 'json', parser: 'json' }, (s) => s.send({ k: [1] }));
  await same(t, 'py/logging_stderr.py', { stderrParser: (m: string) => m.toLowerCase() });
  await same(t, 'py/logging_stderr.py', { stderrParser: 'binary' as never });
  const lines = await same(t, 'py/partial.py', {}, (s) => s.send('{"a"').send(':').send('true}${').send('"a":true}$'));
  t.match(JSON.stringify(lines), /"message","\{\\"a\\":true\}"\].*"message","\{\\"a\\":true\}"\]/, 'lines are whole however they were written');
  for (const encoding of ['utf8', 'latin1', 'utf16le'] as const) {
    await same(t, 'py/unicode.py', { encoding, args: [encoding === 'utf16le' ? 'utf-16-le' : encoding] });
  }
});

t.test('command, scriptPath, args, pythonOptions, cwd and env as python-shell builds and passes them', async (t) => {
  await same(t, 'echo_args.py', { scriptPath: 'py', args: ['hello', 'world'] });
  await same(t, 'flags.py', { scriptPath: path.join(sb.dir, 'py'), pythonOptions: ['-O', '-B'], args: ['x'] });
  await same(t, 'py/flags.py', { pythonOptions: ['-u'] });
  await same(t, path.join(sb.dir, 'py', 'echo_args.py'), { cwd: os.tmpdir(), env: { ...sb.env, WANT_CWD: fs.realpathSync(os.tmpdir()) } });
  await same(t, 'py/exit_code.py', { args: '0' as never, stdio: ['ignore', 'ignore', 'ignore'] });
  await same(t, 'py/echo_args.py', { stdio: ['pipe', 'pipe', 'ignore'], args: ['only stdout'] });
  const ours = new Ours('x.py', { scriptPath: 'a/b', pythonOptions: ['-u', '-X', 'dev'], args: ['1', '2'] });
  ours.on('pythonError', () => undefined);
  t.same(ours.command, ['-u', '-X', 'dev', path.join('a', 'b', 'x.py'), '1', '2'], 'command leaves out the interpreter, as python-shell');
  await new Promise((resolve) => ours.end(resolve));
  t.throws(() => new Ours('  '), { message: 'scriptPath cannot be empty! You must give a script for python to run' });
});

t.test('exit statuses, tracebacks and pythonError as python-shell reports them', async (t) => {
  await same(t, 'py/exit_code.py', { args: ['3'] });
  await same(t, 'py/error.py', undefined);
  await same(t, 'py/error.py', { mode: 'json' });
  await same(t, 'py/hi_then_error.py', { mode: 'binary' });
  await same(t, 'py/no_such_script.py', undefined);
  // Only an end() callback: no 'pythonError' (python-shell's rule), the error goes to the callback.
  for (const PS of [Ours, Theirs]) {
    const shell = new PS('py/exit_code.py', { args: ['4'] });
    const err = await new Promise<PythonShellError>((resolve) => shell.end((e) => resolve(e as PythonShellError)));
    t.equal(err.message, 'process exited with code 4');
    t.equal(err.exitCode, 4);
  }
  const err = await Ours.run('py/error.py').catch((e: unknown) => e);
  t.ok(err instanceof PythonShellError, 'a PythonShellError');
  t.match((err as Error).stack, /----- Python Traceback -----\n +File ".*py\/error\.py", line 6, in <module>/);
});

t.test('statics: run, runString, checkSyntax, checkSyntaxFile, getVersion, getVersionSync', async (t) => {
  for (const PS of [Ours, Theirs]) PS.defaultOptions = { cwd: sb.dir, env: sb.env, scriptPath: 'py' };
  const runs = async (PS: AnyShell) => {
    const settled = async (p: Promise<unknown>) => p.then((v) => ['ok', v], (e) => ['err', errorView(e)]);
    return [
      await settled(PS.run('echo_args.py', { args: ['a', 'b'] })),
      await settled(PS.run('hi_then_error.py', null as never)),
      await settled(PS.run('exit_code.py', { args: ['2'], mode: 'json' })),
    ];
  };
  t.same(await runs(Ours), await runs(Theirs), 'run(): messages, or the error with its logs');
  for (const PS of [Ours, Theirs]) PS.defaultOptions = { cwd: sb.dir, env: sb.env };
  const ourString = await Ours.runString('import sys\nprint("hello")\nprint(sys.argv[0].startswith(__import__("tempfile").gettempdir()))');
  t.same(ourString, await Theirs.runString('import sys\nprint("hello")\nprint(sys.argv[0].startswith(__import__("tempfile").gettempdir()))'));
  t.same(ourString, ['hello', 'True'], 'runString runs a file in os.tmpdir()');
  const moduleRun = await Ours.run('-m', { args: ['json.tool', '--help'] });
  t.same(moduleRun, await Theirs.run('-m', { args: ['json.tool', '--help'] }), "run('-m', { args: [module, ...] }) runs the module");
  t.match(moduleRun[0], /^usage: python3? -m json.tool/);
  t.match(await Ours.run('-m', { args: ['timeit', '-n 1', "'x=5'"] }), [/^1 loop/]);
  // checkSyntax and getVersion use the default interpreter: python3 on this process's PATH.
  for (const PS of [Ours, Theirs]) PS.defaultOptions = { pythonPath: path.join(sb.venv, 'bin', 'python3') };
  t.same(await Ours.checkSyntax('x = 1'), await Theirs.checkSyntax('x = 1'));
  const bad = await Ours.checkSyntax('x =').catch((e: { code: number; stderr: string }) => e);
  const badTheirs = await Theirs.checkSyntax('x =').catch((e: { code: number; stderr: string }) => e);
  t.equal((bad as { code: number }).code, (badTheirs as { code: number }).code);
  t.match((bad as { stderr: string }).stderr, /SyntaxError/);
  const file = write(sb, 'syntax.py', 'def f(:\n');
  t.same(errorView(await Ours.checkSyntaxFile(file).catch((e) => e)), errorView(await Theirs.checkSyntaxFile(file).catch((e) => e)));
  t.same(await Ours.getVersion(), await Theirs.getVersion());
  t.equal(Ours.getVersionSync(), Theirs.getVersionSync());
  t.match(Ours.getVersionSync(), /^Python 3\./);
  t.equal(Ours.getPythonPath(), path.join(sb.venv, 'bin', 'python3'));
  t.equal(Ours.defaultPythonPath, Theirs.defaultPythonPath);
  t.same(Object.keys(Ours.format), Object.keys(Theirs.format));
  t.same(Object.keys(Ours.parse), Object.keys(Theirs.parse));
  for (const PS of [Ours, Theirs]) PS.defaultOptions = { cwd: sb.dir, env: sb.env };
});

t.test("a bad pythonPath emits 'error' with ENOENT, as spawning it would", async (t) => {
  const failure = (PS: AnyShell) => new Promise((resolve) => {
    const shell = new PS('py/exit_code.py', { pythonPath: 'no-such-python-anywhere' });
    shell.on('error', (err) => resolve([errorView(err), shell.terminated, shell.exitCode]));
  });
  t.same(await failure(Ours), await failure(Theirs));
});

t.test('kill(): terminated at once (even before the run exists), the signal in exitSignal, no process left', async (t) => {
  // (A script killed at once may have run its first lines here, where python had not started:
  // see the README's "Coming from python-shell". This one says nothing, to compare the rest.)
  await same(t, 'py/quiet_forever.py', undefined, (s) => { s.kill('SIGKILL'); });
  await same(t, 'py/quiet_forever.py', undefined, (s) => { s.terminate(); });
  const shell = new Ours('py/forever.py');
  const ready = new Promise((resolve) => shell.once('message', resolve));
  await ready;
  const pid = shell.childProcess.pid!;
  t.ok(isAlive(pid), 'the run is there while it talks');
  const closed = new Promise((resolve) => shell.on('close', resolve));
  shell.kill();
  t.equal(shell.terminated, true);
  await closed;
  t.equal(shell.exitSignal, 'SIGTERM');
  t.equal(shell.exitCode, null);
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(20);
  t.notOk(isAlive(pid), 'the killed run is gone');
  shell.kill();
  t.equal(shell.terminated, false, 'kill() after the end sends nothing (ChildProcess.kill is false), as python-shell');
});

t.test('a script that crashes in the middle of a conversation', async (t) => {
  const seen = await same(t, 'py/crash_midway.py', { mode: 'json' }, (s) => {
    for (let i = 0; i < 8; i++) s.send({ i });
  }) as unknown[];
  const messages = seen.filter((e) => (e as unknown[])[0] === 'message');
  t.equal(messages.length, 5, 'the answers before the crash arrive');
  const pythonError = seen.find((e) => (e as unknown[])[0] === 'pythonError') as [string, Record<string, unknown>];
  t.equal(pythonError[1].message, 'RuntimeError: crashed at message 5');
  t.equal(pythonError[1].exitCode, 1);
  // The same through run(): what was said before the crash is in `logs`.
  const err = await Ours.run('py/hi_then_error.py').catch((e: { logs: unknown[] }) => e);
  t.same((err as { logs: unknown[] }).logs, ['hi']);
});

t.test('50 shells at once, each exchanging 1,000 messages', async (t) => {
  const conversation = (k: number) => new Promise<number>((resolve, reject) => {
    const shell = new Ours('py/echo_json.py', { mode: 'json' });
    let n = 0;
    shell.on('message', (m: { k: number; n: number }) => {
      if (m.k !== k || m.n !== n) reject(new Error(`shell ${k}: got ${JSON.stringify(m)} for message ${n}`));
      if (++n < 1000) shell.send({ k, n });
      else shell.end((err) => (err ? reject(err) : resolve(n)));
    });
    shell.on('error', reject);
    shell.send({ k, n });
  });
  const counts = await Promise.all(Array.from({ length: 50 }, (_, k) => conversation(k)));
  t.same(counts, Array(50).fill(1000), 'every answer came back to its own shell, in order');
  const status = await daemonStatus(sb);
  t.equal(status.running ?? status.daemon?.running ?? 0, 0, 'no run is left');
});

t.test('the entry points: pynwheel/python-shell from CommonJS and ESM, with the same exports', async (t) => {
  const names = "Object.keys(m).filter((k) => k !== 'default').sort().join(',')";
  const cjs = spawnSync(process.execPath, ['-e', `const m = require('pynwheel/python-shell'); console.log(${names}, typeof m.PythonShell.run)`], { cwd: ROOT, encoding: 'utf8' });
  const esm = spawnSync(process.execPath, ['--input-type=module', '-e', `import * as m from 'pynwheel/python-shell'; console.log(${names}, typeof m.PythonShell.run)`], { cwd: ROOT, encoding: 'utf8' });
  t.equal(cjs.stdout, 'NewlineTransformer,PythonShell,PythonShellError,PythonShellErrorWithLogs function\n', cjs.stderr);
  t.equal(esm.stdout, cjs.stdout, esm.stderr);
  t.ok(fs.existsSync(path.join(ROOT, 'python-shell', 'package.json')), 'a folder for resolvers that do not read exports');
  t.type(new NewlineTransformer(), 'object');
});
