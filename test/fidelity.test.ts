// Fidelity beyond the core path: start-up settings, stdio objects, per-run state, process
// attributes and the other ways python runs a script, each compared with python3 itself.
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { both, makeSandbox, pynwheel, view, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('fidelity'); });
t.teardown(() => sb.cleanup());

async function same(t: Test, args: string[], options: Parameters<typeof both>[2] = {}, what?: string) {
  const { py, pnw } = await both(sb, args, options);
  t.same(view(pnw), view(py), what ?? `pynwheel run ${args.join(' ')} == python3 ${args.join(' ')}`);
  return { py, pnw };
}

t.test('python\'s start-up settings are honoured', async (t) => {
  write(sb, 'lib_on_path/extra_mod.py', 'WHERE = "from PYTHONPATH"\n');
  write(sb, 'settings.py', [
    'import sys, os, warnings, faulthandler, tracemalloc, site',
    '# Without PYTHONHASHSEED the hash is random in every process (documented in the README).',
    'if os.environ.get("PYTHONHASHSEED"): print("hash", hash("pynwheel"), list({"a", "b", "c", "d", "e"}))',
    'print("flags", sys.flags.optimize, sys.flags.dont_write_bytecode, sys.flags.utf8_mode, sys.flags.dev_mode, sys.flags.no_user_site, getattr(sys.flags, "safe_path", None))',
    'print("debug", __debug__, "user site", site.ENABLE_USER_SITE)',
    'print("path0 is the script dir", sys.path[0] == os.path.dirname(os.path.abspath(__file__)))',
    'print("faulthandler", faulthandler.is_enabled(), "tracemalloc", tracemalloc.is_tracing())',
    'print("stdout", sys.stdout.encoding, sys.stdout.errors, "stdin", sys.stdin.encoding if sys.stdin else None)',
    'print("héllo ✓")',
    'try:',
    '    import extra_mod; print(extra_mod.WHERE)',
    'except ImportError as e: print("no extra_mod")',
    'breakpoint()',
    'warnings.warn("a user warning")',
    'print("after the warning")',
  ].join('\n') + '\n');
  const cases: Record<string, NodeJS.ProcessEnv> = {
    plain: {},
    'PYTHONHASHSEED=0': { PYTHONHASHSEED: '0' },
    'PYTHONHASHSEED=12345': { PYTHONHASHSEED: '12345' },
    'PYTHONWARNINGS=error': { PYTHONWARNINGS: 'error::UserWarning' },
    'PYTHONWARNINGS=ignore': { PYTHONWARNINGS: 'ignore' },
    'PYTHONIOENCODING': { PYTHONIOENCODING: 'latin-1:replace' },
    'PYTHONIOENCODING ascii': { PYTHONIOENCODING: 'ascii' },
    PYTHONUNBUFFERED: { PYTHONUNBUFFERED: '1' },
    PYTHONDONTWRITEBYTECODE: { PYTHONDONTWRITEBYTECODE: '1' },
    PYTHONSAFEPATH: { PYTHONSAFEPATH: '1' },
    'PYTHONUTF8=1': { PYTHONUTF8: '1', LANG: 'C' },
    'LANG=C': { LANG: 'C' },
    'LC_ALL=C': { LC_ALL: 'C' },
    PYTHONPATH: { PYTHONPATH: path.join(sb.dir, 'lib_on_path') },
    PYTHONNOUSERSITE: { PYTHONNOUSERSITE: '1' },
    'PYTHONBREAKPOINT=0': { PYTHONBREAKPOINT: '0' },
    PYTHONFAULTHANDLER: { PYTHONFAULTHANDLER: '1' },
    PYTHONTRACEMALLOC: { PYTHONTRACEMALLOC: '1' },
    'PYTHONOPTIMIZE=1': { PYTHONOPTIMIZE: '1' },
    PYTHONDEVMODE: { PYTHONDEVMODE: '1' },
  };
  // breakpoint() under python waits on pdb: every case but one sets PYTHONBREAKPOINT=0.
  for (const [name, env] of Object.entries(cases)) {
    await same(t, ['settings.py'], { env: { PYTHONBREAKPOINT: '0', ...env } }, name);
  }
});

t.test('PYTHONINSPECT: python\'s REPL after the script', async (t) => {
  write(sb, 'inspect_me.py', 'x = 41\nprint("script ran")\n');
  await same(t, ['inspect_me.py'], { env: { PYTHONINSPECT: '1' }, input: 'print(x + 1)\n' });
});

