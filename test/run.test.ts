// Differential tests of the core path: the same script with `python3` and with `pynwheel run`,
// compared byte for byte (stdout, stderr, exit status, death by signal).
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { both, CLI, collect, makeSandbox, pynwheel, python, view, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('run'); });
t.teardown(() => sb.cleanup());

async function same(t: Test, args: string[], options: Parameters<typeof both>[2] = {}) {
  const { py, pnw } = await both(sb, args, options);
  t.same(view(pnw), view(py), `pynwheel run ${args.join(' ')} == python3 ${args.join(' ')}`);
  return { py, pnw };
}

t.test('argv, including option-like arguments, reaches the script verbatim', async (t) => {
  write(sb, 'argv.py', 'import sys\nprint(sys.argv)\nprint(sys.orig_argv[1:])\n');
  await same(t, ['argv.py', '--help', '-v', '--', '-m', 'x y', '', 'ünï']);
  await same(t, ['./argv.py']);
});

t.test('cwd and relative paths', async (t) => {
  write(sb, 'data/input.txt', 'hello from a relative path\n');
  write(sb, 'tools/cwd.py', 'import os\nprint(os.getcwd())\nprint(open("data/input.txt").read(), end="")\nprint(os.path.abspath("x"))\n');
  await same(t, ['tools/cwd.py']);
  write(sb, 'data/data/input.txt', 'nested\n');
  await same(t, ['../tools/cwd.py'], { cwd: path.join(sb.dir, 'data') });
});

t.test('environment is the caller\'s, replaced not merged', async (t) => {
  write(sb, 'env.py', 'import os\nprint(sorted((k, v) for k, v in os.environ.items() if k.startswith("PNW_")))\nprint(os.environ.get("PNW_FIRST", "<absent>"))\n');
  // The first caller (who starts the zygote) has PNW_FIRST; the second one does not.
  await same(t, ['env.py'], { env: { PNW_FIRST: '1', PNW_SHARED: 'a' } });
  const second = await same(t, ['env.py'], { env: { PNW_SHARED: 'b', PNW_OTHER: 'ü=x' } });
  t.match(second.pnw.stdout.toString(), /<absent>/, 'a variable only the first caller had is absent');
});

t.test('sys.path[0] is the script\'s real directory; sibling modules import', async (t) => {
  write(sb, 'pkgdir/helper.py', 'VALUE = "sibling"\n');
  write(sb, 'pkgdir/main.py', 'import sys, helper\nprint(sys.path[0])\nprint(helper.VALUE, helper.__file__)\n');
  fs.symlinkSync(path.join(sb.dir, 'pkgdir', 'main.py'), path.join(sb.dir, 'linked.py'));
  await same(t, ['pkgdir/main.py']);
  await same(t, ['linked.py']);
});

t.test('a sibling module shadows a module the zygote holds, as with python', async (t) => {
  write(sb, 'shadow/json.py', 'WHO = "local json"\n');
  write(sb, 'shadow/main.py', 'import json\nprint(getattr(json, "WHO", "stdlib json"))\n');
  await same(t, ['shadow/main.py']);
});

t.test('__name__, __file__, globals and __main__ look like a plain run', async (t) => {
  write(sb, 'names.py', [
    '"""docstring"""',
    'import sys',
    'print(__name__, __file__, __doc__, __package__, __spec__, __cached__)',
    'print(sorted(globals()))',
    'print(sys.modules["__main__"] is sys.modules[__name__], type(__loader__).__name__)',
    'print(__builtins__)',
  ].join('\n') + '\n');
  await same(t, ['names.py']);
});

