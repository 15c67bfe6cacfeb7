// On a real pseudo-terminal that is the client's controlling terminal, as in a shell: the same
// script with python3 and with pynwheel shows the same bytes on the terminal and ends the same.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, makeSandbox, write, type Sandbox } from './helpers';

const HARNESS = path.join(__dirname, 'fixtures', 'pty_session.py');

let sb: Sandbox;
t.before(() => {
  sb = makeSandbox('tty');
  write(sb, 'warm.py', 'pass\n');
});
t.teardown(() => sb.cleanup());

type Step = { expect: string } | { send: string } | { resize: [number, number] } | { hangup: true } | { sleep: number };
interface Session { output: string; code: number | null; signal: number | null; timedOut: string | null }

function session(steps: Step[], command: string[], env: Record<string, string> = {}): Session {
  const r = spawnSync(path.join(sb.venv, 'bin', 'python3'), [HARNESS, JSON.stringify(steps), '--', ...command], {
    cwd: sb.dir, env: { ...sb.env, TERM: 'xterm', PS1: '$ ', ...env }, encoding: 'utf8', timeout: 90_000,
  });
  const report = JSON.parse(r.stdout);
  return { ...report, output: Buffer.from(report.output, 'base64').toString('utf8') };
}

const RUNNER = path.join(path.dirname(CLI), 'pynwheel'); // the sh shim: the native runner

/**
 * A terminal session's runs come from a zygote born in that session (started by its first
 * run, which python runs itself meanwhile). Before the script, the session's zygote is made
 * ready: warm.py is run (output hidden) until a zygote, not python itself, served it. The
 * python session runs warm.py once too, so that both sessions do the same before the script.
 */
const WARM_UP = `until PYNWHEEL_DEBUG=1 ${RUNNER} run warm.py 2>&1 | grep -q -e 'lane taken' -e 'the daemon started the run'; do sleep 0.1; done`;
const viaPython = (script: string) => ['sh', '-c', `python3 warm.py >/dev/null 2>&1; exec python3 ${script}`];
const viaPynwheel = (script: string) => ['sh', '-c', `${WARM_UP}; exec ${process.execPath} ${CLI} run ${script}`];
const viaRunner = (script: string) => ['sh', '-c', `${WARM_UP}; exec ${RUNNER} run ${script}`];
/** The same in an interactive shell, typed at its prompt (the markers are printf'd from pieces, so typing them does not match them). */
const warmUpTyped: Step[] = [{ send: `${WARM_UP}; printf '%s-%s\\n' WARM DONE\n` }, { expect: 'WARM-DONE' }];

function sameOnTerminal(t: Test, name: string, steps: Step[], check?: (s: Session) => void) {
  const py = session(steps, viaPython(name));
  t.equal(py.timedOut, null, `python: every step happened (${py.timedOut ?? ''})`);
  for (const [who, command] of [['the Node CLI', viaPynwheel(name)], ['the runner', viaRunner(name)]] as const) {
    const pnw = session(steps, command);
    t.same(pnw, py, `${name}, through ${who}: the same terminal output and ending`);
    check?.(pnw);
  }
}

t.test('isatty, the terminal size, line buffering and input() prompting', async (t) => {
  write(sb, 'tty_basics.py', [
    'import os, sys',
    'print([s.isatty() for s in (sys.stdin, sys.stdout, sys.stderr)], tuple(os.get_terminal_size()), sys.stdout.line_buffering)',
    'name = input("name? ")',
    'print("hello", name)',
  ].join('\n') + '\n');
  sameOnTerminal(t, 'tty_basics.py', [{ expect: 'name? ' }, { send: 'Ada\n' }, { expect: 'hello Ada' }], (s) => {
    t.match(s.output, /\[True, True, True\] \(80, 24\) True/);
  });
});

t.test('getpass() reads without echo', async (t) => {
  write(sb, 'password.py', 'import getpass\np = getpass.getpass("Password: ")\nprint("got", len(p), "characters")\n');
  sameOnTerminal(t, 'password.py', [{ expect: 'Password: ' }, { send: 'hunter2\n' }, { expect: 'characters' }], (s) => {
    t.notMatch(s.output, /hunter2/, 'the password was not echoed');
    t.match(s.output, /got 7 characters/);
  });
});

