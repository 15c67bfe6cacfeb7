// On a real pseudo-terminal that is the client's controlling terminal, as in a shell: the same
// script with python3 and with pynwheel shows the same bytes on the terminal and ends the same.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CLI, makeSandbox, write, type Sandbox } from './helpers';

const HARNESS = path.join(__dirname, 'fixtures', 'pty_session.py');

let sb: Sandbox;
t.before(() => { sb = makeSandbox('tty'); });
t.teardown(() => sb.cleanup());

type Step = { expect: string } | { send: string } | { resize: [number, number] } | { hangup: true } | { sleep: number };
interface Session { output: string; code: number | null; signal: number | null; timedOut: string | null }

function session(steps: Step[], command: string[]): Session {
  const r = spawnSync(path.join(sb.venv, 'bin', 'python3'), [HARNESS, JSON.stringify(steps), '--', ...command], {
    cwd: sb.dir, env: { ...sb.env, TERM: 'xterm', PS1: '$ ' }, encoding: 'utf8', timeout: 90_000,
  });
  const report = JSON.parse(r.stdout);
  return { ...report, output: Buffer.from(report.output, 'base64').toString('utf8') };
}

const viaPython = (script: string) => ['python3', script];
const viaPynwheel = (script: string) => [process.execPath, CLI, 'run', script];

function sameOnTerminal(t: Test, name: string, steps: Step[], check?: (s: Session) => void) {
  const py = session(steps, viaPython(name));
  const pnw = session(steps, viaPynwheel(name));
  t.equal(py.timedOut, null, `python: every step happened (${py.timedOut ?? ''})`);
  t.same(pnw, py, `${name}: the same terminal output and ending`);
  check?.(pnw);
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
  const pnw = session(steps, viaPynwheel('hang_me.py'));
  t.equal(py.signal, 1, 'python dies by SIGHUP');
  t.equal(pnw.signal, 1, 'so does pynwheel');
  t.equal(pnw.timedOut, null);
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
      { expect: '$ ' }, { send: `${command}\n` }, { expect: 'ready' }, { send: '\x1a' }, { expect: 'caught TSTP' },
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
      { expect: '$ ' }, { send: `${command}\n` }, { expect: 'tick 3' },
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
