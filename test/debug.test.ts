// PYNWHEEL_DEBUG=1: the Node client (the CLI and run()) says on its fd 2, and the daemon in
// daemon.log, which path each run took and why. Without the variable nothing is said: a run's
// stderr stays python's, byte for byte.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { routeName } from '../lib/shared/route-name';
import { collect, makeSandbox, pynwheel, python, view, write, ROOT, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('debug', { cold: true }); });
t.teardown(() => sb.cleanup());

const DEBUG = { PYNWHEEL_DEBUG: '1' };
const debugLines = (text: string, who: string) => text.split('\n').filter((line) => line.startsWith(`pynwheel debug: ${who}: `));
const daemonLog = () => fs.readFileSync(path.join(sb.runtimeDir, 'daemon.log'), 'utf8');
const route = (file: string) => `r/${routeName(path.join(sb.venv, 'bin', 'python3'), sb.dir, file)}`;

t.test('without the variable nothing is said, on the first run or a warm one', async (t) => {
  write(sb, 'quiet.py', 'import sys\nprint("out")\nprint("err", file=sys.stderr)\n');
  const py = view(await python(sb, ['quiet.py']));
  t.same(view(await pynwheel(sb, ['run', 'quiet.py'])), py, 'first run: python\'s output exactly');
  t.same(view(await pynwheel(sb, ['run', 'quiet.py'])), py, 'warm run: python\'s output exactly');
  t.same(view(await pynwheel(sb, ['run', 'quiet.py'], { env: { PYNWHEEL_DEBUG: '0' } })), py, 'PYNWHEEL_DEBUG=0 is off');
  t.notMatch(daemonLog(), /pynwheel debug:/, 'and daemon.log has no debug line');
});

t.test('the Node CLI: no route, then the lane; a decline; a module run; python run directly', async (t) => {
  write(sb, 'b.py', 'print("b")\n');
  const first = await pynwheel(sb, ['run', 'b.py'], { env: DEBUG });
  t.equal(first.stdout.toString(), 'b\n', 'the run\'s output');
  t.same(debugLines(first.stderr.toString(), 'client'), ['pynwheel debug: client: no route (no-route); asking the daemon'], 'first run: no route yet');
  t.equal(first.stderr.toString(), 'pynwheel debug: client: no route (no-route); asking the daemon\n', 'nothing else on stderr');

  const warm = await pynwheel(sb, ['run', 'b.py'], { env: DEBUG });
  t.equal(warm.stdout.toString(), 'b\n');
  t.same(debugLines(warm.stderr.toString(), 'client'), [`pynwheel debug: client: lane taken (route ${route('b.py')})`], 'warm run: the lane');

  // Another value of a variable the zygote is keyed by: the spare declines, the daemon decides.
  const other = await pynwheel(sb, ['run', 'b.py'], { env: { ...DEBUG, OMP_NUM_THREADS: '3' } });
  t.equal(other.stdout.toString(), 'b\n');
  const [declined] = debugLines(other.stderr.toString(), 'client');
  t.match(declined, /^pynwheel debug: client: lane declined: .*; asking the daemon$/, 'a decline, and the daemon asked');
  // The decline's code: from a zygote that sends {decline, reason: code, message} (the Python side).
  t.match(declined, /lane declined: other-key-env \(.+\); asking the daemon$/, 'its code and message');

  write(sb, 'mod.py', 'print("module")\n');
  const module = await pynwheel(sb, ['run', '-m', 'mod'], { env: DEBUG });
  t.equal(module.stdout.toString(), 'module\n');
  t.same(debugLines(module.stderr.toString(), 'client'), ['pynwheel debug: client: module run (module-run); asking the daemon']);

  const direct = await pynwheel(sb, ['run', 'b.py'], { env: { ...DEBUG, PYNWHEEL_DISABLE: '1' } });
  t.equal(direct.stdout.toString(), 'b\n');
  t.same(debugLines(direct.stderr.toString(), 'client'), ['pynwheel debug: client: running python directly (PYNWHEEL_DISABLE=1)']);
});