t.test('pdb and breakpoint() work interactively', async (t) => {
  write(sb, 'debug_me.py', 'x = 6\nbreakpoint()\nprint("after", x)\n');
  sameOnTerminal(t, 'debug_me.py', [
    { expect: '(Pdb) ' }, { send: 'p x * 7\n' }, { expect: '42' }, { expect: '(Pdb) ' }, { send: 'c\n' }, { expect: 'after 6' },
  ]);
});

t.test('curses programs work and leave the terminal as it was', async (t) => {
  write(sb, 'curses_app.py', [
    'import curses, termios, sys',
    'before = termios.tcgetattr(0)',
    'def main(screen):',
    '    screen.addstr(2, 4, "inside curses; press a key")',
    '    screen.refresh()',
    '    return screen.getch()',
    'key = curses.wrapper(main)',
    'print("key", key, "terminal restored", termios.tcgetattr(0) == before)',
  ].join('\n') + '\n');
  sameOnTerminal(t, 'curses_app.py', [{ expect: 'press a key' }, { send: 'x' }, { expect: 'terminal restored' }], (s) => {
    t.match(s.output, /key 120 terminal restored True/);
  });
});

t.test('Ctrl-C interrupts the run as python: KeyboardInterrupt, then death by SIGINT', async (t) => {
  write(sb, 'interrupt_me.py', 'import time\nprint("ready", flush=True)\ntime.sleep(30)\n');
  sameOnTerminal(t, 'interrupt_me.py', [{ expect: 'ready' }, { sleep: 0.3 }, { send: '\x03' }, { expect: 'KeyboardInterrupt' }], (s) => {
    t.equal(s.signal, 2, 'died by SIGINT');
  });
});

t.test('window resizes reach the run', async (t) => {
  write(sb, 'resize_me.py', [
    'import os, signal',
    'signal.signal(signal.SIGWINCH, lambda *a: print("size", tuple(os.get_terminal_size()), flush=True))',
    'input("ready ")',
  ].join('\n') + '\n');
  // A signal that comes after the prompt is written but before input() blocks in read() waits
  // for the next line under python too: each resize comes once the script is reading.
  sameOnTerminal(t, 'resize_me.py', [{ expect: 'ready ' }, { sleep: 0.3 }, { resize: [30, 100] }, { expect: '(100, 30)' }, { sleep: 0.3 }, { resize: [40, 120] }, { expect: '(120, 40)' }, { send: '\n' }]);
});

t.test('closing the terminal ends the run', async (t) => {
  write(sb, 'hang_me.py', 'import time\nprint("ready", flush=True)\ntime.sleep(30)\n');
  const steps: Step[] = [{ expect: 'ready' }, { hangup: true }];
  const py = session(steps, viaPython('hang_me.py'));
  t.equal(py.signal, 1, 'python dies by SIGHUP');
  for (const [who, command] of [['the Node CLI', viaPynwheel('hang_me.py')], ['the runner', viaRunner('hang_me.py')]] as const) {
    const pnw = session(steps, command);
    t.equal(pnw.signal, 1, `so does pynwheel, through ${who}`);
    t.equal(pnw.timedOut, null);
  }
});

t.test('a script that handles SIGTSTP keeps running, and so does its client, as with python', async (t) => {
  write(sb, 'no_stop.py', [
    // The handler only notes the signal: printing inside it could land in the middle of the
    // print below (a reentrant call to the buffered writer, a RuntimeError under python too).
    'import signal, time',
    'caught = []',
    'signal.signal(signal.SIGTSTP, lambda *a: caught.append(1))',
    'print("ready", flush=True)',
    'while not caught:',
    '    time.sleep(0.01)',
    'print("caught TSTP", flush=True)',
    'for i in range(1, 40):',
    '    time.sleep(0.05)',
    'print("finished", flush=True)',
  ].join('\n') + '\n');
  const viaShim = `${path.join(path.dirname(CLI), 'pynwheel')} run no_stop.py`;
  for (const [who, command] of [['python', 'python3 no_stop.py'], ['pynwheel', `${process.execPath} ${CLI} run no_stop.py`], ['the runner', viaShim]] as const) {
    const s = session([
      { expect: '$ ' }, ...warmUpTyped, { send: `${command}\n` }, { expect: 'ready' }, { send: '\x1a' }, { expect: 'caught TSTP' },
      { expect: 'finished' }, { send: "printf '%s-%s\\n' MARK DONE\n" }, { expect: 'MARK-DONE' }, { send: 'exit\n' },
    ], ['bash', '--norc', '--noprofile', '-i']);
    t.equal(s.timedOut, null, `${who}: every step happened`);
    t.notMatch(s.output, /Stopped/, `${who}: nothing was stopped`);
  }
});

