// Never stale, always the right environment: zygote keys, invalidation when files change,
// native thread pools in runs, LRU and idle limits, and the escape hatch.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { both, daemonStatus, isAlive, makeSandbox, pynwheel, python, sitePackages, sleep, view, write, type Sandbox } from './helpers';

let sb: Sandbox;
const extraVenvs: string[] = [];
t.before(() => { sb = makeSandbox('fresh', { privateVenv: true }); });
t.teardown(async () => {
  await sb.cleanup();
  for (const venv of extraVenvs) fs.rmSync(venv, { recursive: true, force: true });
});

/** A venv of its own (no pip: fast) holding a hand-made package `pnwver` of `version`. */
function venvWithPackage(version: string): string {
  const venv = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-venv-'));
  extraVenvs.push(venv);
  const made = spawnSync(path.join(sb.venv, 'bin', 'python3'), ['-m', 'venv', '--without-pip', venv]);
  if (made.status !== 0) throw new Error(made.stderr.toString());
  const pkg = path.join(sitePackages(venv), 'pnwver');
  fs.mkdirSync(pkg);
  fs.writeFileSync(path.join(pkg, '__init__.py'), `VERSION = ${JSON.stringify(version)}\n`);
  return venv;
}

const status = (env: NodeJS.ProcessEnv = {}) => daemonStatus(sb, env);

t.test('two venvs with different versions of one package each see their own, also overlapping', async (t) => {
  const v1 = venvWithPackage('1.0');
  const v2 = venvWithPackage('2.0');
  write(sb, 'ver.py', 'import sys, time, pnwver\ntime.sleep(float(sys.argv[1]))\nprint(pnwver.VERSION, sys.prefix)\n');
  const runs = await Promise.all([v1, v2, v1, v2].map((venv, i) =>
    pynwheel(sb, ['run', 'ver.py', '0.3'], { env: { VIRTUAL_ENV: venv, PATH: `${venv}/bin:${sb.env.PATH}` } }).then((r) => [venv, i, r] as const)));
  for (const [venv, i, r] of runs) {
    t.equal(r.stdout.toString(), `${venv === v1 ? '1.0' : '2.0'} ${venv}\n`, `run ${i} in ${path.basename(venv)} sees its own version`);
  }
  type Key = { key: { python: string; family: string[] } };
  const zygotes = (await status()).zygotes as Key[];
  const ofFamily = zygotes.filter((z) => z.key.family.join() === 'pnwver').map((z) => z.key.python).sort();
  t.same(ofFamily, [path.join(v1, 'bin', 'python3'), path.join(v2, 'bin', 'python3')].sort(), 'one zygote per venv for the family of pnwver');
  t.ok(zygotes.every((z) => z.key.python.startsWith(v1) || z.key.python.startsWith(v2)), 'and every zygote is one venv\'s');
});

t.test('an activated venv is used even when PATH says otherwise', async (t) => {
  const v = venvWithPackage('3.0');
  write(sb, 'which.py', 'import sys, pnwver\nprint(sys.prefix, pnwver.VERSION)\n');
  const r = await pynwheel(sb, ['run', 'which.py'], { env: { VIRTUAL_ENV: v } });
  t.equal(r.stdout.toString(), `${v} 3.0\n`);
});

