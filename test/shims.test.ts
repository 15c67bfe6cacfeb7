// `python3` that is pynwheel (pynwheel shims DIR; native/runner/masquerade.h): with DIR first on
// PATH, programs that start python3 get pynwheel with the interpreter the next python3 on PATH
// would have been, compared with that python3 itself: a Makefile, an `sh -c` pipeline, a script
// that starts python3 with subprocess, multiprocessing with the spawn method; what pynwheel
// cannot serve runs the interpreter itself; no loops; `--remove` undoes it.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { routeName, routesDir } from '../lib/shared/route-name';
import { CLI, collect, makeSandbox, view, write, type Sandbox } from './helpers';

t.setTimeout(300_000);

let sb: Sandbox;
let shims: string;
let withShims: NodeJS.ProcessEnv;
t.before(() => {
  sb = makeSandbox('shims', { cold: true });
  shims = path.join(sb.dir, 'shims');
  withShims = { ...sb.env, PATH: `${shims}:${sb.env.PATH}` };
  write(sb, 'v.py', 'import os, sys\nprint(sys.executable, sys.argv, os.environ["PATH"].split(":")[0] == sys.argv[1])\n');
  write(sb, 'up.py', 'import sys\nfor line in sys.stdin:\n    sys.stdout.write(line.upper())\n');
  write(sb, 'count.py', 'import sys\nlines = sys.stdin.read().splitlines()\nprint(len(lines), lines)\n');
  write(sb, 'parent.py', [
    'import subprocess, sys',
    'out = subprocess.run(["python3", "child.py", "a b"], capture_output=True, text=True, check=True).stdout',
    'print("child said:", out.strip())',
  ].join('\n') + '\n');
  write(sb, 'child.py', 'import sys\nprint(sys.argv[1:], sys.executable)\n');
  write(sb, 'spawn.py', [
    'import multiprocessing as mp, sys',
    'def square(x):',
    '    return x * x',
    'if __name__ == "__main__":',
    '    with mp.get_context("spawn").Pool(2) as pool:',
    '        print(pool.map(square, range(5)), sys.executable)',
  ].join('\n') + '\n');
  write(sb, 'Makefile', 'all:\n\tpython3 v.py $(CURDIR)\n\tpython3 count.py < Makefile\n');
});
t.teardown(() => sb.cleanup());

const cli = (args: string[], env = sb.env) => collect(process.execPath, [CLI, ...args], { cwd: sb.dir, env });
/** The same command with and without the shims first on PATH. */
async function bothWays(command: string, args: string[], input?: string) {
  const py = view(await collect(command, args, { cwd: sb.dir, env: sb.env, input }));
  const shimmed = view(await collect(command, args, { cwd: sb.dir, env: withShims, input }));
  return { py, shimmed };
}

t.test('pynwheel shims DIR writes python, python3 and python3.N as links to the runner', async (t) => {
  const made = await cli(['shims', shims]);
  t.equal(made.status, 0, made.stderr.toString());
  for (const name of ['python', 'python3']) t.ok(fs.lstatSync(path.join(shims, name)).isSymbolicLink(), name);
  const again = await cli(['shims', shims]);
  t.equal(again.status, 0, 'writing them again is fine');
});

t.test('python3 FILE through the shims: the next python3\'s interpreter and sys.executable, warm after the first', async (t) => {
  const venvPython = path.join(sb.venv, 'bin', 'python3');
  for (let i = 0; i < 3; i++) {
    const py = view(await collect('python3', ['v.py', 'x'], { cwd: sb.dir, env: sb.env }));
    const shimmed = view(await collect('python3', ['v.py', 'x'], { cwd: sb.dir, env: withShims }));
    t.same({ ...shimmed, stdout: shimmed.stdout.replace(' True\n', ' False\n') }, py, `run ${i + 1}`);
    t.match(shimmed.stdout, `${venvPython} `, 'sys.executable is the real interpreter, not the shim');
  }
  // The first was a cold run (python's own); its zygote warms once it is over: then the lane.
  let debug = await collect('python3', ['v.py'], { cwd: sb.dir, env: { ...withShims, PYNWHEEL_DEBUG: '1' } });
  for (let i = 0; i < 50 && !/lane taken/.test(debug.stderr.toString()); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    debug = await collect('python3', ['v.py'], { cwd: sb.dir, env: { ...withShims, PYNWHEEL_DEBUG: '1' } });
  }
  t.match(debug.stderr.toString(), /lane taken/, 'a warm run goes by the lane');
  t.ok(fs.existsSync(path.join(routesDir(sb.runtimeDir), routeName(venvPython, sb.dir, 'v.py'))), 'its route is the real python\'s');
});

t.test('a Makefile', async (t) => {
  const { py, shimmed } = await bothWays('make', ['-s']);
  t.same({ ...shimmed, stdout: shimmed.stdout.replace(/ True\n/, ' False\n') }, py);
  t.equal(shimmed.status, 0);
});

t.test('an sh -c pipeline', async (t) => {
  const { py, shimmed } = await bothWays('sh', ['-c', 'printf "a\\nb\\nc\\n" | python3 up.py | python3 count.py; echo "status $?"']);
  t.same(shimmed, py);
  t.match(py.stdout, "3 ['A', 'B', 'C']\nstatus 0\n");
});

