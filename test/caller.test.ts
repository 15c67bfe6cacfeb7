// What the caller's process passes on to python beyond stdio (issue 14): the signals it left
// ignored and its mask, and its inheritable fds above 2. Differential against python3 through
// the native runner (a warm lane run), the Node CLI the runner hands over to (no daemon yet),
// and, for fds, the Node CLI run directly; the Node API keeps child_process.spawn's behaviour.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../dist/index';
import { collect, makeSandbox, python, sleep, stopDaemon, view, write, CLI, ROOT, type Outcome, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');

let sb: Sandbox;
t.before(() => { sb = makeSandbox('caller'); });
t.teardown(() => sb.cleanup());

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const sh = (script: string, input?: string) => collect('sh', ['-c', script], { cwd: sb.dir, env: sb.env, input });

/** The ways a command line runs the script: python3, the runner warm, the Node CLI the runner hands over to. */
type Way = 'python3' | 'runner' | 'handover';
const WAYS: Way[] = ['python3', 'runner', 'handover'];
const command = (way: Way) => (way === 'python3' ? 'python3' : `${q(SHIM)} run`);

/** `template` with CMD replaced by each way's command; the runner's run first warms its route. */
async function eachWay(template: (cmd: string) => string, input?: string): Promise<Record<Way, Outcome>> {
  const out = {} as Record<Way, Outcome>;
  for (const way of WAYS) {
    if (way === 'handover') await stopDaemon(sb.env); // no daemon: the runner hands the run to the Node CLI
    if (way === 'runner') await sh(template(command(way)), input); // the first run publishes the route
    out[way] = await sh(template(command(way)), input);
  }
  return out;
}

function sameEachWay(t: Tap.Test, outcomes: Record<Way, Outcome>, what: string, expected?: string): void {
  if (expected !== undefined) t.equal(outcomes.python3.stdout.toString(), expected, `${what}: python3 says so`);
  t.same(view(outcomes.runner), view(outcomes.python3), `${what}: the runner`);
  t.same(view(outcomes.handover), view(outcomes.python3), `${what}: the Node CLI the runner handed over to`);
}

const SIGNALS_PY = [
  'import signal',
  'print([str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR2)])',
  'print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))',
].join('\n') + '\n';

t.test('signals the caller ignores are ignored in the run, as with python', async (t) => {
  write(sb, 'sig.py', SIGNALS_PY);
  const trapped = await eachWay((cmd) => `trap '' INT HUP; exec ${cmd} sig.py`);
  sameEachWay(t, trapped, "trap '' INT HUP", "['1', '1', '0', '0', '0']\n[]\n");
  // A background job of a non-interactive shell has SIGINT and SIGQUIT ignored.
  const background = await eachWay((cmd) => `${cmd} sig.py & wait`);
  sameEachWay(t, background, 'a background job', "['1', '0', '1', '0', '0']\n[]\n");
  // And without either, a fresh python's dispositions.
  sameEachWay(t, await eachWay((cmd) => `exec ${cmd} sig.py`), 'nothing ignored', "['<built-in function default_int_handler>', '0', '0', '0', '0']\n[]\n");
});

t.test("the caller's blocked signals are blocked in the run", async (t) => {
  write(sb, 'sig.py', SIGNALS_PY);
  const launcher = write(sb, 'block.py', [
    'import os, signal, sys',
    'signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1, signal.SIGTERM])',
    'os.execvp(sys.argv[1], sys.argv[1:])',
  ].join('\n') + '\n');
  const outcomes = await eachWay((cmd) => `exec python3 ${q(launcher)} ${cmd} sig.py`);
  sameEachWay(t, outcomes, 'a blocked mask', "['<built-in function default_int_handler>', '0', '0', '0', '0']\n[<Signals.SIGUSR1: 10>, <Signals.SIGTERM: 15>]\n");
});

/** `nohup CMD job.py` in a process group of its own, sent SIGHUP (the group) once the script has started. */
function nohupThenHangup(cmd: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn('nohup', cmd, { cwd: sb.dir, env: sb.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => {
      out.push(d);
      if (out.length === 1) process.kill(-child.pid!, 'SIGHUP');
    });
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('close', (status, signal) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), status, signal }));
  });
}

