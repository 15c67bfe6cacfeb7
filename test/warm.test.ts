// `pynwheel warm FILE | -m MODULE | --packages a,b`: the zygote a script needs, ready before its
// first run, which then comes by the warm path (the lane); `--background`; bad input.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { CLI, collect, daemonStatus, isAlive, makeSandbox, pynwheel, python, sleep, view, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('warm', { cold: true }); });
t.teardown(() => sb.cleanup());

type Zygote = Record<string, any>;
const ofFamily = (status: Record<string, any>, family: string[]): Zygote | undefined =>
  status.zygotes.find((z: Zygote) => JSON.stringify(z.key.family) === JSON.stringify(family));

t.test('warm FILE: its family\'s zygote preloads its imports; the first run comes by the lane', async (t) => {
  write(sb, 'w.py', 'import sys\nimport numpy\nprint("w", numpy.zeros(2).sum(), sys.argv[1:])\n');
  const warmed = await pynwheel(sb, ['warm', 'w.py']);
  t.same(view(warmed), { stdout: '', stderr: '', status: 0, signal: null }, 'returns once warm, and says nothing on a pipe');
  const status = await daemonStatus(sb);
  const numpy = ofFamily(status, ['numpy']);
  t.ok(numpy, 'a zygote of numpy\'s family');
  t.ok(numpy?.preloaded.includes('numpy'), 'which has numpy preloaded');
  t.equal(numpy?.runs, 0, 'before any run');
  t.match(numpy?.warmedFor, [{ why: 'pynwheel warm', target: 'w.py' }], 'and says what it was warmed for');
  const text = (await pynwheel(sb, ['status'])).stdout.toString();
  t.match(text, /\n {2}warmed for: w\.py \(pynwheel warm, \d+ ms, \d+s ago\)/, 'in the text form too');

  const run = await pynwheel(sb, ['run', 'w.py', 'a'], { env: { PYNWHEEL_DEBUG: '1' } });
  t.equal(run.stdout.toString(), "w 0.0 ['a']\n", 'the run');
  t.match(run.stderr.toString(), /lane taken \(route /, 'its first run came by the lane');
  const after = ofFamily(await daemonStatus(sb), ['numpy']);
  t.equal(after?.paths.lane, 1, 'counted as a lane run');
  t.equal(after?.paths.daemon, 0, 'and none through the daemon');
});

t.test('warming what is warm: the same zygote, nothing imported again', async (t) => {
  const before = ofFamily(await daemonStatus(sb), ['numpy']);
  const again = await pynwheel(sb, ['warm', 'w.py']);
  t.equal(again.status, 0);
  const after = ofFamily(await daemonStatus(sb), ['numpy']);
  t.equal(after?.pid, before?.pid, 'the same zygote');
  t.same(after?.preloaded, before?.preloaded, 'with the same modules');
  t.equal(after?.warmedFor.length, before!.warmedFor.length + 1, 'one more warm-up noted');
});

t.test('the runner (the installed pynwheel command): warm FILE without Node when the daemon runs', async (t) => {
  const runner = path.join(path.dirname(CLI), 'pynwheel');
  const before = ofFamily(await daemonStatus(sb), ['numpy']);
  const r = await collect(runner, ['warm', 'w.py'], { cwd: sb.dir, env: { ...sb.env, PYNWHEEL_DEBUG: '1' } });
  t.equal(r.status, 0);
  t.equal(r.stdout.toString(), '');
  t.match(r.stderr.toString(), /runner: warm request sent to the daemon/, 'the runner sent it');
  t.notMatch(r.stderr.toString(), /handing over to the Node CLI/, 'no Node');
  const after = ofFamily(await daemonStatus(sb), ['numpy']);
  t.equal(after?.pid, before?.pid, 'the same zygote');
  t.equal(after?.warmedFor.length, before!.warmedFor.length + 1, 'warmed once more');
  const missing = await collect(runner, ['warm', 'nope.py'], { cwd: sb.dir, env: sb.env });
  t.equal(missing.status, 2, 'a missing file: the Node CLI says so, exit 2');
  t.match(missing.stderr.toString(), /can't open file ".*nope\.py"/);
  const notRun = await collect(runner, ['warm'], { cwd: sb.dir, env: sb.env });
  t.equal(notRun.status, 2, '`warm` alone: a usage error, not a script named warm');
  t.match(notRun.stderr.toString(), /usage: pynwheel warm/);
});

t.test('warm -m MODULE and --packages: their zygotes', async (t) => {
  fs.mkdirSync(path.join(sb.dir, 'pkgs'), { recursive: true });
  const m = await pynwheel(sb, ['warm', '-m', 'json.tool']);
  t.equal(m.status, 0, '-m json.tool');
  const p = await pynwheel(sb, ['warm', '--packages', 'numpy,decimal']);
  t.equal(p.status, 0, '--packages numpy,decimal');
  const status = await daemonStatus(sb);
  const base = ofFamily(status, []);
  t.ok(base?.preloaded.includes('argparse'), 'the base zygote preloaded what json.tool imports');
  t.match(base?.warmedFor, [{ target: '-m json.tool' }]);
  const numpy = ofFamily(status, ['numpy']);
  t.ok(numpy?.preloaded.includes('decimal'), 'numpy\'s zygote preloaded decimal too');
  t.ok(numpy?.warmedFor.some((w: { target: string }) => w.target === '--packages numpy,decimal'), 'noted');
});

t.test('--background returns at once and warms', async (t) => {
  write(sb, 'bg.py', 'import numpy\nimport csv\nprint("bg")\n');
  const started = Date.now();
  const r = await pynwheel(sb, ['warm', '--background', 'bg.py']);
  t.same(view(r), { stdout: '', stderr: '', status: 0, signal: null }, 'exit 0, nothing said');
  const took = Date.now() - started;
  let numpy: Zygote | undefined;
  for (let i = 0; i < 200; i++) {
    numpy = ofFamily(await daemonStatus(sb), ['numpy']);
    if (numpy?.warmedFor.some((w: { target: string }) => w.target === 'bg.py')) break;
    await sleep(50);
  }
  t.ok(numpy?.warmedFor.some((w: { target: string }) => w.target === 'bg.py'), `warmed after it returned (it took ${took} ms)`);
  t.ok(numpy?.preloaded.includes('csv'), 'with the script\'s imports');
});

t.test('a missing file, a directory, bad usage: a clear error, exit 2', async (t) => {
  const missing = await pynwheel(sb, ['warm', 'nope.py']);
  t.equal(missing.status, 2);
  t.match(missing.stderr.toString(), /pynwheel warm: can't open file ".*nope\.py": No such file or directory/);
  const dir = await pynwheel(sb, ['warm', '.']);
  t.equal(dir.status, 2);
  t.match(dir.stderr.toString(), /is not a file/);
  for (const args of [[], ['a.py', 'b.py'], ['--packages', ','], ['-m', 'no-such module'], ['--frobnicate', 'x.py']]) {
    const r = await pynwheel(sb, ['warm', ...args]);
    t.equal(r.status, 2, `warm ${args.join(' ')}: exit 2`);
    t.match(r.stderr.toString(), /usage: pynwheel warm/, 'with the usage');
  }
  const py = await python(sb, ['nope.py']);
  t.equal(py.status, 2, '(as python3 nope.py)');
});

t.test('warm starts the daemon when none runs, and the daemon leaves when stopped', async (t) => {
  const pid = Number(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.pid'), 'utf8'));
  await pynwheel(sb, ['stop']);
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(20);
  t.notOk(isAlive(pid), 'stopped');
  const r = await pynwheel(sb, ['warm', 'w.py']);
  t.equal(r.status, 0);
  const status = await daemonStatus(sb);
  t.not(status.pid, pid, 'a new daemon');
  t.ok(ofFamily(status, ['numpy'])?.preloaded.includes('numpy'), 'which warmed the zygote');
});

t.test('on a terminal: a progress line, what is importing and for how long; the session\'s own zygote', async (t) => {
  write(sb, 'tty.py', 'import numpy\nimport fractions\nprint("tty")\n');
  const harness = path.join(__dirname, 'fixtures', 'pty_session.py');
  // The status is read inside the terminal's session, right after the warm client: the daemon
  // lets a session's zygotes go once the session ends (the harness's command exits).
  const statusFile = path.join(sb.dir, 'tty-status.json');
  const inSession = `"${process.execPath}" "${CLI}" warm tty.py && "${process.execPath}" "${CLI}" status --json > "${statusFile}"`;
  const r = spawnSync(path.join(sb.venv, 'bin', 'python3'), [harness, JSON.stringify([{ expect: 'pynwheel: warm: tty.py' }]), '--',
    'sh', '-c', inSession], { cwd: sb.dir, env: { ...sb.env, TERM: 'xterm' }, encoding: 'utf8', timeout: 90_000 });
  const report = JSON.parse(r.stdout);
  const output = Buffer.from(report.output, 'base64').toString('utf8');
  t.equal(report.timedOut, null, 'it said it is warm');
  t.equal(report.code, 0, 'exit 0');
  t.match(output, /\r\x1b\[Kpynwheel: warming tty\.py: importing (numpy|fractions) \(\d+ ms\)/, 'the progress line: what is importing, how long so far');
  t.match(output, /pynwheel: warm: tty\.py \(.*numpy.*\) in \d/, 'then what it has, and how long it took');
  const zygotes = JSON.parse(fs.readFileSync(statusFile, 'utf8')).zygotes as Zygote[];
  t.ok(zygotes.some((z) => z.key.session !== undefined && JSON.stringify(z.key.family) === '["numpy"]' && z.preloaded.includes('fractions')),
    `a zygote of the terminal's session, started by the warm client, has the imports (${JSON.stringify(zygotes.map((z) => [z.key.session, z.key.family, z.preloaded]))})`);
});
