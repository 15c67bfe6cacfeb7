// Cold runs: no warm zygote can take the run (the daemon stopped, or its zygote not ready), so
// python runs it itself, exactly as without pynwheel, and the daemon warms the zygote for the
// next run meanwhile. Through the runner and the Node CLI; two at once; the daemon dying while it
// warms; the script edited while its zygote warms up; PYNWHEEL_COLD=0, which turns them off.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import {
  CLI, collect, daemonStatus, isAlive, makeSandbox, pynwheel, python, sitePackages, sleep, stopDaemon, view, write, type Outcome, type Sandbox,
} from './helpers';

let sb: Sandbox;
t.before(() => {
  // Its own venv: a module that takes a while to import goes into its site-packages.
  sb = makeSandbox('cold', { privateVenv: true, cold: true });
  fs.writeFileSync(path.join(sitePackages(sb.venv), 'pnw_slow.py'), 'import time\ntime.sleep(2.5)\nVALUE = 7\n');
});
t.teardown(() => sb.cleanup());

const RUNNER = path.join(path.dirname(CLI), 'pynwheel'); // the sh shim: the native runner
const runner = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> =>
  collect(RUNNER, args, { cwd: sb.dir, env: { ...sb.env, ...env } });
const daemonPidFile = () => path.join(sb.runtimeDir, 'daemon.pid');
const daemonPid = () => (fs.existsSync(daemonPidFile()) ? Number(fs.readFileSync(daemonPidFile(), 'utf8')) : 0);
/** stderr without pynwheel's debug lines. */
const withoutDebug = (o: Outcome) => o.stderr.toString().split(/(?<=\n)/).filter((l) => !l.startsWith('pynwheel debug: ')).join('');

type Zygote = Record<string, any>;
/** The zygote warmed for `target` (`why`), once it is. */
async function warmedFor(target: string, why = 'cold run', timeoutMs = 30_000): Promise<Zygote | undefined> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(50)) {
    if (!fs.existsSync(path.join(sb.runtimeDir, 'daemon.sock'))) continue;
    const status = await daemonStatus(sb).catch(() => null);
    const z = status?.zygotes.find((z: Zygote) => z.warmedFor.some((w: { target: string; why: string }) => w.target === target && w.why === why));
    if (z) return z;
  }
  return undefined;
}

const SCRIPT = [
  'import os, sys, json',
  'print(json.dumps([sys.argv, os.getcwd(), os.environ.get("PNW_COLD_VAR"), sys.flags.optimize]))',
  'sys.stderr.write("to stderr\\n")',
  'sys.exit(3)',
].join('\n') + '\n';

