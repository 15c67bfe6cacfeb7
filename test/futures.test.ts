// The Python package `pynwheel` (python/pynwheel/): `import pynwheel` in every run, `pynwheel
// python-path` for python outside runs, and pynwheel.futures.Executor differentially: the same
// script with ProcessPoolExecutor under python3, and with pynwheel's Executor under python3 and
// under `pynwheel run` (where the caller is itself a warm fork), byte for byte.
import t from 'tap';
import * as path from 'node:path';
import { both, collect, makeSandbox, pynwheel, python, ROOT, view, write, type Sandbox } from './helpers';

let sb: Sandbox;
let pythonPath: string;
t.before(async () => {
  sb = makeSandbox('futures');
  pythonPath = (await pynwheel(sb, ['python-path'])).stdout.toString().trim();
});
t.teardown(() => sb.cleanup());

const SCENARIOS = `
import concurrent.futures as cf
import multiprocessing
import os
import sys
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: ProcessPoolExecutor forks beside its threads

def square(x):
    return x * x

def add(x, y=0):
    return x + y

def fail(message):
    raise ValueError(message)

def nap(seconds, value):
    time.sleep(seconds)
    return value

def read_stdin():
    return sys.stdin.read()

def talk(i):
    print("task", i, "says hello", flush=True)
    return i

def executor(workers):
    if sys.argv[1] == "process":
        return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    import pynwheel.futures
    return pynwheel.futures.Executor(workers)

def show(future):
    try:
        return repr(future.result(timeout=30))
    except BaseException as exc:
        return "%s%r" % (type(exc).__name__, exc.args)

with executor(2) as ex:
    print("submit:", [show(ex.submit(f, *a)) for f, a in [(square, (12,)), (add, ("a", "b")), (fail, ("bad",)), (sys.exit, (5,))]])
    print("map:", list(ex.map(square, range(8))), list(ex.map(add, range(3), range(10, 20))))
    print("chunks:", [list(ex.map(square, range(11), chunksize=n)) == [x * x for x in range(11)] for n in (2, 5, 50)])
    slow, fast = ex.submit(nap, 1.0, "slow"), ex.submit(nap, 0, "fast")
    print("as_completed:", [f.result() for f in cf.as_completed([slow, fast], timeout=30)])
    done, _ = cf.wait([ex.submit(fail, "first"), ex.submit(nap, 1.0, "late")], return_when=cf.FIRST_EXCEPTION, timeout=30)
    print("wait:", [show(f) for f in done])
    try:
        ex.submit(fail, "with traceback").result()
    except ValueError as exc:
        print("cause:", "raise ValueError(message)" in str(exc.__cause__))
    print("output:", [ex.submit(talk, i).result() for i in range(2)])
    print("stdin:", repr(ex.submit(read_stdin).result()))
    it = ex.map(nap, [0, 2], ["fast", "slow"], timeout=0.5)
    print("timeout:", next(it), end=" ")
    try:
        next(it)
    except cf.TimeoutError:
        print("TimeoutError")
ex = executor(1)
first = ex.submit(nap, 0.5, "ran")
time.sleep(0.2)
later = [ex.submit(square, i) for i in range(5)]
ex.shutdown(wait=True, cancel_futures=True)
print("cancel_futures:", first.result(), later[-1].cancelled())
try:
    ex.submit(square, 1)
except RuntimeError as exc:
    print("after shutdown:", exc)
print("done")
`;

t.test('pynwheel python-path names the package\'s directory', async (t) => {
  t.equal(pythonPath, path.join(ROOT, 'python'));
  const r = await python(sb, ['-c', 'import pynwheel, pynwheel.futures; print(pynwheel.__file__)'], { env: { PYTHONPATH: pythonPath } });
  t.same(view(r), { stdout: `${path.join(ROOT, 'python', 'pynwheel', '__init__.py')}\n`, stderr: '', status: 0, signal: null });
});