t.test('each way to exit', async (t) => {
  const cases: Record<string, string> = {
    'exit-code': 'import sys\nprint("out")\nsys.exit(7)\n',
    'exit-none': 'import sys\nsys.exit()\n',
    'exit-message': 'import sys\nsys.exit("fatal: a message")\n',
    'exit-big': 'raise SystemExit(300)\n',
    'exception': 'def f():\n    raise ValueError("boom")\nprint("before")\nf()\n',
    'chained': 'try:\n    1/0\nexcept Exception as e:\n    raise KeyError("x") from e\n',
    'syntax': 'x = (\n',
    'atexit': 'import atexit, sys\natexit.register(lambda: print("atexit ran"))\nprint("body", end="")\n',
    'threads': 'import threading, time\ndef w():\n    time.sleep(0.2)\n    print("thread done")\nthreading.Thread(target=w).start()\nprint("main done")\n',
    'no-newline': 'import sys\nsys.stdout.write("no newline at end")\nsys.stderr.write("err too")\n',
    'os-exit': 'import os\nprint("lost: block-buffered into a pipe")\nos._exit(3)\n',
    'keyboard-interrupt': 'raise KeyboardInterrupt\n',
    'del-at-shutdown': 'class A:\n    def __del__(self):\n        print("deleted at shutdown")\na = A()\n',
    'atexit-raises': 'import atexit\ndef bad():\n    raise RuntimeError("in atexit")\natexit.register(bad)\nprint("body")\n',
    'excepthook': 'import sys\ndef hook(t, v, tb):\n    print("custom hook:", t.__name__, v, tb.tb_frame.f_code.co_filename == __file__, file=sys.stderr)\nsys.excepthook = hook\nraise ValueError("x")\n',
    'c-stdio': 'import ctypes\nprint("python first")\nctypes.CDLL(None).printf(b"from C without a newline")\n',
    'exit-in-thread-join': 'import threading, sys\ndef w():\n    print("worker")\nt = threading.Thread(target=w)\nt.start()\nsys.exit(5)\n',
    'exit-str-none-stderr': 'import sys\nsys.stderr = None\nsys.exit("lost message")\n',
  };
  for (const [name, source] of Object.entries(cases)) {
    write(sb, `exit/${name}.py`, source);
    await same(t, [`exit/${name}.py`]);
  }
});

t.test('death by signal is mirrored', async (t) => {
  write(sb, 'die.py', 'import os, signal, sys\nsys.stdout.flush()\nos.kill(os.getpid(), signal.SIGTERM)\n');
  const { pnw } = await same(t, ['die.py']);
  t.equal(pnw.signal, 'SIGTERM');
  write(sb, 'abort.py', 'import os\nos.abort()\n');
  await same(t, ['abort.py']);
});

t.test('a missing script: python\'s message and status 2', async (t) => {
  const { pnw } = await same(t, ['does-not-exist.py']);
  t.equal(pnw.status, 2);
});

t.test('1 MiB of binary stdin arrives intact', async (t) => {
  const input = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < input.length; i++) input[i] = (i * 7919 + (i >> 8)) & 0xff;
  write(sb, 'stdin.py', 'import sys, hashlib\ndata = sys.stdin.buffer.read()\nprint(len(data), hashlib.sha256(data).hexdigest())\n');
  const { pnw } = await same(t, ['stdin.py'], { input });
  t.match(pnw.stdout.toString(), createHash('sha256').update(input).digest('hex'));
});

t.test('30 MB of stdout arrives intact', async (t) => {
  write(sb, 'big.py', 'import sys\nchunk = bytes(range(256)) * 4096\nfor _ in range(30):\n    sys.stdout.buffer.write(chunk[: 1000000])\n');
  const { py, pnw } = await both(sb, ['big.py']);
  t.equal(pnw.stdout.length, 30_000_000);
  t.equal(createHash('sha256').update(pnw.stdout).digest('hex'), createHash('sha256').update(py.stdout).digest('hex'));
  t.same([pnw.status, pnw.signal, pnw.stderr.toString()], [py.status, py.signal, py.stderr.toString()]);
});