t.test('Ctrl-Z suspends the run and its client; fg resumes both', async (t) => {
  write(sb, 'ticker.py', 'import sys, time\nfor i in range(1, 1000):\n    print("tick", i, flush=True)\n    time.sleep(0.1)\n');
  const viaShim = `${path.join(path.dirname(CLI), 'pynwheel')} run ticker.py`; // the native runner
  for (const [who, command] of [['python', 'python3 ticker.py'], ['pynwheel', `${process.execPath} ${CLI} run ticker.py`], ['the runner', viaShim]] as const) {
    const s = session([
      { expect: '$ ' }, ...warmUpTyped, { send: `${command}\n` }, { expect: 'tick 3' },
      // The markers are printed by printf from pieces, so typing them does not match them.
      { send: '\x1a' }, { expect: 'Stopped' }, { sleep: 1.0 },
      { send: "printf '%s-%s\\n' MARK WAITED\n" }, { expect: 'MARK-WAITED' },
      { send: 'fg\n' }, { expect: 'tick 20' }, { send: '\x03' }, { sleep: 0.5 }, { send: 'exit\n' },
    ], ['bash', '--norc', '--noprofile', '-i']);
    t.equal(s.timedOut, null, `${who}: every step happened`);
    const stopped = s.output.slice(s.output.indexOf('Stopped'), s.output.indexOf('MARK-WAITED'));
    t.ok(stopped.length > 0 && !/tick \d/.test(stopped), `${who}: no output for a second while suspended`);
    t.match(s.output.slice(s.output.indexOf('MARK-WAITED')), /tick 20/, `${who}: fg resumed it`);
  }
});

t.test('the run has the terminal as its controlling terminal, in the foreground, as python', async (t) => {
  write(sb, 'own_tty.py', [
    'import os',
    'fd = os.open("/dev/tty", os.O_RDWR)',
    'print("tty", os.isatty(fd), os.tcgetpgrp(fd) == os.getpgrp(), os.tcgetpgrp(0) == os.getpgrp(), os.getsid(0) == os.getsid(fd and 0))',
    'os.write(fd, b"straight to the terminal\\r\\n")',
  ].join('\n') + '\n');
  sameOnTerminal(t, 'own_tty.py', [{ expect: 'straight to the terminal' }], (s) => {
    t.match(s.output, /tty True True True True/);
  });
});

t.test('getpass() with stderr redirected prompts on the terminal, as python', async (t) => {
  write(sb, 'quiet_password.py', 'import getpass\np = getpass.getpass("Secret: ")\nprint("got", len(p))\n');
  const steps: Step[] = [{ expect: 'Secret: ' }, { send: 'abc\n' }, { expect: 'got 3' }];
  const py = session(steps, ['sh', '-c', 'python3 warm.py >/dev/null 2>&1; exec python3 quiet_password.py 2>/dev/null']);
  t.equal(py.timedOut, null, 'python prompts on /dev/tty');
  for (const [who, command] of [['the Node CLI', `${process.execPath} ${CLI}`], ['the runner', RUNNER]] as const) {
    const pnw = session(steps, ['sh', '-c', `${WARM_UP}; exec ${command} run quiet_password.py 2>/dev/null`]);
    t.same(pnw, py, `through ${who}: the prompt, the answer, the end`);
  }
});

t.test('a child of the run reads the terminal itself (as ssh or sudo ask for a password)', async (t) => {
  write(sb, 'asks_child.py', [
    'import subprocess',
    'r = subprocess.run(["sh", "-c", "printf \'code? \' >/dev/tty; read x </dev/tty; echo \\"child read $x\\""], capture_output=True, text=True)',
    'print(r.stdout.strip(), r.returncode)',
  ].join('\n') + '\n');
  sameOnTerminal(t, 'asks_child.py', [{ expect: 'code? ' }, { send: '42\n' }, { expect: 'child read 42 0' }]);
});