t.test('an installed module edited between runs: the next run sees the edit', async (t) => {
  const site = sitePackages(sb.venv);
  const module = path.join(site, 'pnw_edited.py');
  fs.writeFileSync(module, 'VALUE = "first"\n');
  try {
    write(sb, 'edited.py', 'import pnw_edited\nprint(pnw_edited.VALUE)\n');
    t.equal((await pynwheel(sb, ['run', 'edited.py'])).stdout.toString(), 'first\n');
    const before = (await status()).zygotes.find((z: { preloaded: string[] }) => z.preloaded.includes('pnw_edited'));
    t.ok(before, 'it was preloaded');
    fs.writeFileSync(module, 'VALUE = "second"\n');
    const { py, pnw } = await both(sb, ['edited.py']);
    t.same(view(pnw), view(py), 'the same as a fresh python');
    t.equal(pnw.stdout.toString(), 'second\n');
    // Replaced by rename (as pip and editors do).
    fs.writeFileSync(`${module}.new`, 'VALUE = "third"\n');
    fs.renameSync(`${module}.new`, module);
    t.equal((await pynwheel(sb, ['run', 'edited.py'])).stdout.toString(), 'third\n', 'a replaced file is seen too');
    t.match(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.log'), 'utf8'), /replacing zygote \d+ for .*pnw_edited\.py was (modified|rewritten|replaced)/, 'the log says why');
  } finally {
    fs.rmSync(module, { force: true });
  }
});

t.test('a module edited while runs are in progress: they go on to their end, as under python; the next run sees the edit', async (t) => {
  const module = path.join(sitePackages(sb.venv), 'pnw_inflight.py');
  fs.writeFileSync(module, 'VALUE = "old"\n');
  try {
    write(sb, 'inflight.py', 'import sys, time, pnw_inflight\nprint("started", pnw_inflight.VALUE, flush=True)\ntime.sleep(float(sys.argv[1]))\nprint("ended", pnw_inflight.VALUE)\n');
    t.equal((await pynwheel(sb, ['run', 'inflight.py', '0'])).stdout.toString(), 'started old\nended old\n', 'a first run: the zygote has the module');
    const long = [pynwheel(sb, ['run', 'inflight.py', '3']), pynwheel(sb, ['run', 'inflight.py', '3'])];
    await sleep(1000);
    fs.writeFileSync(module, 'VALUE = "new"\n');
    const { py, pnw } = await both(sb, ['inflight.py', '0']);
    t.same(view(pnw), view(py), 'a run after the edit is as a fresh python');
    t.equal(pnw.stdout.toString(), 'started new\nended new\n', 'it has the new module');
    for (const [i, run] of long.entries()) {
      t.same(view(await run), { stdout: 'started old\nended old\n', stderr: '', status: 0, signal: null }, `run ${i} in progress went on to its end`);
    }
    t.equal((await pynwheel(sb, ['run', 'inflight.py', '0'])).stdout.toString(), 'started new\nended new\n', 'and the runs after them too');
  } finally {
    fs.rmSync(module, { force: true });
  }
});

t.test('a package installed after the zygote started is importable at once; a removed one is gone', async (t) => {
  const site = sitePackages(sb.venv);
  write(sb, 'late.py', 'try:\n    import pnw_late\n    print("found", pnw_late.X)\nexcept ImportError as e:\n    print("missing", e)\n');
  t.equal((await pynwheel(sb, ['run', 'late.py'])).stdout.toString(), "missing No module named 'pnw_late'\n");
  const pkg = path.join(site, 'pnw_late');
  fs.mkdirSync(pkg);
  fs.writeFileSync(path.join(pkg, '__init__.py'), 'X = 42\n');
  const installed = await both(sb, ['late.py']);
  t.same(view(installed.pnw), view(installed.py));
  t.equal(installed.pnw.stdout.toString(), 'found 42\n', 'installed after the zygote started: found');
  t.equal((await pynwheel(sb, ['run', 'late.py'])).stdout.toString(), 'found 42\n', 'and preloaded now');
  fs.rmSync(pkg, { recursive: true });
  const removed = await both(sb, ['late.py']);
  t.same(view(removed.pnw), view(removed.py));
  t.equal(removed.pnw.stdout.toString(), "missing No module named 'pnw_late'\n", 'removed: gone, although it had been preloaded');
});

t.test('modules changing on disk during runs (an install in progress): every run is right', async (t) => {
  const module = path.join(sitePackages(sb.venv), 'pnw_churn.py');
  fs.writeFileSync(module, 'VALUE = 0\n');
  write(sb, 'churn.py', 'import pnw_churn\nprint("value", type(pnw_churn.VALUE).__name__)\n');
  let writes = 0;
  // Replaced by rename, as pip does: a reader sees the old file or the new one, never half of one.
  const churn = setInterval(() => {
    fs.writeFileSync(`${module}.tmp`, `VALUE = ${++writes}\n`);
    fs.renameSync(`${module}.tmp`, module);
  }, 20);
  try {
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await pynwheel(sb, ['run', 'churn.py']));
    t.same(results.map((r) => [r.stdout.toString(), r.status]), Array(10).fill(['value int\n', 0]), 'all ten ran, from a fresh zygote or the interpreter itself');
  } finally {
    clearInterval(churn);
    fs.rmSync(module, { force: true });
    fs.rmSync(`${module}.tmp`, { force: true });
  }
  t.ok(writes > 10, `the module was rewritten ${writes} times meanwhile`);
});