t.test('-m MODULE runs as python3 -m', async (t) => {
  write(sb, 'modproj/mymod.py', 'import sys\nprint(__name__, sys.argv)\n');
  await same(t, ['-m', 'mymod', 'a', '--b'], { cwd: path.join(sb.dir, 'modproj') });
  await same(t, ['-m', 'json.tool', '--help']);
  await same(t, ['-m', 'no_such_module_here']);
});

t.test('stdout and stderr interleave as with python in a shared pipe', async (t) => {
  write(sb, 'interleave.py', 'import sys\nfor i in range(5):\n    print("out", i)\n    print("err", i, file=sys.stderr)\n');
  await same(t, ['interleave.py']);
  await same(t, ['interleave.py'], { env: { PYTHONUNBUFFERED: '1' } });
});

t.test('the shebang form and the spec\'s form', async (t) => {
  const script = write(sb, 'shebang.py', '#!/usr/bin/env pynwheel\nimport sys\nprint("shebang", sys.argv)\n', 0o755);
  const viaShebangForm = await pynwheel(sb, [script, 'x', '--y']);
  const plain = await python(sb, [script, 'x', '--y']);
  t.same(view(viaShebangForm), view(plain), 'pynwheel FILE ARGS');
  // A real `#!/usr/bin/env pynwheel`: put a pynwheel on PATH and let the kernel run the script.
  const binDir = path.join(sb.dir, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  fs.symlinkSync(path.resolve(__dirname, '..', 'bin', 'pynwheel.js'), path.join(binDir, 'pynwheel'));
  const env = { PATH: `${binDir}:${path.dirname(process.execPath)}:${sb.env.PATH}` };
  const { collect } = await import('./helpers');
  const kernel = await collect(script, ['x', '--y'], { cwd: sb.dir, env: { ...sb.env, ...env } });
  t.same(view(kernel), view(plain), 'the kernel runs the script through pynwheel');
  const spec = await pynwheel(sb, ['--file', 'shebang.py', '--args', 'x', '--y']);
  const specPlain = await python(sb, ['shebang.py', 'x', '--y']);
  t.same(view(spec), view(specPlain), 'pynwheel --file FILE --args A B');
});

t.test('several runs overlapping in time', async (t) => {
  // Each run waits at a barrier until all eight have arrived: runs served one after another
  // would never get past it (no timing is asserted: a loaded machine only makes it slower).
  const barrier = path.join(sb.dir, 'overlap-barrier');
  fs.mkdirSync(barrier, { recursive: true });
  write(sb, 'overlap.py', [
    'import os, sys, time',
    `barrier = ${JSON.stringify(barrier)}`,
    'open(os.path.join(barrier, sys.argv[1]), "w").close()',
    'deadline = time.monotonic() + 60',
    'while len(os.listdir(barrier)) < 8 and time.monotonic() < deadline:',
    '    time.sleep(0.01)',
    'print("run", sys.argv[1], "with all eight" if len(os.listdir(barrier)) == 8 else "alone")',
    'sys.exit(int(sys.argv[1]) % 5)',
  ].join('\n') + '\n');
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => pynwheel(sb, ['run', 'overlap.py', String(i)])));
  results.forEach((r, i) => {
    t.equal(r.stdout.toString(), `run ${i} with all eight\n`, 'it ran while the seven others did');
    t.equal(r.status, i % 5);
  });
});

t.test('source encoding declarations are honoured', async (t) => {
  fs.writeFileSync(path.join(sb.dir, 'latin1.py'), Buffer.concat([
    Buffer.from('# -*- coding: latin-1 -*-\nprint("caf'), Buffer.from([0xe9]), Buffer.from('")\n'),
  ]));
  await same(t, ['latin1.py']);
});