t.test('a faulting run prints faulthandler\'s report on its own stderr', async (t) => {
  write(sb, 'segv.py', 'import ctypes, faulthandler\nprint("before", flush=True)\nctypes.string_at(0)\n');
  const { py, pnw } = await both(sb, ['segv.py'], { env: { PYTHONFAULTHANDLER: '1' } });
  const mask = (s: string) => s.replace(/0x[0-9a-f]+/g, '0x...');
  t.equal(pnw.signal, py.signal, `both die by ${py.signal}`);
  t.equal(pnw.stdout.toString(), py.stdout.toString());
  // faulthandler dumps the live C stack of frames: below the script's frames it shows the
  // zygote's own (documented in the README). Everything else is python's report.
  const withoutZygote = (s: string) => mask(s).split('\n').filter((line) => !line.includes('pynwheel_zygote.py')).join('\n');
  t.equal(withoutZygote(pnw.stderr.toString()), mask(py.stderr.toString()), 'the same fault report (addresses masked), but for the zygote\'s frames');
});

t.test('sys.stdin/stdout/stderr look like python\'s own', async (t) => {
  write(sb, 'streams.py', [
    'import sys',
    'for s in (sys.stdin, sys.stdout, sys.stderr):',
    '    b = s.buffer',
    '    raw = getattr(b, "raw", b)',
    '    print(s.name, s.mode, s.encoding, s.errors, s.line_buffering, s.write_through, type(b).__name__, raw.name, raw.mode, s.isatty(), file=sys.stderr)',
    'print(sys.__stdout__ is sys.stdout, sys.__stdin__ is sys.stdin, sys.__stderr__ is sys.stderr)',
  ].join('\n') + '\n');
  await same(t, ['streams.py']);
  await same(t, ['streams.py'], { input: 'some input\n' });
  await same(t, ['streams.py'], { env: { PYTHONUNBUFFERED: '1' } });
});

t.test('what a run changes never reaches the next run', async (t) => {
  write(sb, 'mutate.py', [
    'import os, sys, json, random',
    'print("seen", os.environ.get("PNW_MUTATED"), getattr(json, "pnw_mark", None), sorted(k for k in globals() if not k.startswith("__")))',
    'os.environ["PNW_MUTATED"] = "yes"',
    'json.pnw_mark = "changed"',
    'json.dumps = None',
    'sys.path.append("/nonexistent")',
    'print("random", random.random() != random.random())',
  ].join('\n') + '\n');
  const first = await pynwheel(sb, ['run', 'mutate.py']);
  const second = await pynwheel(sb, ['run', 'mutate.py']);
  t.equal(first.stdout.toString(), second.stdout.toString(), 'the second run starts as clean as the first');
  t.match(second.stdout.toString(), /^seen None None \['json', 'os', 'random', 'sys'\]/);
});

t.test('random state is fresh every run: random and numpy', async (t) => {
  write(sb, 'rand.py', 'import random, numpy\nprint(random.random(), numpy.random.random(), numpy.random.randint(1 << 30))\n');
  const outputs = new Set<string>();
  for (let i = 0; i < 4; i++) outputs.add((await pynwheel(sb, ['run', 'rand.py'])).stdout.toString());
  t.equal(outputs.size, 4, 'four runs, four different draws');
});