t.test('the Executor: the same output as ProcessPoolExecutor, under python3 and under pynwheel', async (t) => {
  write(sb, 'scenarios.py', SCENARIOS);
  const input = 'the caller\'s input, which no task reads\n';
  const reference = await python(sb, ['scenarios.py', 'process'], { input });
  t.equal(reference.stderr.toString(), '', 'ProcessPoolExecutor ran it');
  t.match(reference.stdout.toString(), /^task 0 says hello\ntask 1 says hello\nsubmit: \['144', "'ab'", "ValueError\('bad',\)", 'SystemExit\(5,\)'\]\n/,
    'the tasks\' output first: the caller\'s own stdout is a pipe, flushed at its exit');
  t.match(reference.stdout.toString(), /\nas_completed: \['fast', 'slow'\]\n/);
  t.match(reference.stdout.toString(), /cancel_futures: ran True\nafter shutdown: cannot schedule new futures after shutdown\ndone\n$/);
  t.match(reference.stdout.toString(), /\nstdin: ''\n/, 'a task\'s stdin is /dev/null');
  const ours = await python(sb, ['scenarios.py', 'pynwheel'], { env: { PYTHONPATH: pythonPath }, input });
  t.same(view(ours), view(reference), 'python3 with pynwheel.futures.Executor == with ProcessPoolExecutor');
  for (const time of ['first', 'warm']) {
    // No PYTHONPATH here: the run imports pynwheel by itself.
    const run = await pynwheel(sb, ['run', 'scenarios.py', 'pynwheel'], { input });
    t.same(view(run), view(reference), `pynwheel run (${time}) == python3 with ProcessPoolExecutor`);
  }
});

t.test('a crashing task fails its own future, at_fork hooks run in each task: python3 and pynwheel alike', async (t) => {
  write(sb, 'crash.py', `
import os, signal, sys
import pynwheel
from pynwheel.futures import Executor, TaskDied

def pid():
    return os.getpid()

def hook():
    os.environ["PYNWHEEL_TEST_HOOK"] = str(os.getpid())

def hooked(_):
    return os.environ.get("PYNWHEEL_TEST_HOOK") == str(os.getpid())

def die(how):
    if how == "exit":
        os._exit(7)
    os.kill(os.getpid(), getattr(signal, how))

pynwheel.at_fork(hook)
with Executor(2) as ex:
    for how in ("exit", "SIGKILL", "SIGSEGV"):
        exc = ex.submit(die, how).exception(30)
        print(type(exc).__name__, exc.exitcode, exc.signal, str(exc).split(" ", 2)[2])
    print("still working:", list(ex.map(abs, [-1, -2, -3])), "hooks:", all(ex.map(hooked, range(4))))
    print("its own processes:", len({ex.submit(pid).result() for _ in range(3)} - {os.getpid()}))
    print("caller hooked:", "PYNWHEEL_TEST_HOOK" in os.environ, flush=True)
    ex.submit(die, "exit").result()
`);
  const { py, pnw } = await both(sb, ['crash.py'], { env: { PYTHONPATH: pythonPath } });
  t.same(view(pnw), view(py), 'pynwheel run == python3');
  t.equal(py.status, 1);
  t.match(py.stdout.toString(), [
    'TaskDied 7 None exited with status 7 before it returned',
    'TaskDied None 9 died of signal 9 (SIGKILL)',
    'TaskDied None 11 died of signal 11 (SIGSEGV)',
    'still working: [1, 2, 3] hooks: True',
    'its own processes: 3',
    'caller hooked: False',
  ].join('\n'));
  t.match(py.stderr.toString(), /\npynwheel\.futures\.TaskDied: task \d+ exited with status 7 before it returned\n$/, 'the uncaught TaskDied');
  const warm = await pynwheel(sb, ['run', 'crash.py'], { env: { PYTHONPATH: pythonPath } });
  t.same(view(warm), view(py), 'and warm');
});

