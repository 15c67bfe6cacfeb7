// python's whole command line (lib/shared/command-line.json): each form and flag of
// `pynwheel run [PYTHON OPTIONS] (FILE | -m MODULE | -c CODE | -) [ARGS...]` against `python3`
// with the same arguments, stdout, stderr and status byte for byte, through the native runner
// (bin/pynwheel) and the Node CLI (bin/pynwheel.js); and which of them a zygote served.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { collect, daemonStatus, makeSandbox, pynwheel, python, view, write, ROOT, type Outcome, type RunOptions, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');
const HARNESS = path.join(__dirname, 'fixtures', 'pty_session.py');

let sb: Sandbox;
t.before(() => {
  sb = makeSandbox('cmdline');
  write(sb, 'flags.py', [
    '"""the docstring"""',
    'import faulthandler, os, sys, tracemalloc, warnings',
    'names = ("debug", "inspect", "interactive", "optimize", "dont_write_bytecode", "no_user_site", "no_site",',
    '         "ignore_environment", "verbose", "bytes_warning", "quiet", "isolated", "dev_mode", "utf8_mode",',
    '         "warn_default_encoding", "safe_path", "int_max_str_digits")',
    'print({n: getattr(sys.flags, n, None) for n in names})',
    'print(__debug__, __doc__, sys.warnoptions, warnings.filters[:4])',
    'print(sys.stdout.write_through, sys.stdout.encoding, sys.getfilesystemencoding(), sys.dont_write_bytecode, sys.pycache_prefix)',
    'print(faulthandler.is_enabled(), tracemalloc.is_tracing() and tracemalloc.get_traceback_limit(), sys.get_int_max_str_digits())',
    'print(sys.argv, sys.path[0] == os.path.dirname(os.path.abspath(__file__)))',
    'warnings.warn("a warning", DeprecationWarning)',
    'warnings.warn("another")',
    'assert False, "asserted"',
  ].join('\n') + '\n');
  write(sb, 'interleave.py', 'import sys\nfor i in range(3):\n    sys.stdout.write("out%d " % i)\n    sys.stderr.write("err%d " % i)\n');
});
t.teardown(() => sb.cleanup());

const viaRunner = (args: string[], options: RunOptions = {}): Promise<Outcome> =>
  collect(SHIM, args, { cwd: sb.dir, ...options, env: { ...sb.env, ...options.env } });
const CLIENTS = [['the runner', viaRunner], ['the Node CLI', (args: string[], options: RunOptions = {}) => pynwheel(sb, args, options)]] as const;

/** python3 ARGS, then pynwheel run ARGS through each client: the same bytes and status. */
async function same(t: Test, args: string[], options: RunOptions = {}): Promise<Outcome> {
  const py = await python(sb, args, options);
  for (const [who, run] of CLIENTS) {
    t.same(view(await run(['run', ...args], options)), view(py), `${who}: pynwheel run ${args.join(' ')} == python3 ${args.join(' ')}`);
  }
  return py;
}

/** Which path the runner's run took (PYNWHEEL_DEBUG=1's lines): 'zygote' or 'python'. */
async function pathOf(args: string[], options: RunOptions = {}): Promise<string> {
  const r = await viaRunner(['run', ...args], { ...options, env: { ...options.env, PYNWHEEL_DEBUG: '1' } });
  const debug = r.stderr.toString();
  if (/running python directly/.test(debug)) return 'python';
  if (/lane taken|the daemon started the run/.test(debug)) return 'zygote';
  return `unknown: ${debug}`;
}