t.test('a module that fails to import is not preloaded; the run shows python\'s error', async (t) => {
  write(sb, 'broken/missing.py', 'import os\nimport no_such_module_anywhere\nprint("unreachable")\n');
  await same(t, ['broken/missing.py']);
  write(sb, 'broken/optional.py', 'try:\n    import no_such_module_anywhere as m\nexcept ImportError as e:\n    m = None\n    print("fallback:", e)\nif m is None:\n    import decimal\nprint(decimal.Decimal("1.1") + 1)\n');
  await same(t, ['broken/optional.py']);
  // A module in the script's directory that raises at import: the traceback is the run's own.
  write(sb, 'broken/badmod.py', 'raise RuntimeError("bad module")\n');
  write(sb, 'broken/uses_bad.py', 'import badmod\n');
  await same(t, ['broken/uses_bad.py']);
});

t.test('--python names the interpreter; python\'s messages use it as typed', async (t) => {
  const interpreter = path.join(sb.venv, 'bin', 'python3');
  write(sb, 'which.py', 'import sys\nprint(sys.executable, sys.prefix == sys.base_prefix)\n');
  const viaFlag = await pynwheel(sb, ['run', '--python', interpreter, 'which.py']);
  const plain = await python(sb, ['which.py']);
  t.same(view(viaFlag), view(plain), 'same sys.executable, a venv');
  const missingPlain = await collect(interpreter, ['nope.py'], { cwd: sb.dir, env: sb.env });
  const missing = await pynwheel(sb, ['run', '--python', interpreter, 'nope.py']);
  t.same(view(missing), view(missingPlain), 'the can\'t-open message names the interpreter as given');
  const envVar = await pynwheel(sb, ['run', 'which.py'], { env: { PYNWHEEL_PYTHON: interpreter } });
  t.same(view(envVar), view(plain), 'PYNWHEEL_PYTHON');
  const bad = await pynwheel(sb, ['run', '--python', '/no/such/python', 'which.py']);
  t.equal(bad.status, 125);
  t.match(bad.stderr.toString(), /pynwheel: the interpreter "\/no\/such\/python" was not found/);
});

t.test('usage errors exit 2 with a message: pynwheel\'s for its own options, python\'s for the rest', async (t) => {
  for (const args of [['run', '--python'], ['--file'], ['--file', 'a.py', 'b']]) {
    const r = await pynwheel(sb, args);
    t.equal(r.status, 2, `${args.join(' ')}: status 2`);
    t.match(r.stderr.toString(), /^pynwheel: /, `${args.join(' ')}: says what is wrong`);
  }
  for (const args of [['-m'], ['--bogus', 'x.py'], ['-W']]) {
    const { pnw } = await same(t, args);
    t.equal(pnw.status, 2, `${args.join(' ')}: python's status 2`);
  }
  const r = await pynwheel(sb, ['run', '-m']);
  t.match(r.stderr.toString(), /Argument expected for the -m option/, 'python\'s words for a bare -m');
});

t.test('a file left open in __main__ is flushed at exit, as python does', async (t) => {
  for (const [tool, run] of [['python', python], ['pynwheel', (sandbox: Sandbox, args: string[]) => pynwheel(sandbox, ['run', ...args])]] as const) {
    const target = path.join(sb.dir, `unflushed-${tool}.txt`);
    write(sb, `unflushed-${tool}.py`, `f = open(${JSON.stringify(target)}, "w")\nf.write("written only at exit")\n`);
    const r = await run(sb, [`unflushed-${tool}.py`]);
    t.equal(r.status, 0);
    t.equal(fs.readFileSync(target, 'utf8'), 'written only at exit', `${tool}: the buffered write reached the file`);
  }
});

t.test('writing into a closed pipe: python\'s message and status 120', async (t) => {
  write(sb, 'epipe.py', 'import time\ntime.sleep(0.5)\nprint("nobody reads this")\n');
  const closedPipe = (command: string, args: string[]) => new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn(command, args, { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader goes away, as with `| head -0`
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (status) => resolve({ status, stderr }));
  });
  const py = await closedPipe('python3', ['epipe.py']);
  const pnw = await closedPipe(process.execPath, [CLI, 'run', 'epipe.py']);
  t.same(pnw, py);
  t.equal(pnw.status, 120);
});