t.test('nohup: a hangup ends neither the client nor the run, as with python', async (t) => {
  write(sb, 'job.py', 'import sys, time\nprint("started", flush=True)\ntime.sleep(0.5)\nprint("after the hangup")\n');
  const py = await nohupThenHangup(['python3', 'job.py']);
  t.same(view(py), { stdout: 'started\nafter the hangup\n', stderr: '', status: 0, signal: null }, 'python3 lives on');
  await nohupThenHangup([SHIM, 'run', 'job.py']); // the route
  t.same(view(await nohupThenHangup([SHIM, 'run', 'job.py'])), view(py), 'the runner');
  await stopDaemon(sb.env);
  t.same(view(await nohupThenHangup([SHIM, 'run', 'job.py'])), view(py), 'the Node CLI the runner handed over to');
});

t.test('the Node API keeps spawn\'s behaviour: default dispositions and an empty mask', async (t) => {
  write(sb, 'sig.py', SIGNALS_PY);
  // A Node program that ignores SIGHUP (its listener) and whose parent ignored it too.
  const program = write(sb, 'api.js', [
    `const { run } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});`,
    "process.on('SIGHUP', () => {});",
    `run('sig.py', [], { cwd: ${JSON.stringify(sb.dir)}, env: process.env }).then((r) => process.stdout.write(r.stdout));`,
  ].join('\n') + '\n');
  const api = await sh(`trap '' HUP INT; exec ${q(process.execPath)} ${q(program)}`);
  const spawned = await sh(`trap '' HUP INT; exec ${q(process.execPath)} -e ${q("require('child_process').spawn('python3', ['sig.py'], { stdio: 'inherit' })")}`);
  t.same(view(api), view(spawned), 'run() == child_process.spawn of python3');
  t.equal(api.stdout.toString(), "['<built-in function default_int_handler>', '0', '0', '0', '0']\n[]\n");
  const direct = await run('sig.py', [], { cwd: sb.dir, env: sb.env });
  t.equal(String(direct.stdout), api.stdout.toString(), 'this test process\'s run() too');
});

// ------------------------------------------------------------------------------ fds beyond 2

const FDS_PY = [
  'import os, sys',
  'def kind(fd):',
  '    try: link = os.readlink("/proc/self/fd/%d" % fd)',
  '    except OSError: return None',
  '    return fd, os.get_inheritable(fd), link.split(":")[0] if ":[" in link else os.path.basename(link)',
  'print([k for k in map(kind, range(3, 1024)) if k])',
  'for arg in sys.argv[1:]:',
  '    fd, _, text = arg.partition(":")',
  '    try:',
  '        if text: os.write(int(fd), text.encode())',
  '        else: print(fd, repr(os.read(int(fd), 100)))',
  '    except OSError as exc: print(fd, exc.strerror)',
].join('\n') + '\n';

t.test('3>file, a pipe on fd 4: the run has them at their numbers, as python has', async (t) => {
  write(sb, 'fds.py', FDS_PY);
  const files: Record<Way, string> = {} as Record<Way, string>;
  const outcomes = {} as Record<Way, Outcome>;
  for (const way of WAYS) {
    if (way === 'handover') await stopDaemon(sb.env);
    const out = path.join(sb.dir, `out-${way}`);
    const line = `echo piped | ${command(way)} fds.py 3:three 4 9 3>${q(out)} 4<&0 </dev/null`;
    if (way === 'runner') await sh(line);
    fs.rmSync(out, { force: true });
    outcomes[way] = await sh(line);
    files[way] = fs.readFileSync(out, 'utf8');
  }
  // (What this test inherited itself is there too, under python as in the run.)
  t.match(outcomes.python3.stdout.toString(), /^\[\(3, True, 'out-python3'\), \(4, True, 'pipe'\).*\]\n4 b'piped\\n'\n9 Bad file descriptor\n$/, 'python3');
  const mask = (o: Outcome) => ({ ...view(o), stdout: o.stdout.toString().replace(/out-\w+/, 'out') });
  t.same(mask(outcomes.runner), mask(outcomes.python3), 'the runner');
  t.same(mask(outcomes.handover), mask(outcomes.python3), 'the Node CLI the runner handed over to');
  t.same([files.runner, files.handover], [files.python3, files.python3], 'each wrote to its file by fd 3');
});