t.test('flags with a start-up variable: a zygote of that key, as python with the flag', async (t) => {
  for (const options of [
    ['-u'], ['-B'], ['-O'], ['-OO'], ['-d'], ['-s'], ['-P'], ['-uB'], ['-uBO'], ['-O', '-O'],
    ['-W', 'error'], ['-Werror'], ['-Wd'], ['-W', 'ignore::DeprecationWarning'], ['-W', 'error::UserWarning', '-Wd'],
    ['-X', 'utf8'], ['-Xutf8=0'], ['-X', 'dev'], ['-X', 'faulthandler'], ['-X', 'tracemalloc=3'],
    ['-X', 'int_max_str_digits=640'], ['-X', `pycache_prefix=${path.join(sb.dir, 'pycache')}`], ['-X', 'warn_default_encoding'],
    ['-X', 'frozen_modules=off'], ['-X', 'no_debug_ranges'], ['-X', 'int_max_str_digits=0'], ['-X', 'perf'], ['-X', 'cpu_count=2'],
    ['-W', 'error::DeprecationWarning:__main__:11'], ['-W', 'i', '-W', 'e::UserWarning'],
  ]) {
    await same(t, [...options, 'flags.py', '-x', '--', 'y']);
    t.equal(await pathOf([...options, 'flags.py']), 'zygote', `${options.join(' ')}: served by a zygote`);
  }
  // A flag's variable is set in the run only: the next plain run has python's defaults.
  await same(t, ['flags.py']);
  // With the caller's own variables: -W's entries come after PYTHONWARNINGS's, -O takes the larger level.
  await same(t, ['-W', 'error', 'flags.py'], { env: { PYTHONWARNINGS: 'ignore::DeprecationWarning' } });
  await same(t, ['-O', 'flags.py'], { env: { PYTHONOPTIMIZE: '2' } });
  await same(t, ['-OO', 'flags.py'], { env: { PYTHONOPTIMIZE: '1' } });
  await same(t, ['-u', 'flags.py'], { env: { PYTHONUNBUFFERED: '' } });
});

t.test('-u: stdout and stderr written as they come, on one pipe', async (t) => {
  const merged = (command: string) => spawnSync('sh', ['-c', `${command} 2>&1`], { cwd: sb.dir, env: sb.env }).stdout.toString();
  const py = merged('python3 -u interleave.py');
  t.equal(py, 'out0 err0 out1 err1 out2 err2 ', 'python -u interleaves');
  t.equal(merged(`${SHIM} run -u interleave.py`), py, 'the runner');
  t.equal(merged(`${process.execPath} ${path.join(ROOT, 'bin', 'pynwheel.js')} run -u interleave.py`), py, 'the Node CLI');
  t.equal(merged(`${SHIM} run interleave.py`), merged('python3 interleave.py'), 'and without -u, buffered as python is');
});

