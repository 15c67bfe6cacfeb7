// Faults that must lose nothing: the daemon killed mid-run, its runtime directory removed, 64
// clients at once, and a run that daemonizes itself (it outlives its client, as with python).
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, daemonStatus, isAlive, makeSandbox, pynwheel, python, sleep, stopDaemon, write, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('faults', { cold: true }); });
t.teardown(() => sb.cleanup());

const daemonPid = () => Number(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.pid'), 'utf8'));

/** A cold run starts the daemon and does not wait for it: its pid once it is up and is not `old`. */
async function newDaemonPid(old: number): Promise<number> {
  for (let i = 0; i < 400; i++) {
    const pid = fs.existsSync(path.join(sb.runtimeDir, 'daemon.pid')) ? daemonPid() : 0;
    if (pid && pid !== old && fs.existsSync(path.join(sb.runtimeDir, 'daemon.sock'))) return pid;
    await sleep(25);
  }
  return old;
}

async function waitFor(check: () => boolean, ms = 5000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) if (check()) return true;
  return check();
}

t.test('kill -9 of the daemon: running clients fail clearly; the next client starts a new one', async (t) => {
  const marker = path.join(sb.dir, 'victim.pid');
  write(sb, 'victim.py', `import os, time\nopen(${JSON.stringify(marker)}, "w").write(str(os.getpid()))\nprint("ready", flush=True)\ntime.sleep(30)\n`);
  // The base zygote warm first (else the run would be a cold one, python's own): the run goes through the daemon.
  t.equal((await pynwheel(sb, ['warm', '--packages', 'os'])).status, 0, 'warmed');
  const child = spawn(process.execPath, [CLI, 'run', 'victim.py'], { cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  await waitFor(() => out.includes('ready'), 30_000);
  const runPid = Number(fs.readFileSync(marker, 'utf8'));
  const old = daemonPid();
  process.kill(old, 'SIGKILL');
  t.equal(await closed, 125, 'the client fails with pynwheel\'s status');
  t.match(err, /pynwheel: lost the pynwheel daemon during the run/, 'and says what happened');
  t.ok(await waitFor(() => !isAlive(runPid)), 'its run did not survive as an orphan');
  write(sb, 'after.py', 'print("after")\n');
  t.equal((await pynwheel(sb, ['run', 'after.py'])).stdout.toString(), 'after\n', 'the next run works (a cold run)');
  t.not(await newDaemonPid(old), old, 'and it started a new daemon');
});

t.test('the runtime directory removed: the daemon notices and leaves; the next client works', async (t) => {
  write(sb, 'one.py', 'print("one")\n');
  await pynwheel(sb, ['run', 'one.py']);
  const old = daemonPid();
  fs.rmSync(sb.runtimeDir, { recursive: true, force: true });
  t.ok(await waitFor(() => !isAlive(old), 10_000), 'the daemon exited on its own');
  t.equal((await pynwheel(sb, ['run', 'one.py'])).stdout.toString(), 'one\n', 'the next run works');
  t.equal(fs.statSync(sb.runtimeDir).mode & 0o777, 0o700, 'in a recreated private directory');
});

t.test('64 clients connecting at once all get their own run', async (t) => {
  write(sb, 'many.py', 'import sys\nprint("run", sys.argv[1])\nsys.exit(int(sys.argv[1]) % 7)\n');
  const results = await Promise.all(Array.from({ length: 64 }, (_, i) => pynwheel(sb, ['run', 'many.py', String(i)])));
  const wrong = results.map((r, i) => (r.stdout.toString() === `run ${i}\n` && r.status === i % 7 ? null : i)).filter((i) => i !== null);
  t.same(wrong, [], 'every client got its own output and status');
  const status = await daemonStatus(sb);
  t.equal(status.active, 0, 'nothing left running');
});

t.test('a run that daemonizes itself keeps running after its client ends, as with python', async (t) => {
  const script = (tag: string) => [
    'import os, sys, time',
    'if os.fork() == 0:',
    '    os.setsid()',
    '    if os.fork() == 0:',
    `        time.sleep(0.5)`,
    `        open(${JSON.stringify(path.join(sb.dir, `daemonized-${tag}`))}, "w").write(str(os.getpid()))`,
    '        os._exit(0)',
    '    os._exit(0)',
    'print("parent done")',
  ].join('\n') + '\n';
  write(sb, 'daemonize-py.py', script('python'));
  write(sb, 'daemonize-pnw.py', script('pynwheel'));
  const py = await python(sb, ['daemonize-py.py']);
  const pnw = await pynwheel(sb, ['run', 'daemonize-pnw.py']);
  t.equal(pnw.stdout.toString(), py.stdout.toString());
  t.equal(pnw.status, 0);
  t.ok(await waitFor(() => fs.existsSync(path.join(sb.dir, 'daemonized-python'))), 'python\'s daemon lived on');
  t.ok(await waitFor(() => fs.existsSync(path.join(sb.dir, 'daemonized-pynwheel'))), 'so did the one started under pynwheel');
});

// A run that came by a lane (its script's second run) is watched by its zygote, not the daemon:
// when either ends, the message names the one that did.
const RUNNER = path.join(path.dirname(CLI), 'pynwheel');
const clients = { runner: (args: string[]) => [RUNNER, ...args], cli: (args: string[]) => [process.execPath, CLI, ...args] };

async function laneVictim(t: Test, client: keyof typeof clients, tag: string) {
  const marker = path.join(sb.dir, `lane-${tag}.pid`);
  write(sb, `lane-${tag}.py`, `import os, sys, time\nif sys.argv[1:] == ["wait"]:\n    open(${JSON.stringify(marker)}, "w").write(str(os.getpid()))\n    print("ready", flush=True)\n    time.sleep(30)\n`);
  // Its zygote warm and its route published: the next run goes by the lane.
  t.equal((await pynwheel(sb, ['warm', `lane-${tag}.py`])).status, 0, 'warmed');
  fs.rmSync(marker, { force: true });
  const [command, ...args] = clients[client](['run', `lane-${tag}.py`, 'wait']);
  const child = spawn(command, args, { cwd: sb.dir, env: { ...sb.env, PYNWHEEL_DEBUG: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.ok(await waitFor(() => out.includes('ready'), 30_000), 'the run started');
  await waitFor(() => /lane taken/.test(err), 5000); // (its stderr, a pipe of its own, may come after stdout's line)
  t.match(err, /lane taken/, 'by the lane');
  return { runPid: Number(fs.readFileSync(marker, 'utf8')), closed, err: () => err };
}

for (const client of ['runner', 'cli'] as const) {
  t.test(`${client}: the zygote of a lane run killed: the message says the zygote ended, not the daemon; the next run works`, async (t) => {
    const victim = await laneVictim(t, client, `zygote-${client}`);
    const zygotePid = Number(fs.readFileSync(`/proc/${victim.runPid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    const daemon = daemonPid();
    process.kill(zygotePid, 'SIGKILL');
    t.equal(await victim.closed, 125, "pynwheel's status");
    t.match(victim.err(), /pynwheel: the run's Python zygote ended during the run/, 'it names the zygote');
    t.notMatch(victim.err(), /lost the pynwheel daemon/, 'not the daemon');
    t.ok(await waitFor(() => !isAlive(victim.runPid)), 'its run did not survive as an orphan');
    write(sb, 'after-zygote.py', 'print("after")\n');
    t.equal((await pynwheel(sb, ['run', 'after-zygote.py'])).stdout.toString(), 'after\n', 'the next run works');
    t.equal(daemonPid(), daemon, 'the daemon served on');
  });

  t.test(`${client}: the daemon killed under a lane run: the client hears it from the zygote`, async (t) => {
    const victim = await laneVictim(t, client, `daemon-${client}`);
    process.kill(daemonPid(), 'SIGKILL');
    t.equal(await victim.closed, 125, "pynwheel's status");
    t.match(victim.err(), /pynwheel: lost the pynwheel daemon during the run/, 'it names the daemon');
    t.ok(await waitFor(() => !isAlive(victim.runPid)), 'its run did not survive as an orphan');
  });
}

t.test('a run killed as it records its pages leaves no record behind in the runtime directory', async (t) => {
  // What a run killed while board.HotPages.record writes leaves: laneN.hot.<its pid>.
  const lanes = `[n for n in os.listdir(${JSON.stringify(sb.runtimeDir)}) if re.fullmatch(r"lane\\d+", n)]`;
  write(sb, 'killed-recording.py', `import os, re, signal\nfor n in ${lanes}:\n    open(os.path.join(${JSON.stringify(sb.runtimeDir)}, "%s.hot.%d" % (n, os.getpid())), "w").close()\nos.kill(os.getpid(), signal.SIGKILL)\n`);
  const left = () => fs.readdirSync(sb.runtimeDir).filter((n) => /^lane\d+\.hot\.\d+$/.test(n));
  for (let i = 0; i < 3; i++) t.equal((await pynwheel(sb, ['run', 'killed-recording.py'])).signal, 'SIGKILL', `run ${i + 1} killed`);
  t.ok(await waitFor(() => left().length === 0), `none left (${left().join(', ') || 'none'})`);
  await stopDaemon(sb.env);
  t.same(fs.readdirSync(sb.runtimeDir).filter((n) => /^lane/.test(n)), [], 'and nothing of any lane once the daemon stopped');
});
