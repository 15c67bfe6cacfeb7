// The caller's scheduling reaches the run (nice value, CPU affinity, I/O priority, OOM score
// adjustment), as python started there would have it; a caller whose priority the zygote cannot
// give, or in another namespace, gets python itself. Differential, through the Node CLI and the
// native runner (bin/pynwheel).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { makeSandbox, write, CLI, ROOT, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');
const SCRIPT = [
  'import ctypes, os, platform',
  'ioprio_get = {"x86_64": 252, "aarch64": 31}.get(platform.machine())',
  'print(os.getpriority(os.PRIO_PROCESS, 0), sorted(os.sched_getaffinity(0)), open("/proc/self/oom_score_adj").read().strip(),',
  '      ctypes.CDLL(None).syscall(ioprio_get, 1, 0) if ioprio_get else None)',
  '',
].join('\n');

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const COMMANDS: Array<[string, string]> = [
  ['python', 'python3'], ['the Node CLI', `${quote(process.execPath)} ${quote(CLI)} run`], ['the runner', `${quote(SHIM)} run`],
];

function sh(sb: Sandbox, line: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync('sh', ['-c', line], { cwd: sb.dir, env: { ...sb.env, ...env }, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

t.test('nice, taskset, ionice and oom_score_adj reach the run', async (t) => {
  const sb = makeSandbox('sched');
  t.teardown(() => sb.cleanup());
  write(sb, 'sched.py', SCRIPT);
  sh(sb, `${COMMANDS[1][1]} sched.py`); // the daemon, started at the shell's own priority
  for (const [what, prefix] of [
    ['nice -n 5', 'nice -n 5'], ['taskset -c 0', 'taskset -c 0'], ['ionice -c 3', 'ionice -c 3'], ['ionice -c 2 -n 7', 'ionice -c 2 -n 7'],
    ['oom_score_adj 500', 'echo 500 > /proc/self/oom_score_adj; exec'], ['all of them', 'nice -n 3 taskset -c 1 ionice -c 2 -n 6'],
  ]) {
    const py = sh(sb, `${prefix} python3 sched.py`);
    t.equal(py.status, 0, `${what}: python runs it`);
    for (const [name, command] of COMMANDS.slice(1)) {
      for (const round of [1, 2]) t.same(sh(sb, `${prefix} ${command} sched.py`), py, `${what}: ${name}, run ${round}`);
    }
    // And back: the next run of the same spare's zygote has the shell's own again.
    t.same(sh(sb, `${COMMANDS[2][1]} sched.py`), sh(sb, 'python3 sched.py'), `${what}: the next run has the shell's own`);
  }
});

t.test('a caller of a higher priority than the zygote\'s gets python itself, and debug says why', async (t) => {
  const sb = makeSandbox('sched-prio');
  t.teardown(() => sb.cleanup());
  write(sb, 'sched.py', SCRIPT);
  // The daemon (and its zygotes) start at nice 5, without the privilege to lower it (as any user).
  const unprivileged = 'setpriv --bounding-set -sys_nice,-sys_resource --inh-caps -all';
  t.equal(sh(sb, `nice -n 5 ${unprivileged} ${COMMANDS[1][1]} sched.py`).stdout.split(' ')[0], '5', 'the daemon started at nice 5');
  const py = sh(sb, 'python3 sched.py');
  for (const [name, command] of COMMANDS.slice(1)) {
    for (const round of [1, 2]) {
      const r = sh(sb, `${command} sched.py`, { PYNWHEEL_DEBUG: '1' });
      t.equal(r.stdout, py.stdout, `${name}, run ${round}: nice 0, as python's`);
      t.match(r.stderr, /higher-priority|nice value is 0/, `${name}, run ${round}: debug says why`);
      t.match(r.stderr, /running python directly \(EDIRECT/, `${name}, run ${round}: python ran it`);
    }
  }
});

t.test('a caller in another namespace gets python itself', { skip: process.getuid?.() !== 0 ? 'needs root for unshare' : false }, async (t) => {
  const sb = makeSandbox('sched-ns');
  t.teardown(() => sb.cleanup());
  // The caller's mount namespace ($NS) is the script's, as python's.
  write(sb, 'ns.py', 'import os\nprint(os.readlink("/proc/self/ns/mnt") == os.environ["NS"])\n');
  sh(sb, `${COMMANDS[1][1]} ns.py`);
  sh(sb, `${COMMANDS[2][1]} ns.py`);
  for (const [name, command] of COMMANDS.slice(1)) {
    for (const round of [1, 2]) {
      const inNewNamespace = (c: string) => `unshare -m sh -c ${quote(`NS=$(readlink /proc/self/ns/mnt) ${c} ns.py`)}`;
      const r = sh(sb, inNewNamespace(command), { PYNWHEEL_DEBUG: '1' });
      t.equal(r.stdout, 'True\n', `${name}, run ${round}: in the caller's namespace`);
      t.equal(r.stdout, sh(sb, inNewNamespace('python3')).stdout, `${name}, run ${round}: as python's`);
      t.match(r.stderr, /other-confinement|another cgroup or namespace/, `${name}, run ${round}: debug says why`);
    }
  }
});