t.test('flags without a variable: the interpreter itself runs the command line', async (t) => {
  write(sb, 'skip.py', 'this first line is not python\nimport sys\nprint("skipped the first line", sys.argv)\n');
  write(sb, 'bytes.py', 'print(b"x" == "x", str(b"y"))\n');
  for (const args of [
    ['-q', 'flags.py'], ['-b', 'bytes.py'], ['-bb', 'bytes.py'], ['-E', 'flags.py'], ['-I', 'flags.py'], ['-S', 'flags.py'], ['-x', 'skip.py', 'a'],
    ['-u', '-E', 'flags.py'], ['--check-hash-based-pycs', 'always', 'flags.py'], ['-W', 'error::my.Warning', 'flags.py'],
    ['-X', 'utf8=2', 'flags.py'], ['-X', 'showrefcount', '-c', 'pass'],
    ['-V'], ['--version'], ['-VV'], ['-h'], ['--help'], ['-?'], ['--help-env'],
  ]) {
    await same(t, args);
  }
  t.equal(await pathOf(['-I', 'flags.py']), 'python', '-I: python itself');
  t.equal(await pathOf(['-V']), 'python', '-V: python itself');
  // -v and -X importtime report the run's own imports, which python itself does.
  const verbose = await viaRunner(['run', '-v', '-c', 'import json']);
  t.match(verbose.stderr.toString(), /^import 'json' #/m, '-v lists the run\'s imports');
  const importtime = await viaRunner(['run', '-X', 'importtime', '-c', 'import json']);
  t.match(importtime.stderr.toString(), /import time:.*\| json$/m, '-X importtime times the run\'s imports');
});

t.test('bad command lines: python\'s own message and status 2', async (t) => {
  for (const args of [
    ['-z', 'flags.py'], ['-uz', 'flags.py'], ['-m'], ['-c'], ['-W'], ['-X'], ['--bogus'], ['--check-hash-based-pycs'],
    ['--check-hash-based-pycs', 'sometimes', 'flags.py'], ['-J'], ['-p', 'python3', 'flags.py'], ['-u', '--python', 'python3', 'flags.py'],
  ]) {
    const py = await same(t, args);
    t.equal(py.status, 2, `${args.join(' ')}: status 2`);
  }
  for (const args of [['-m', 'no_such_module_here'], ['-m', '-x'], ['no-such-script.py'], ['']]) await same(t, args);
});

t.test('-c CODE: sys.argv[0] is -c, the cwd first on sys.path, served warm', async (t) => {
  write(sb, 'localmod.py', 'WHERE = "the cwd"\n');
  for (const args of [
    ['-c', 'import sys; print(sys.argv, repr(sys.path[0]), __name__, __file__ if "__file__" in dir() else None)', 'a', '-u', '--'],
    ['-c', 'import localmod, sys; print(localmod.WHERE, sorted(globals()), __loader__, __spec__, __doc__)'],
    ['-cimport sys; print(sys.argv)', 'x'], ['-uc', 'import sys; print(sys.stdout.write_through)', 'y'],
    ['-c', 'raise SystemExit(3)'], ['-c', 'import sys; sys.exit("bye")'], ['-c', '1/0'], ['-c', 'def f(:'], ['-c', ''],
    ['-c', 'import warnings; warnings.warn("w")'], ['-W', 'error', '-c', 'import warnings; warnings.warn("w")'],
    ['-c', 'import sys; print(sys.stdin.read().upper())'],
  ]) {
    await same(t, args, { input: 'stdin text\n' });
  }
  t.equal(await pathOf(['-c', 'pass']), 'zygote', '-c pass: served by a zygote');
  t.equal(await pathOf(['-u', '-c', 'pass']), 'zygote', '-u -c pass: by a zygote');
  // Its top-level imports are preloaded, as a file's: numpy's zygote has numpy.
  await same(t, ['-c', 'import numpy; print(numpy.zeros(3).sum(), __name__)']);
  const status = await daemonStatus(sb);
  t.ok(status.zygotes.some((z: { key: { family: string[] }; preloaded: string[] }) => z.key.family.includes('numpy') && z.preloaded.includes('numpy')),
    'a zygote of the numpy family preloaded numpy for -c');
  t.equal(await pathOf(['-c', 'import numpy']), 'zygote', 'and serves the next -c that imports it');
});

t.test('-m MODULE, --, and arguments that look like options', async (t) => {
  await same(t, ['-m', 'json.tool'], { input: '{"b": 1, "a": [1, 2]}' });
  await same(t, ['-u', '-m', 'json.tool', '--sort-keys'], { input: '{"b": 1, "a": 2}' });
  await same(t, ['-um', 'json.tool', '--indent', '1'], { input: '[1]' });
  await same(t, ['--', 'flags.py', '-u', '-c', 'x']);
  await same(t, ['-u', '--', 'flags.py', '--help']);
  await same(t, ['flags.py', '-W', 'error', '-X', 'utf8', '-m', 'x']);
});

t.test('the program from stdin: -, a pipe, -i', async (t) => {
  const program = 'import sys\nprint("from stdin", sys.argv, repr(sys.path[0]))\n';
  await same(t, ['-'], { input: program });
  await same(t, ['-', 'a', '-b'], { input: program });
  await same(t, ['-u', '-'], { input: program });
  await same(t, [], { input: program });
  await same(t, ['-u'], { input: program });
  await same(t, ['-i', 'flags.py'], { input: 'print("after the script", 6 * 7)\n' });
  await same(t, ['-i', '-c', 'x = 5'], { input: 'print(x * 2)\n' });
  t.equal(await pathOf(['-'], { input: program }), 'python', '-: python itself');
});

t.test('no script on a terminal: python\'s interactive prompt, PYTHONSTARTUP read', async (t) => {
  write(sb, 'startup.py', 'print("startup file ran")\n');
  const steps = [{ expect: '>>> ' }, { send: 'print(6 * 7)\n' }, { expect: '42' }, { expect: '>>> ' }, { send: 'import sys; sys.exit(4)\n' }];
  const env = { ...sb.env, TERM: 'xterm', HOME: sb.dir, PYTHONSTARTUP: path.join(sb.dir, 'startup.py') };
  const session = (command: string[]) => {
    const r = spawnSync(path.join(sb.venv, 'bin', 'python3'), [HARNESS, JSON.stringify(steps), '--', ...command], { cwd: sb.dir, env, encoding: 'utf8', timeout: 60_000 });
    const report = JSON.parse(r.stdout);
    return { ...report, output: Buffer.from(report.output, 'base64').toString('utf8') };
  };
  const py = session(['python3', '-q']);
  t.equal(py.timedOut, null, 'python: every step happened');
  t.match(py.output, /startup file ran/);
  t.equal(py.code, 4);
  for (const [who, command] of [['the runner', [SHIM, 'run', '-q']], ['the Node CLI', [process.execPath, path.join(ROOT, 'bin', 'pynwheel.js'), 'run', '-q']]] as const) {
    t.same(session([...command]), py, `${who}: the same prompt, output and status`);
  }
});

t.test('a shebang with flags: as `#!/usr/bin/env -S python3 FLAGS`, served by a zygote', async (t) => {
  const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');
  const body = 'import sys\nprint(sys.stdout.write_through, sys.dont_write_bytecode, sys.argv)\nfor i in range(3):\n' +
    '    sys.stdout.write("out%d " % i)\n    sys.stderr.write("err%d " % i)\n';
  const env = { ...sb.env, PATH: `${path.join(ROOT, 'bin')}:${sb.env.PATH}` };
  // 2>&1 on one pipe: -u's interleaving shows, as python's does.
  const run = (file: string, extra: Record<string, string> = {}) =>
    spawnSync('sh', ['-c', `./${file} a -u -- b 2>&1; echo " status $?"`], { cwd: sb.dir, env: { ...env, ...extra }, encoding: 'utf8' });
  for (const [flags, pythonFlags] of [['-u', '-u'], ['-u -B', '-u -B'], ['-uB', '-uB'], ['-W error -u', '-W error -u']]) {
    write(sb, 'sb-python.py', `#!/usr/bin/env -S python3 ${pythonFlags}\n${body}`, 0o755);
    const py = run('sb-python.py');
    t.match(py.stdout, /^True/, `python3 ${pythonFlags}: unbuffered`);
    const forms = [
      `#!/usr/bin/env -S pynwheel ${flags}`, `#!/usr/bin/env -S pynwheel run ${flags}`,
      `#!${RUNNER} ${flags}`, // the kernel passes "${flags}" as one argument
      `#!/usr/bin/env -S ${process.execPath} ${path.join(ROOT, 'bin', 'pynwheel.js')} ${flags}`,
    ];
    for (const line of forms) {
      write(sb, 'sb-pynwheel.py', `${line}\n${body}`, 0o755);
      t.equal(run('sb-pynwheel.py').stdout, py.stdout.replace(/sb-python/g, 'sb-pynwheel'), `${line} == #!/usr/bin/env -S python3 ${pythonFlags}`);
    }
    write(sb, 'sb-pynwheel.py', `#!${RUNNER} ${flags}\n${body}`, 0o755);
    t.match(run('sb-pynwheel.py', { PYNWHEEL_DEBUG: '1' }).stdout, /lane taken|the daemon started the run/, `#!runner ${flags}: a zygote served it`);
  }
});

t.test('a flag newer than the interpreter (-P on 3.10): its own "Unknown option" and status 2, as python says', async (t) => {
  const old = ['3.10.13', '3.9.18', '3.8.18'].map((v) => path.join(process.env.HOME ?? '/root', '.pyenv', 'versions', v, 'bin', 'python3'))
    .find((p) => spawnSync(p, ['-c', 'pass']).status === 0);
  if (old === undefined) return t.fail('this test needs a python older than 3.11 under ~/.pyenv/versions (3.10, 3.9 or 3.8)');
  write(sb, 'safe.py', 'import sys\nprint(getattr(sys.flags, "safe_path", None))\n');
  const py = await collect(old, ['-P', 'safe.py'], { cwd: sb.dir, env: sb.env });
  t.equal(py.status, 2, `${old} -P: status 2`);
  t.match(py.stderr.toString(), /Unknown option: -P/);
  for (const [who, run] of CLIENTS) {
    for (const args of [['-P', 'safe.py'], ['-uP', 'safe.py']]) {
      const expected = args[0] === '-P' ? py : await collect(old, args, { cwd: sb.dir, env: sb.env });
      t.same(view(await run(['run', '--python', old, ...args])), view(expected), `${who}: pynwheel run --python ${path.basename(path.dirname(path.dirname(old)))} ${args.join(' ')}`);
    }
  }
  // The Node API's pythonOptions: the same interpreter's own error.
  const { run } = await import('../dist/index.js');
  const r = await run('safe.py', { cwd: sb.dir, env: sb.env, python: old, pythonOptions: ['-P'], stdio: 'pipe' }).catch((e: { exitCode?: number; stderr?: string }) => e);
  t.equal((r as { exitCode?: number }).exitCode, 2, 'run() with pythonOptions [-P]: python\'s status 2');
  // And a python that has it still serves -P warm (once its zygote is: a first run with no
  // zygote of that key ready is a cold run, python's own, while one warms).
  let via = await pathOf(['-P', 'safe.py']);
  for (let i = 0; i < 50 && via !== 'zygote'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    via = await pathOf(['-P', 'safe.py']);
  }
  t.equal(via, 'zygote', '-P on this venv\'s python (3.11+) is served by a zygote');
});