t.test('two projects with a module of the same name each get their own; edits are seen', async (t) => {
  write(sb, 'projA/utils.py', 'NAME = "A"\n');
  write(sb, 'projB/utils.py', 'NAME = "B"\n');
  write(sb, 'projA/main.py', 'import utils\nprint(utils.NAME)\n');
  write(sb, 'projB/main.py', 'import utils\nprint(utils.NAME)\n');
  t.equal((await pynwheel(sb, ['run', 'projA/main.py'])).stdout.toString(), 'A\n');
  t.equal((await pynwheel(sb, ['run', 'projB/main.py'])).stdout.toString(), 'B\n');
  write(sb, 'projA/utils.py', 'NAME = "A, edited"\n');
  t.equal((await pynwheel(sb, ['run', 'projA/main.py'])).stdout.toString(), 'A, edited\n');
  t.equal((await pynwheel(sb, ['run', 'projB/main.py'])).stdout.toString(), 'B\n');
});

t.test('numpy in a run: its native thread pool works at full thread count', async (t) => {
  write(sb, 'matmul.py', [
    'import os, numpy as np',
    'a = np.arange(600 * 600, dtype=float).reshape(600, 600) / 1e5',
    'for _ in range(3):',
    '    b = a @ a',
    'print(round(float(b.sum()), 3))',
    'print("threads", len(os.listdir("/proc/self/task")))',
  ].join('\n') + '\n');
  await pynwheel(sb, ['run', 'matmul.py']); // the zygote imports numpy (and starts OpenBLAS's pool) here
  const { py, pnw } = await both(sb, ['matmul.py']);
  t.same(view(pnw), view(py), 'same product, and as many threads as under python');
  t.ok(Number(/threads (\d+)/.exec(pnw.stdout.toString())?.[1]) >= Math.min(2, os.cpus().length), 'more than one thread did the work');
  t.ok((await status()).zygotes.some((z: { preloaded: string[] }) => z.preloaded.includes('numpy')), 'numpy came from the zygote');
});

t.test('torch in a run: its intra-op thread pool works at full thread count', async (t) => {
  write(sb, 'torch_mm.py', [
    'import os, torch',
    'a = torch.rand(600, 600, generator=torch.Generator().manual_seed(1))',
    'for _ in range(10):',
    '    b = a @ a',
    '# The pool\'s threads exist once it has worked: at least as many as torch says it uses.',
    'threads = len(os.listdir("/proc/self/task"))',
    'print(torch.get_num_threads(), torch.get_num_interop_threads(), round(float(b.sum()), 1))',
    'print("pool threads present", threads >= torch.get_num_threads())',
  ].join('\n') + '\n');
  await pynwheel(sb, ['run', 'torch_mm.py']); // the torch zygote imports it here
  const { py, pnw } = await both(sb, ['torch_mm.py']);
  t.same(view(pnw), view(py), 'the same thread counts and the same product as under python');
  t.match(pnw.stdout.toString(), new RegExp(`^${Math.min(os.cpus().length, 2) > 1 ? '[2-9]' : '1'}\\b`), 'more than one intra-op thread where there are cores');
  t.match(pnw.stdout.toString(), /pool threads present True/);
  t.ok((await status()).zygotes.some((z: { preloaded: string[] }) => z.preloaded.includes('torch')), 'torch came from a zygote');
});