t.test('a script that starts python3 with subprocess: the child goes through the shims too', async (t) => {
  const { py, shimmed } = await bothWays('python3', ['parent.py']);
  t.same(shimmed, py);
  t.match(py.stdout, "child said: ['a b']");
  t.ok(fs.existsSync(path.join(routesDir(sb.runtimeDir), routeName(path.join(sb.venv, 'bin', 'python3'), sb.dir, 'child.py'))),
    'the child was served by pynwheel (the daemon published its route)');
});

t.test('multiprocessing with the spawn method', async (t) => {
  const { py, shimmed } = await bothWays('python3', ['spawn.py']);
  t.same(shimmed, py);
  t.match(py.stdout, '[0, 1, 4, 9, 16]');
});

t.test('what pynwheel does not serve: the interpreter itself, with the same arguments', async (t) => {
  const cases: Array<[string[], string | undefined]> = [
    [['-c', 'import sys; print(sys.argv, sys.executable)'], undefined],
    [['-V'], undefined],
    [[], 'print("from stdin")\n'],
    [['-', 'x'], 'import sys; print(sys.argv)\n'],
    [['nofile.py'], undefined],
  ];
  for (const [args, input] of cases) {
    const { py, shimmed } = await bothWays('python3', args, input);
    t.same(shimmed, py, `python3 ${args.join(' ')}`);
  }
  // pynwheel's own option is python's error. Exec'd by its full path (so that sys.executable is
  // right), python names itself so in its usage message: the one known difference (README).
  const usage = await bothWays('python3', ['--file', 'v.py']);
  const venvPython = path.join(sb.venv, 'bin', 'python3');
  t.same({ ...usage.shimmed, stderr: usage.shimmed.stderr.split(venvPython).join('python3') }, usage.py, 'python3 --file v.py');
  const off = await bothWays('python3', ['v.py', 'y']);
  t.same({ ...off.shimmed, stdout: off.shimmed.stdout.replace(' True\n', ' False\n') }, off.py, 'PYNWHEEL_DISABLE aside, the same');
});

t.test('never finds itself: nested shim directories, and none after them', async (t) => {
  const nested = path.join(sb.dir, 'shims2');
  t.equal((await cli(['shims', nested])).status, 0);
  const env = { ...sb.env, PATH: `${shims}:${nested}:${sb.env.PATH}` };
  const py = view(await collect('python3', ['child.py', 'n'], { cwd: sb.dir, env: sb.env }));
  t.same(view(await collect('python3', ['child.py', 'n'], { cwd: sb.dir, env })), py, 'two shim directories first');
  const alone = await collect(path.join(shims, 'python3'), ['child.py'], { cwd: sb.dir, env: { ...sb.env, PATH: `${shims}:${nested}` } });
  t.equal(alone.status, 127, 'nothing after them: 127, as a shell');
  t.match(alone.stderr.toString(), /no other python3 on PATH/);
  t.equal((await cli(['shims', '--remove', nested])).status, 0);
});

t.test('--remove takes away its own links only; a foreign file is not overwritten', async (t) => {
  const foreign = path.join(sb.dir, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'python3'), '#!/bin/sh\n', { mode: 0o755 });
  const refused = await cli(['shims', foreign]);
  t.not(refused.status, 0);
  t.match(refused.stderr.toString(), /exists and is not pynwheel's/);
  const removed = await cli(['shims', '--remove', shims]);
  t.equal(removed.status, 0);
  t.same(fs.readdirSync(shims), [], 'every link gone');
  t.equal((await cli(['shims', '--remove', foreign])).status, 0);
  t.ok(fs.existsSync(path.join(foreign, 'python3')), 'the foreign python3 stays');
});

t.test('pyenv\'s shim next on PATH: the version it picks; `system` finds these shims again and they step past it', async (t) => {
  t.equal((await cli(['shims', shims])).status, 0);
  const pyenvShims = path.join(process.env.HOME ?? '/root', '.pyenv', 'shims');
  const plain = { ...sb.env, PATH: `${pyenvShims}:/usr/local/bin:/usr/bin:/bin` };
  const shimmed = { ...plain, PATH: `${shims}:${plain.PATH}` };
  const project = path.join(sb.dir, 'pinned');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, '.python-version'), '3.12.1\n');
  write(sb, 'pinned/env.py', 'import os, sys\nprint(sys.version.split()[0], sys.executable, os.environ["PYENV_VERSION"], os.environ["PATH"])\n');
  for (const extra of [{}, { PYENV_VERSION: 'system' }]) {
    const py = view(await collect('python3', ['env.py'], { cwd: project, env: { ...plain, ...extra } }));
    for (let i = 0; i < 3; i++) {
      const got = view(await collect('python3', ['env.py'], { cwd: project, env: { ...shimmed, ...extra }, timeoutMs: 30_000 }));
      // The caller's PATH has the shims in it, and pyenv's keeps them.
      t.same({ ...got, stdout: got.stdout.replace(`:${shims}:`, ':') }, py, `${JSON.stringify(extra)} run ${i + 1}`);
    }
    t.match(py.stdout, extra.PYENV_VERSION ? /^\S+ \/usr\/bin\/python3 system / : /^3\.12\.1 /);
  }
  await cli(['shims', '--remove', shims]);
});