t.test("subprocess's pass_fds, and a close-on-exec fd that stays closed", async (t) => {
  write(sb, 'fds.py', FDS_PY);
  const driver = write(sb, 'driver.py', [
    'import os, subprocess, sys',
    'r, w = os.pipe()',
    'hidden = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)',
    'os.dup2(hidden, 7, inheritable=False)',
    'os.dup2(w, 40)',  // inheritable, but pass_fds decides
    'p = subprocess.Popen(sys.argv[1:] + ["fds.py", "%d:through pass_fds" % w, "7", "40"], pass_fds=[w])',
    'os.close(w)',
    'status = p.wait()',
    'print("read:", os.read(r, 100).decode())',
    'sys.exit(status)',
  ].join('\n') + '\n');
  const py = await python(sb, [driver, 'python3']);
  t.match(py.stdout.toString(), /^\[\(\d+, True, 'pipe'\)\]\n7 Bad file descriptor\n40 Bad file descriptor\nread: through pass_fds\n$/, 'python3');
  await python(sb, [driver, SHIM, 'run']);
  t.same(view(await python(sb, [driver, SHIM, 'run'])), view(py), 'the runner');
  await stopDaemon(sb.env);
  t.same(view(await python(sb, [driver, SHIM, 'run'])), view(py), 'the Node CLI the runner handed over to');
  // The Node CLI run directly: Node marks the fds below 17 it inherited close-on-exec at its
  // start; above that it finds them itself.
  const high = write(sb, 'high.py', 'import os, sys\nos.dup2(1, 30)\nos.dup2(1, 31, inheritable=False)\nos.execvp(sys.argv[1], sys.argv[1:] + ["fds.py", "30:to 30\\n", "31"])\n');
  const direct = await python(sb, [high, 'python3']);
  t.same(view(await python(sb, [high, process.execPath, CLI, 'run'])), view(direct), 'the Node CLI run directly, fd 30');
});

t.test('more fds than a request frame carries: python runs the script itself, with them all', async (t) => {
  write(sb, 'count.py', 'import os\nprint(len([n for n in os.listdir("/proc/self/fd") if int(n) > 2]) - 1)\n');
  const many = write(sb, 'many.py', [
    'import os, sys',
    'for fd in range(100, 360):',
    '    os.dup2(0, fd)',
    'os.execvp(sys.argv[1], sys.argv[1:] + ["count.py"])',
  ].join('\n') + '\n');
  const py = await python(sb, [many, 'python3']);
  t.equal(py.stdout.toString(), '260\n', 'python3 has all 260');
  await python(sb, [many, SHIM, 'run']);
  t.same(view(await python(sb, [many, SHIM, 'run'])), view(py), 'the runner');
  t.same(view(await python(sb, [many, process.execPath, CLI, 'run'])), view(py), 'the Node CLI');
  const debug = await collect('python3', [many, SHIM, 'run'], { cwd: sb.dir, env: { ...sb.env, PYNWHEEL_DEBUG: '1' } });
  t.match(debug.stderr.toString(), /runner: running python directly \(more inheritable fds than a request frame carries\)/, 'the runner says why');
  // Just below the limit, the run goes through pynwheel with them all.
  const fits = write(sb, 'fits.py', 'import os, sys\nfor fd in range(100, 349):\n    os.dup2(0, fd)\nos.execvp(sys.argv[1], sys.argv[1:] + ["count.py"])\n');
  const viaLane = await collect('python3', [fits, SHIM, 'run'], { cwd: sb.dir, env: { ...sb.env, PYNWHEEL_DEBUG: '1' } });
  t.equal(viaLane.stdout.toString(), '249\n', '249 fds: all passed on');
  t.match(viaLane.stderr.toString(), /runner: (lane taken|the daemon started the run)/, 'by pynwheel');
  await sleep(0);
});