t.test('import pynwheel in a run; a script\'s own pynwheel module comes first, as under python', async (t) => {
  write(sb, 'where.py', 'import pynwheel, sys\nprint(pynwheel.__name__, pynwheel.at_fork.__module__, callable(pynwheel.futures.Executor))\n');
  for (const time of ['first', 'warm']) {
    const r = await pynwheel(sb, ['run', 'where.py']);
    t.same(view(r), { stdout: 'pynwheel pynwheel.hooks True\n', stderr: '', status: 0, signal: null }, `${time} run`);
  }
  write(sb, 'own/pynwheel.py', 'print("the script\'s own pynwheel")\n');
  write(sb, 'own/main.py', 'import pynwheel\n');
  const { py, pnw } = await both(sb, ['own/main.py']);
  t.same(view(pnw), view(py));
  t.equal(py.stdout.toString(), 'the script\'s own pynwheel\n');
});

t.test('import pynwheel where python runs the script itself, as in a warm run: the same sys.path, PYTHONPATH and environment', async (t) => {
  write(sb, 'direct.py', [
    'import os, sys',
    'import pynwheel',
    'print(pynwheel.__name__, callable(pynwheel.futures.Executor), type(sys.meta_path[-1]).__name__)',
    'print(sys.path)',
    'print(os.environ.get("PYTHONPATH"), sorted(k for k in os.environ if k.startswith("PYNWHEEL_DIRECT")))',
  ].join('\n') + '\n');
  const runner = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');
  for (const extra of [{}, { PYTHONPATH: path.join(sb.dir, 'lib-of-mine') }, { PYTHONPATH: '' }]) {
    const env = { ...sb.env, ...extra };
    await pynwheel(sb, ['run', 'direct.py'], { env }); // the first: the daemon's
    const warm = await pynwheel(sb, ['run', 'direct.py'], { env });
    t.equal(warm.status, 0, `a warm run imports it (${JSON.stringify(extra)})`);
    const ways = {
      'PYNWHEEL_DISABLE=1 (Node CLI)': await pynwheel(sb, ['run', 'direct.py'], { env: { ...env, PYNWHEEL_DISABLE: '1' } }),
      'a flag with no start-up variable (Node CLI)': await pynwheel(sb, ['run', '-b', 'direct.py'], { env }),
      'a flag with no start-up variable (runner)': await collect(runner, ['run', '-b', 'direct.py'], { cwd: sb.dir, env }),
    };
    for (const [way, r] of Object.entries(ways)) t.same(view(r), view(warm), `${way} == a warm run (${JSON.stringify(extra)})`);
  }
  // Under -I, -E and -S python reads no PYTHONPATH or no sitecustomize: the environment is left as it is.
  write(sb, 'environment.py', 'import os, sys\nprint(os.environ.get("PYTHONPATH"), sorted(k for k in os.environ if k.startswith("PYNWHEEL_DIRECT")), "sitecustomize" in sys.modules)\n');
  for (const flag of ['-I', '-E', '-S', '-bE']) {
    const env = { ...sb.env, PYTHONPATH: path.join(sb.dir, 'lib-of-mine') };
    const py = await python(sb, [flag, 'environment.py'], { env });
    t.same(view(await pynwheel(sb, ['run', flag, 'environment.py'], { env })), view(py), `${flag}: the Node CLI == python`);
    t.same(view(await collect(runner, ['run', flag, 'environment.py'], { cwd: sb.dir, env })), view(py), `${flag}: the runner == python`);
  }
});

t.test('examples/futures.py, the README\'s example: python3 and pynwheel alike', async (t) => {
  const example = path.join(ROOT, 'examples', 'futures.py');
  const { py, pnw } = await both(sb, [example], { env: { PYTHONPATH: pythonPath } });
  t.same(view(pnw), view(py), 'pynwheel run == python3');
  t.same(view(py), {
    stdout: 'means of 2000 columns, the first: 0.497338\nhooks ran in each task: True\n0.497338\n0.49195\n0.500668\ntask 32 exited with status 3 before it returned\n',
    stderr: '', status: 0, signal: null,
  });
  const warm = await pynwheel(sb, ['run', example]);
  t.same(view(warm), view(py), 'a warm run, without PYTHONPATH');
});