t.test('the caller\'s umask and resource limits apply in the run; it has its own process group', async (t) => {
  write(sb, 'attrs.py', [
    'import os, resource',
    'old = os.umask(0); os.umask(old)',
    'print("umask", oct(old))',
    'for name in ("RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_STACK", "RLIMIT_CPU", "RLIMIT_FSIZE"):',
    '    print(name, resource.getrlimit(getattr(resource, name)))',
    'print("own group", os.getpgrp() == os.getpid())',
  ].join('\n') + '\n');
  // The limits are set by the shell that starts each command, as a user would with ulimit.
  const viaShell = (command: string) => spawnSync('sh', ['-c', `umask 027; ulimit -c 0; ulimit -S -s 4096; ulimit -t 1000; ulimit -f 100000; ulimit -S -n 512; exec ${command}`], { cwd: sb.dir, env: sb.env });
  const py = viaShell('python3 attrs.py');
  const pnw = viaShell(`${process.execPath} ${path.resolve(__dirname, '..', 'bin', 'pynwheel.js')} run attrs.py`);
  const lines = (b: Buffer) => b.toString().split('\n');
  const [pyOut, pnwOut] = [lines(py.stdout), lines(pnw.stdout)];
  t.equal(pnwOut[0], pyOut[0], 'umask');
  for (let i = 1; i <= 5; i++) {
    // Node raises its own soft RLIMIT_NOFILE at start-up, so the Node client cannot tell the
    // shell's: that one row is compared on the hard limit only.
    if (pyOut[i].startsWith('RLIMIT_NOFILE')) t.equal(pnwOut[i].split(',')[1], pyOut[i].split(',')[1], 'RLIMIT_NOFILE (hard)');
    else t.equal(pnwOut[i], pyOut[i], pyOut[i].split(' ')[0]);
  }
  t.equal(pnwOut[6], 'own group True');
  // The native runner (the warm path of the committed shim) sends its getrlimit values and
  // umask itself: every row is exact there, RLIMIT_NOFILE's soft limit included.
  const viaRunner = viaShell(`${path.resolve(__dirname, '..', 'bin', 'pynwheel')} run attrs.py`);
  const runnerOut = lines(viaRunner.stdout);
  t.same(runnerOut.slice(0, 6), pyOut.slice(0, 6), 'through the runner: the umask and every limit as python has them');
  t.equal(runnerOut[6], 'own group True', 'through the runner: its own process group');
});

t.test('a directory or zip file with __main__.py runs as with python', async (t) => {
  write(sb, 'app_dir/__main__.py', 'import sys\nprint("dir main", __name__, sys.argv)\nimport helper_in_dir\n');
  write(sb, 'app_dir/helper_in_dir.py', 'print("helper found")\n');
  await same(t, ['app_dir', 'x']);
  const zip = path.join(sb.dir, 'app.zip');
  execFileSync(path.join(sb.venv, 'bin', 'python3'), ['-c', `import zipfile\nwith zipfile.ZipFile(${JSON.stringify(zip)}, "w") as z:\n    z.writestr("__main__.py", "import sys\\nprint('zip main', __name__, sys.argv)\\nraise SystemExit(3)\\n")`]);
  await same(t, ['app.zip', 'y']);
  write(sb, 'no_main/readme.txt', 'nothing to run\n');
  await same(t, ['no_main']);
});

t.test('exception groups and errors in odd places print as python prints them', async (t) => {
  write(sb, 'groups.py', [
    'def f():',
    '    raise ExceptionGroup("many", [ValueError("one"), TypeError("two"), ExceptionGroup("nested", [KeyError("k")])])',
    'try:',
    '    f()',
    'except* ValueError:',
    '    print("handled the ValueError")',
  ].join('\n') + '\n');
  await same(t, ['groups.py']);
  write(sb, 'indent.py', 'def f():\n  x = 1\n    y = 2\n');
  await same(t, ['indent.py']);
  write(sb, 'recursion.py', 'import sys\nprint(sys.getrecursionlimit())\ndef f(n):\n    return f(n + 1)\nf(0)\n');
  await same(t, ['recursion.py']);
  write(sb, 'recursion_limit.py', 'import sys\nsys.setrecursionlimit(200)\nprint(sys.getrecursionlimit())\ndef depth(n):\n    try:\n        return depth(n + 1)\n    except RecursionError:\n        return n\nprint(depth(0))\n');
  await same(t, ['recursion_limit.py']);
  write(sb, 'notes.py', 'e = ValueError("with a note")\ne.add_note("a note")\nraise e\n');
  await same(t, ['notes.py']);
});

t.test('multiprocessing works with every start method, over functions of __main__', async (t) => {
  write(sb, 'mp.py', [
    'import multiprocessing as mp, sys',
    'def square(x):',
    '    return x * x',
    'class Adder:',
    '    def __call__(self, x):',
    '        return x + 100',
    'if __name__ == "__main__":',
    '    for method in ("fork", "spawn", "forkserver"):',
    '        ctx = mp.get_context(method)',
    '        with ctx.Pool(2) as pool:',
    '            print(method, pool.map(square, range(5)), pool.map(Adder(), [1, 2]))',
    '    import subprocess',
    '    print(subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout.strip())',
  ].join('\n') + '\n');
  await same(t, ['mp.py'], { timeoutMs: 120_000 });
});