t.test('torch at exit: the script\'s own exit functions and finalizers run as under python', async (t) => {
  // The run skips torch's own finalizers that only undo operator registrations in memory
  // (python/pynwheel_zygote.py, PROCESS_LOCAL_FINALIZERS); everything else runs, in order.
  write(sb, 'torch_exit.py', [
    'import atexit, sys, weakref, torch',
    'class Thing: pass',
    'thing = Thing()',
    'weakref.finalize(thing, print, "finalizer of the script", torch.__name__)',
    'atexit.register(print, "exit function of the script")',
    'lib = torch.library.Library("pnwtest", "DEF")',
    'lib.define("twice(Tensor x) -> Tensor")',
    'weakref.finalize(lib, print, "finalizer of a Library the script made")',
    'print("ops registered", hasattr(torch.ops.pnwtest, "twice"))',
    'sys.exit(3)',
  ].join('\n') + '\n');
  await pynwheel(sb, ['run', 'torch_exit.py']);
  const { py, pnw } = await both(sb, ['torch_exit.py']);
  t.same(view(pnw), view(py), 'the same output, in the same order, and the same status');
  t.match(py.stdout.toString(), /exit function of the script\n/, 'python ran the exit function');
  t.match(py.stdout.toString(), /finalizer of the script torch\n/, 'and the finalizer');
});

t.test('a variable read at import changes between runs: behaves as with python', async (t) => {
  const site = sitePackages(sb.venv);
  const module = path.join(site, 'pnw_import_env.py');
  fs.writeFileSync(module, 'import os\nTHREADS = os.environ.get("OMP_NUM_THREADS")\nMODE = os.environ.get("PNW_LIB_MODE")\n');
  try {
    write(sb, 'importenv.py', 'import pnw_import_env as m\nprint(m.THREADS, m.MODE)\n');
    for (const env of [{ OMP_NUM_THREADS: '1' }, { OMP_NUM_THREADS: '2' }, {}, { OMP_NUM_THREADS: '1' }]) {
      const { py, pnw } = await both(sb, ['importenv.py'], { env });
      t.same(view(pnw), view(py), `OMP_NUM_THREADS=${env.OMP_NUM_THREADS ?? '(unset)'}`);
    }
    for (const mode of ['fast', 'safe']) {
      const env = { PNW_LIB_MODE: mode, PYNWHEEL_KEY_ENV: 'PNW_LIB_MODE' };
      const { py, pnw } = await both(sb, ['importenv.py'], { env });
      t.same(view(pnw), view(py), `a name added with PYNWHEEL_KEY_ENV: PNW_LIB_MODE=${mode}`);
    }
    const keys = (await status()).zygotes.map((z: { key: { env: Record<string, string> } }) => z.key.env);
    t.ok(keys.some((k: Record<string, string>) => k.PNW_LIB_MODE === 'safe'), 'status shows the variable in a zygote\'s key');
  } finally {
    fs.rmSync(module, { force: true });
  }
});