for (const [who, run] of [['the runner', runner], ['the Node CLI', (args: string[], env: NodeJS.ProcessEnv = {}) => pynwheel(sb, args, { env })]] as const) {
  t.test(`${who}, the daemon stopped: python runs it, as python would; the next run is warm`, async (t) => {
    await stopDaemon(sb.env);
    const file = who === 'the runner' ? 'cold_r.py' : 'cold_n.py';
    write(sb, file, SCRIPT);
    const env = { PNW_COLD_VAR: 'v' };
    const py = await python(sb, ['-O', file, 'a', 'b c'], { env });
    const started = Date.now();
    const cold = await run(['run', '-O', file, 'a', 'b c'], { ...env, PYNWHEEL_DEBUG: '1' });
    t.ok(Date.now() - started < 10_000, 'it returned as python ended: the daemon it started holds none of its stdio');
    t.same({ ...view(cold), stderr: withoutDebug(cold) }, view(py), 'the same argv, cwd, environment, flags, output and exit status');
    t.match(cold.stderr.toString(), /running python directly \(cold/, 'python ran it itself');
    const quiet = await run(['run', '-O', file, 'a', 'b c'], env);
    t.ok(quiet.status === 3 && quiet.stdout.equals(py.stdout), '(a second run: the same, whichever way it went)');
    const z = await warmedFor(file);
    t.ok(z, 'the daemon it started warmed a zygote for it, and status says so');
    t.ok(isAlive(daemonPid()), 'the daemon runs');
    const text = (await pynwheel(sb, ['status'])).stdout.toString();
    t.match(text, new RegExp(`\\n {2}warmed for: ${file.replace('.', '\\.')} \\(cold run, \\d+ ms, \\d+s ago\\)`), 'in the text form too');
    const warm = await run(['run', '-O', file, 'a', 'b c'], { ...env, PYNWHEEL_DEBUG: '1' });
    t.same({ ...view(warm), stderr: withoutDebug(warm) }, view(py), 'the next run: the same');
    t.match(warm.stderr.toString(), /lane taken/, 'and it came by the lane');
  });
}

t.test('a zygote not ready yet: the run is python\'s, not kept waiting', async (t) => {
  // The daemon runs; pnw_slow's family has no zygote, and warming one takes 2.5 s.
  write(sb, 'slow.py', 'import pnw_slow\nprint("slow", pnw_slow.VALUE)\n');
  const r = await runner(['run', 'slow.py'], { PYNWHEEL_DEBUG: '1' });
  t.equal(r.stdout.toString(), 'slow 7\n');
  t.match(r.stderr.toString(), /the daemon answered direct \(cold run: no zygote of its key .* is ready; warming it\)/, 'the daemon said: run it yourself');
  const again = await runner(['run', 'slow.py'], { PYNWHEEL_DEBUG: '1' });
  t.equal(again.stdout.toString(), 'slow 7\n', 'a run while it warms: python\'s too');
  t.match(again.stderr.toString(), /answered direct \(cold run: the zygote .* is starting/, 'as the zygote is starting');
  const z = await warmedFor('slow.py');
  t.ok(z?.preloaded.includes('pnw_slow'), 'then the zygote has pnw_slow');
  const warm = await runner(['run', 'slow.py'], { PYNWHEEL_DEBUG: '1' });
  t.equal(warm.stdout.toString(), 'slow 7\n');
  t.match(warm.stderr.toString(), /lane taken/, 'and the next run is warm');
});

t.test('two first runs at once, the daemon stopped: both python\'s, one daemon, both warm-ups', async (t) => {
  await stopDaemon(sb.env);
  write(sb, 'first_a.py', 'import csv\nprint("a")\n');
  write(sb, 'first_b.py', 'import numpy\nprint("b", numpy.ones(2).sum())\n');
  const [a, b] = await Promise.all([runner(['run', 'first_a.py']), runner(['run', 'first_b.py'])]);
  t.same(view(a), { stdout: 'a\n', stderr: '', status: 0, signal: null });
  t.same(view(b), { stdout: 'b 2.0\n', stderr: '', status: 0, signal: null });
  const za = await warmedFor('first_a.py');
  const zb = await warmedFor('first_b.py');
  t.ok(za && zb, 'each run\'s zygote was warmed (the daemon that lost the race for the lock handed its warm-up over)');
  t.same(zb?.key.family, ['numpy'], 'b\'s in numpy\'s family');
  const log = fs.readFileSync(path.join(sb.runtimeDir, 'daemon.log'), 'utf8');
  const pid = daemonPid();
  t.ok(isAlive(pid), 'one daemon runs');
  t.equal((log.match(/daemon 0\.\d+\.\d+ started on/g) ?? []).length >= 1, true);
  for (const file of ['first_a.py', 'first_b.py']) {
    const r = await runner(['run', file], { PYNWHEEL_DEBUG: '1' });
    t.match(r.stderr.toString(), /lane taken/, `${file}: the next run is warm`);
  }
});

t.test('the daemon killed while it warms: the warm client says so; the next runs are python\'s, then warm again', async (t) => {
  write(sb, 'dies.py', 'import pnw_slow, decimal\nprint("dies", pnw_slow.VALUE)\n');
  await stopDaemon(sb.env);
  // A daemon whose zygotes for dies.py are not ready: pnw_slow takes 2.5 s in the warm-up.
  const logFile = path.join(sb.runtimeDir, 'daemon.log');
  const logBefore = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const warming = pynwheel(sb, ['warm', 'dies.py']);
  // (Not by `status`: a zygote busy importing answers it only once the import is done.)
  let importing = false;
  for (let i = 0; i < 400 && !importing; i++) {
    importing = fs.existsSync(logFile) && /starting a zygote for .* \(family pnw_slow\)/.test(fs.readFileSync(logFile, 'utf8').slice(logBefore));
    if (!importing) await sleep(25);
  }
  await sleep(300);
  t.ok(importing, 'a zygote of pnw_slow\'s family is importing it for the warm-up');
  const zygotes = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${sb.runtimeDir}/lane`);
    } catch {
      return false;
    }
  });
  t.ok(zygotes.length > 0, `its zygotes: ${zygotes.join(', ')}`);
  const old = daemonPid();
  process.kill(old, 'SIGKILL');
  const w = await warming;
  t.equal(w.status, 125, 'the warm client fails with pynwheel\'s status');
  t.match(w.stderr.toString(), /pynwheel warm: .*(daemon|connection)/, `and says the daemon went (${w.stderr.toString().trim()})`);
  for (let i = 0; i < 400 && zygotes.some(isAlive); i++) await sleep(25);
  t.notOk(zygotes.some(isAlive), 'its zygotes left with it');
  const r = await runner(['run', 'dies.py'], { PYNWHEEL_DEBUG: '1' });
  t.equal(r.stdout.toString(), 'dies 7\n', 'the next run: right');
  t.match(r.stderr.toString(), /cold run: no daemon listening \(connect: Connection refused\)/, 'a cold run (the stale socket refused it)');
  t.ok(await warmedFor('dies.py'), 'a new daemon warmed its zygote');
  t.not(daemonPid(), old);
  const warm = await runner(['run', 'dies.py'], { PYNWHEEL_DEBUG: '1' });
  t.equal(warm.stdout.toString(), 'dies 7\n');
  t.match(warm.stderr.toString(), /lane taken/, 'and the run after is warm');
});

t.test('the script edited while its zygote warms up: the next run runs the new one', async (t) => {
  write(sb, 'edited.py', 'import pnw_slow\nprint("v1", pnw_slow.VALUE)\n');
  await stopDaemon(sb.env);
  const logFile = path.join(sb.runtimeDir, 'daemon.log');
  const logBefore = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const r = await runner(['run', 'edited.py']);
  t.equal(r.stdout.toString(), 'v1 7\n', 'the cold run');
  // Edited while the warm-up goes on (the zygote of its family imports pnw_slow for 2.5 s), to another size.
  let importing = false;
  for (let i = 0; i < 400 && !importing; i++) {
    importing = fs.existsSync(logFile) && /starting a zygote for .* \(family pnw_slow\)/.test(fs.readFileSync(logFile, 'utf8').slice(logBefore));
    if (!importing) await sleep(25);
  }
  t.ok(importing, 'the warm-up is under way');
  write(sb, 'edited.py', 'import pnw_slow\nimport fractions\nprint("v2, edited", pnw_slow.VALUE, fractions.Fraction(1, 2))\n');
  t.ok(await warmedFor('edited.py'), 'warmed');
  const next = await runner(['run', 'edited.py'], { PYNWHEEL_DEBUG: '1' });
  t.equal(next.stdout.toString(), 'v2, edited 7 1/2\n', 'the edited script ran');
  const py = await python(sb, ['edited.py']);
  t.same(view({ ...next, stderr: Buffer.from(withoutDebug(next)) }), view(py), 'as python runs it');
  const again = await runner(['run', 'edited.py'], { PYNWHEEL_DEBUG: '1' });
  t.equal(again.stdout.toString(), 'v2, edited 7 1/2\n');
  t.match(again.stderr.toString(), /lane taken/, 'and its next run is warm');
});

for (const [who, run] of [['the runner', runner], ['the Node CLI', (args: string[], env: NodeJS.ProcessEnv = {}) => pynwheel(sb, args, { env })]] as const) {
  t.test(`${who}, PYNWHEEL_COLD=0: no cold run, the first run waits for its zygote and is its fork`, async (t) => {
    await stopDaemon(sb.env);
    const file = who === 'the runner' ? 'nocold_r.py' : 'nocold_n.py';
    write(sb, file, 'import sys, pnw_slow\nprint(pnw_slow.VALUE, "_pynwheel" in sys.modules)\n');
    const started = Date.now();
    const first = await run(['run', file], { PYNWHEEL_COLD: '0', PYNWHEEL_DEBUG: '1' });
    t.equal(first.stdout.toString(), '7 True\n', 'the first run is a fork of a zygote (pynwheel\'s modules are there)');
    t.ok(Date.now() - started >= 2000, 'after the zygote\'s imports (pnw_slow takes 2.5 s)');
    t.notMatch(first.stderr.toString(), /running python directly/, 'python did not run it itself');
    const py = await python(sb, [file]);
    t.equal(py.stdout.toString(), '7 False\n', '(python itself has none of them)');
  });
}
