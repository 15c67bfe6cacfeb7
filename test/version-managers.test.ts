// The interpreter pyenv's shim would run (lib/client/version-managers.ts, native/runner/interp_cache.h),
// differentially: `python3 v.py` through the shim against `pynwheel run v.py` from the Node CLI
// and from the native runner (cold, then warm from the interpreter cache and the lane).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, collect, makeSandbox, ROOT, view, write, type Sandbox } from './helpers';

t.setTimeout(300_000);

const PYENV_ROOT = path.join(process.env.HOME ?? '/root', '.pyenv');
// The runner itself, as an installed package's bin/pynwheel (a checkout's bin/pynwheel is an sh shim, and sh sets PWD).
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
t.before(() => {
  sb = makeSandbox('pyenv');
  env = { ...sb.env, PATH: `${PYENV_ROOT}/shims:/usr/local/bin:/usr/bin:/bin`, PYENV_ROOT };
  write(sb, 'proj/sub/v.py', [
    'import json, os, sys',
    'print(sys.version.split()[0], sys.executable)',
    // tap's process hooks add NODE_OPTIONS and _TAPJS_* to what a Node process spawns, and change them
    "print(json.dumps({k: v for k, v in os.environ.items() if not k.startswith(('_TAPJS', 'NODE_OPTIONS'))}, sort_keys=True))",
  ].join('\n') + '\n');
});
t.teardown(() => sb.cleanup());

const cwd = () => path.join(sb.dir, 'proj', 'sub');
const pythonVersionAt = (dir: string, text: string | null) => {
  const file = path.join(sb.dir, dir, '.python-version');
  if (text === null) fs.rmSync(file, { force: true });
  else fs.writeFileSync(file, text);
};

/** python3 through pyenv's shim, the Node CLI, and the runner three times: all must agree. */
async function agree(t: Tap.Test, what: string, extra: NodeJS.ProcessEnv = {}, name = 'python3', expect?: RegExp) {
  const e = { ...env, ...extra };
  const py = view(await collect(name, ['v.py'], { cwd: cwd(), env: e }));
  const through = name === 'python3' ? ['run', 'v.py'] : ['run', '--python', name, 'v.py'];
  const node = view(await collect(process.execPath, [CLI, ...through], { cwd: cwd(), env: e }));
  t.same(node, py, `${what}: the Node CLI runs what the shim runs, in the environment it gives`);
  for (let i = 0; i < 3; i++) {
    const runner = view(await collect(RUNNER, through, { cwd: cwd(), env: e }));
    t.same(runner, py, `${what}: the runner, run ${i + 1}`);
  }
  if (expect) t.match(py.stdout + py.stderr, expect, `${what}: as expected`);
  return py;
}

t.test('pyenv is installed here with several versions', async (t) => {
  for (const v of ['2.7.18', '3.12.1', '3.13.0']) t.ok(fs.existsSync(path.join(PYENV_ROOT, 'versions', v, 'bin')), v);
});

t.test('.python-version up the tree, PYENV_VERSION, several versions, system, the global version', async (t) => {
  pythonVersionAt('proj', '3.12.1\n');
  await agree(t, '.python-version in a parent', {}, 'python3', /^3\.12\.1 .*versions\/3\.12\.1\/bin\/python3\n/);
  await agree(t, 'PYENV_VERSION over the file', { PYENV_VERSION: '3.13.0' }, 'python3', /^3\.13\.0 /);
  pythonVersionAt('proj', '# comment\n2.7.18\n3.12.1\n');
  await agree(t, 'two versions (2.7 has no python3: the next)', {}, 'python3', /^3\.12\.1 /);
  pythonVersionAt('proj', '2.7.18 3.12.1\n');
  await agree(t, 'two versions on one line (pyenv reads the first word of a line)', {}, 'python3', /^\S+ \/usr\/bin\/python3\n/);
  pythonVersionAt('proj', 'system\n');
  await agree(t, 'system', {}, 'python3', /^\S+ \/usr\/bin\/python3\n/);
  pythonVersionAt('proj', null);
  await agree(t, 'the global version file');
});

t.test('an edit of .python-version is seen at once: the cache is keyed by the files that decided', async (t) => {
  pythonVersionAt('proj', '3.12.1\n');
  await agree(t, 'before', {}, 'python3', /^3\.12\.1 /);
  pythonVersionAt('proj/sub', '3.13.0\n');
  await agree(t, 'a nearer file', {}, 'python3', /^3\.13\.0 /);
  pythonVersionAt('proj/sub', null);
  const debug = await collect(RUNNER, ['run', 'v.py'], { cwd: cwd(), env: { ...env, PYNWHEEL_DEBUG: '1' } });
  t.match(debug.stdout.toString(), /^3\.12\.1 /, 'removed again: back to the parent\'s');
  t.match(debug.stderr.toString(), /lane taken/, 'warm: the runner took the lane without the Node CLI');
  t.ok(fs.readdirSync(path.join(sb.runtimeDir, 'interp')).length > 0, 'entries in <runtime>/interp');
});

t.test('a version not installed: the manager\'s own error and status', async (t) => {
  pythonVersionAt('proj', '3.5.0\n');
  const py = await agree(t, 'python3.12 with 3.5.0 pinned', {}, 'python3.12');
  t.equal(py.status, 1);
  t.match(py.stderr, /pyenv: version `3\.5\.0' is not installed/);
  await agree(t, 'python3 with 3.5.0 pinned (pyenv falls back to the system python3, quietly or not)');
  pythonVersionAt('proj', null);
});

t.test('a python older than a zygote runs (2.7, 3.8): its shim runs it, as it is', async (t) => {
  pythonVersionAt('proj', '2.7.18\n');
  write(sb, 'proj/sub/v2.py', 'import sys\nprint(sys.version.split()[0], sys.executable)\n');
  for (const [name, extra] of [['python', {}], ['python3', { PYENV_VERSION: '3.8.18' }]] as Array<[string, NodeJS.ProcessEnv]>) {
    const e = { ...env, ...extra };
    const py = view(await collect(name, ['v2.py'], { cwd: cwd(), env: e }));
    t.match(py.stdout, /^(\('2\.7\.18'|3\.8\.18)/);
    t.same(view(await collect(process.execPath, [CLI, 'run', '--python', name, 'v2.py'], { cwd: cwd(), env: e })), py, `${name}: the Node CLI`);
    for (let i = 0; i < 2; i++) t.same(view(await collect(RUNNER, ['run', '--python', name, 'v2.py'], { cwd: cwd(), env: e })), py, `${name}: the runner`);
  }
  pythonVersionAt('proj', null);
});

t.test('status and doctor say how the interpreter was chosen', async (t) => {
  pythonVersionAt('proj', '3.12.1\n');
  const doctor = await collect(process.execPath, [CLI, 'doctor'], { cwd: cwd(), env });
  t.match(doctor.stdout.toString(), /pyenv 3\.12\.1 \(.*proj\/\.python-version\)/);
  const status = await collect(process.execPath, [CLI, 'status'], { cwd: cwd(), env });
  t.match(status.stdout.toString(), /interpreter here: .*pyenv 3\.12\.1/);
  pythonVersionAt('proj', null);
});