t.test('PYNWHEEL_MAX_ZYGOTES: the least recently used zygote goes first', async (t) => {
  await pynwheel(sb, ['stop']);
  const env = { PYNWHEEL_MAX_ZYGOTES: '2' };
  write(sb, 'lru.py', 'import os\nprint(os.environ.get("OMP_NUM_THREADS"))\n');
  for (const threads of ['1', '2', '1', '3']) {
    t.equal((await pynwheel(sb, ['run', 'lru.py'], { env: { ...env, OMP_NUM_THREADS: threads } })).stdout.toString(), `${threads}\n`);
  }
  await sleep(300);
  const live = (await status()).zygotes.map((z: { key: { env: Record<string, string> } }) => z.key.env.OMP_NUM_THREADS).sort();
  t.same(live, ['1', '3'], 'the zygote for 2 (least recently used) was stopped');
  t.match(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.log'), 'utf8'), /least recently used of 2 \(PYNWHEEL_MAX_ZYGOTES=2\)/);
});

t.test('an idle zygote exits, and so does an idle daemon', async (t) => {
  await pynwheel(sb, ['stop']);
  const env = { PYNWHEEL_ZYGOTE_IDLE: '1', PYNWHEEL_IDLE: '6' };
  write(sb, 'idle.py', 'print("idle")\n');
  await pynwheel(sb, ['run', 'idle.py'], { env });
  const first = await status();
  const zygotePid = first.zygotes[0].pid;
  for (let i = 0; i < 100 && isAlive(zygotePid); i++) await sleep(50);
  t.notOk(isAlive(zygotePid), 'the zygote left after PYNWHEEL_ZYGOTE_IDLE');
  t.ok(isAlive(first.pid), 'the daemon stays');
  for (let i = 0; i < 200 && isAlive(first.pid); i++) await sleep(50);
  t.notOk(isAlive(first.pid), 'the daemon left after PYNWHEEL_IDLE without runs');
  t.notOk(fs.existsSync(path.join(sb.runtimeDir, 'daemon.sock')), 'and removed its socket');
});

t.test('PYNWHEEL_DISABLE=1 runs the interpreter itself', async (t) => {
  await pynwheel(sb, ['stop']);
  write(sb, 'disabled.py', 'import os, sys\nprint(sys.argv, os.environ.get("PYNWHEEL_DISABLE"))\nsys.exit(4)\n');
  const env = { PYNWHEEL_DISABLE: '1' };
  const pnw = await pynwheel(sb, ['run', 'disabled.py', '--x'], { env });
  const py = await python(sb, ['disabled.py', '--x'], { env });
  t.same(view(pnw), view(py));
  t.notOk(fs.existsSync(path.join(sb.runtimeDir, 'daemon.sock')), 'no daemon was started');
});

/** A Python 3.12 or newer (which warns when a process with threads forks), from PATH or pyenv. */
function python312(): string | null {
  const candidates = ['python3.13', 'python3.12'].map((name) => spawnSync('sh', ['-c', `command -v ${name}`]).stdout.toString().trim());
  const pyenv = path.join(process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv'), 'versions');
  if (fs.existsSync(pyenv)) {
    for (const version of fs.readdirSync(pyenv).filter((v) => /^3\.(1[2-9]|[2-9]\d)\./.test(v))) candidates.push(path.join(pyenv, version, 'bin', 'python3'));
  }
  return candidates.find((c) => c && fs.existsSync(c) && !c.includes('/shims/')) ?? null;
}

t.test('Python 3.12+: the warning about forking with threads never reaches the user', async (t) => {
  const base = python312();
  if (!base) {
    t.fail('this test needs a Python 3.12 or newer (python3.12 on PATH, or under pyenv)');
    return;
  }
  const venv = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-venv312-'));
  extraVenvs.push(venv);
  t.equal(spawnSync(base, ['-m', 'venv', '--without-pip', venv]).status, 0, `a venv of ${base}`);
  // A native (not Python) thread, as numpy's OpenBLAS starts at import.
  fs.writeFileSync(path.join(sitePackages(venv), 'pnw_native_thread.py'), [
    'import ctypes',
    'libc = ctypes.CDLL(None)',
    '_tid = ctypes.c_ulong()',
    'libc.pthread_create(ctypes.byref(_tid), None, ctypes.cast(libc.pause, ctypes.c_void_p), None)',
  ].join('\n') + '\n');
  write(sb, 'native_thread.py', 'import sys, pnw_native_thread\nprint(sys.version_info[:2] >= (3, 12), pnw_native_thread._tid.value != 0)\n');
  const env = { VIRTUAL_ENV: venv, PATH: `${venv}/bin:${sb.env.PATH}`, PYTHONWARNINGS: 'error::DeprecationWarning' };
  await pynwheel(sb, ['run', 'native_thread.py'], { env }); // the zygote imports the module: it now has a native thread
  const { py, pnw } = await both(sb, ['native_thread.py'], { env });
  t.same(view(pnw), view(py), 'same output, no warning, even with DeprecationWarning made an error');
  t.equal(pnw.stdout.toString(), 'True True\n');
  const zygote = (await status({ VIRTUAL_ENV: venv })).zygotes.find((z: { key: { python: string; family: string[] } }) =>
    z.key.python.startsWith(venv) && z.key.family.includes('pnw_native_thread'));
  t.ok(zygote?.preloaded.includes('pnw_native_thread'), 'the run was forked from a zygote that holds the native thread');
  t.notMatch(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.log'), 'utf8'), /multi-threaded, use of fork/, 'not even in the daemon\'s log');
});