t.test('the daemon: accepted, given to a zygote, routed to a family, route published', async (t) => {
  const log = daemonLog();
  const lines = debugLines(log, 'daemon');
  t.ok(lines.length > 0, 'daemon.log has debug lines');
  t.ok(lines.every((line) => /^pynwheel debug: daemon: run \d+ of /.test(line)), 'each about a run');
  t.match(log, /pynwheel debug: daemon: run \d+ of b\.py accepted from the client \(pid \d+\)/);
  t.match(log, /pynwheel debug: daemon: run \d+ of b\.py given to (zygote \d+|a new zygote) \(base(; key [^)]*)?\)/);
  t.match(log, new RegExp(`pynwheel debug: daemon: run \\d+ of b\\.py route ${route('b.py')} published`));
  // No zygote of that key yet: a cold run, python's own, and its zygote warms for the next.
  t.match(log, /pynwheel debug: daemon: run \d+ of b\.py run by python itself \(cold: cold run: no zygote of its key \(base; key [^)]*OMP_NUM_THREADS=3[^)]*\) is ready; warming it\)/, 'the run of another key');
  t.match(log, /pynwheel debug: daemon: run \d+ of -m mod accepted/);
  t.notMatch(log, /run \d+ of quiet\.py/, 'nothing about the runs that did not ask');

  write(sb, 'np.py', 'import numpy\nprint("np")\n');
  const routed = await pynwheel(sb, ['run', 'np.py'], { env: DEBUG });
  t.equal(routed.stdout.toString(), 'np\n');
  t.match(daemonLog(), /pynwheel debug: daemon: run \d+ of np\.py routed to family numpy by zygote \d+/);
  t.match(daemonLog(), /pynwheel debug: daemon: run \d+ of np\.py run by python itself \(cold: cold run: no zygote of its key \(family numpy(; key [^)]*)?\) is ready; warming it\)/,
    'numpy\'s zygote not there yet: a cold run');
});

t.test('run(): the caller\'s fd 2 gets the lines (the run\'s env asks), the run\'s stderr stays python\'s', async (t) => {
  // A script of its own: b.py's route leads to the zygote of OMP_NUM_THREADS=3 now.
  write(sb, 'c.py', 'print("c")\n');
  t.equal((await pynwheel(sb, ['run', 'c.py'])).stdout.toString(), 'c\n', 'a first run leaves a route');
  const script = (env: NodeJS.ProcessEnv) => `require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))})` +
    `.run('c.py', { cwd: ${JSON.stringify(sb.dir)}, env: ${JSON.stringify({ ...sb.env, ...env })} })` +
    `.then((r) => process.stdout.write(JSON.stringify([r.stdout.toString(), r.stderr.toString()])))`;
  const asked = await collect(process.execPath, ['-e', script(DEBUG)], { env: sb.env });
  t.same(JSON.parse(asked.stdout.toString()), ['c\n', ''], 'the run\'s own output');
  t.same(debugLines(asked.stderr.toString(), 'client'), [`pynwheel debug: client: lane taken (route ${route('c.py')})`], 'the lane, said on the caller\'s stderr');

  const flags = `require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))})` +
    `.run('b.py', { cwd: ${JSON.stringify(sb.dir)}, env: ${JSON.stringify({ ...sb.env, ...DEBUG })}, pythonOptions: ['-I'] })` +
    `.then((r) => process.stdout.write(r.stdout.toString()))`;
  const direct = await collect(process.execPath, ['-e', flags], { env: sb.env });
  t.equal(direct.stdout.toString(), 'b\n');
  t.same(debugLines(direct.stderr.toString(), 'client'), ['pynwheel debug: client: running python directly (python\'s own flags -I)']);

  const quiet = await collect(process.execPath, ['-e', script({})], { env: { ...sb.env, ...DEBUG } });
  t.same(JSON.parse(quiet.stdout.toString()), ['c\n', '']);
  t.equal(quiet.stderr.toString(), '', 'the run\'s env decides: the caller\'s own PYNWHEEL_DEBUG does not count when env is given');
});