t.test('a pipeline whose other command reads the terminal works, as with python (`pynwheel run gen.py | less`)', async (t) => {
  write(sb, 'gen.py', 'for i in range(3):\n    print("line", i)\n');
  // The pager's part: a key from the terminal, then its input.
  const pager = `sh -c 'read key </dev/tty; echo "key $key"; cat'`;
  const steps: Step[] = [{ sleep: 0.5 }, { send: 'q\n' }, { expect: 'line 2' }];
  const py = session(steps, ['sh', '-c', `python3 warm.py >/dev/null 2>&1; python3 gen.py | ${pager}`]);
  t.match(py.output, /key q[\s\S]*line 0[\s\S]*line 2/, 'python: the pager read its key and the lines');
  for (const [who, command] of [['the Node CLI', `${process.execPath} ${CLI}`], ['the runner', RUNNER]] as const) {
    const pnw = session(steps, ['sh', '-c', `${WARM_UP}; ${command} run gen.py | ${pager}`]);
    t.same(pnw, py, `through ${who}: nothing stopped, the same output`);
  }
});

t.test('a session\'s first run is python\'s own; the next come from a zygote of the session, which leaves with it', async (t) => {
  write(sb, 'where.py', 'import os\nprint("run", os.getpid())\n');
  const s = session([{ sleep: 0.1 }], ['sh', '-c',
    `PYNWHEEL_DEBUG=1 ${RUNNER} run where.py; ${WARM_UP}; PYNWHEEL_DEBUG=1 ${RUNNER} run where.py; ${RUNNER} status`]);
  t.equal(s.timedOut, null);
  t.equal(s.code, 0);
  const [first, second] = s.output.split(/(?=pynwheel debug: runner: no route)/).filter((part) => part.includes('run '));
  t.match(first, /running python directly/, 'the first run of the session: python itself, as fast as python');
  t.notMatch(second ?? '', /running python directly/, 'a later run: a zygote');
  t.match(second ?? '', /the daemon started the run|lane taken/);
  const sessionZygote = /zygote: pid (\d+)[^\n]*\n(?:[^\n]*\n)*?[^\n]*terminal session (\d+)/.exec(s.output);
  t.ok(sessionZygote, 'status shows the session\'s zygote');
  // The terminal is gone (its shell ended): the session's zygotes leave within a few seconds.
  const pid = Number(sessionZygote?.[1]);
  let alive = true;
  for (let i = 0; i < 100 && alive; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try { process.kill(pid, 0); } catch { alive = false; }
  }
  t.notOk(alive, `the session's zygote ${pid} left after its session ended`);
});

t.test('the zygote a session\'s first run starts holds none of that run\'s fds: $(pynwheel run x.py) ends with the run', async (t) => {
  write(sb, 'say.py', 'print("said")\n');
  // A new session each time, so that each is its session's first run (python's own, which
  // starts the zygote); a zygote that held the run's stdout would keep $(...) waiting.
  for (const [who, command] of [['the Node CLI', `${process.execPath} ${CLI}`], ['the runner', RUNNER]] as const) {
    const s = session([{ expect: 'captured said' }], ['sh', '-c', `out=$(PYNWHEEL_DEBUG=1 ${command} run say.py 2>/dev/null); echo "captured $out"`]);
    t.equal(s.timedOut, null, `through ${who}: the command substitution ended with the run`);
    t.equal(s.code, 0);
  }
});

t.test('a session has at most PYNWHEEL_SESSION_ZYGOTES zygotes: the least recently used idle one leaves', async (t) => {
  // Two keys (LANG differs: a variable python reads at start-up), one zygote allowed a session.
  const warmWith = (lang: string) =>
    `until LANG=${lang} PYNWHEEL_DEBUG=1 ${RUNNER} run warm.py 2>&1 | grep -q -e 'lane taken' -e 'the daemon started the run'; do sleep 0.1; done`;
  // A daemon of its own, which reads the setting as it starts.
  const runtime = fs.mkdtempSync(path.join(sb.dir, 'rt-bound-'));
  fs.chmodSync(runtime, 0o700);
  const env = { PYNWHEEL_SESSION_ZYGOTES: '1', PYNWHEEL_RUNTIME_DIR: runtime };
  t.teardown(() => { spawnSync(RUNNER, ['stop'], { env: { ...sb.env, ...env }, stdio: 'ignore' }); });
  const s = session([{ sleep: 0.1 }], ['sh', '-c', `${warmWith('C.UTF-8')}; ${warmWith('C')}; ${RUNNER} status`], env);
  t.equal(s.timedOut, null);
  const ofSession = s.output.split('\nzygote: ').filter((block) => /terminal session \d+/.test(block));
  t.equal(ofSession.length, 1, 'one zygote of the session is left');
  t.match(ofSession[0] ?? '', /with LANG=C[;\s]/, 'the one of the last key used');
});
