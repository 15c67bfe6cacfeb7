// A new script's first run (issue 19): with no route of its own, the native runner guesses the
// script's family from its top-level imports and goes straight to that family's lane
// (native/runner/guess.h); the spare reads the script itself and takes the run only if its
// zygote is the one the daemon would give it to and has imported all it imports
// (python/_pynwheel/newscript.py). Each run is compared with python's, byte for byte; a wrong
// guess, an edit, another user and a dead daemon each still end as python's run.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { familyRouteName, packageRouteName, routeName } from '../lib/shared/route-name';
import { VERSION } from '../lib/shared/version';
import { collect, daemonStatus, isAlive, makeSandbox, python, sleep, view, write, ROOT, type Outcome, type Sandbox } from './helpers';

const SHIM = path.join(ROOT, 'bin', 'pynwheel');
const DEBUG_LINE = /^pynwheel debug: .*\n/gm;

let sb: Sandbox;
let python3: string;
t.before(() => {
  sb = makeSandbox('newscript');
  python3 = path.join(sb.venv, 'bin', 'python3');
});
t.teardown(() => sb.cleanup());

const runner = (args: string[], env: NodeJS.ProcessEnv = {}, cwd = sb.dir) => collect(SHIM, ['run', ...args], { cwd, env: { ...sb.env, ...env } });

/** A run with PYNWHEEL_DEBUG=1: its outcome without the debug lines, and the runner's debug lines. */
async function traced(args: string[], cwd = sb.dir): Promise<{ outcome: ReturnType<typeof view>; debug: string }> {
  const o = await runner(args, { PYNWHEEL_DEBUG: '1' }, cwd);
  const stderr = o.stderr.toString('latin1');
  const outcome = view({ ...o, stderr: Buffer.from(stderr.replace(DEBUG_LINE, ''), 'latin1') });
  return { outcome, debug: (stderr.match(DEBUG_LINE) ?? []).join('') };
}

/** python3 ARGS with PYNWHEEL_DEBUG=1 in its environment too (the run sees that variable). */
async function pythonOf(args: string[], cwd = sb.dir): Promise<ReturnType<typeof view>> {
  return view(await python(sb, args, { cwd, env: { PYNWHEEL_DEBUG: '1' } }));
}

/** Each zygote's lane declines by code, summed. */
async function declines(): Promise<Record<string, number>> {
  const status = await daemonStatus(sb);
  const sum: Record<string, number> = {};
  for (const z of status.zygotes) for (const [code, n] of Object.entries(z.declines as Record<string, number>)) sum[code] = (sum[code] ?? 0) + n;
  return sum;
}

/** Whether `name` appears in the routes directory within 3 s (a route is published after the run has started). */
async function routeAppears(name: string): Promise<boolean> {
  const link = path.join(sb.runtimeDir, 'r', name);
  for (let i = 0; i < 120 && !fs.existsSync(link); i++) await sleep(25);
  return fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
}

const NEW_PATH = /its family's lane \[([^\]]*)\]: r\/f-[0-9a-f]{16}\n.*lane taken \(route r\/f-/;

t.test('warm zygotes publish their families\' routes', async (t) => {
  write(sb, 'first_base.py', 'import os, json\nprint("base", os.sep)\n');
  write(sb, 'first_numpy.py', 'import numpy\nprint("numpy", numpy.__name__)\n');
  t.equal((await runner(['first_base.py'])).stdout.toString(), 'base /\n', 'a first stdlib script');
  t.equal((await runner(['first_numpy.py'])).stdout.toString(), 'numpy numpy\n', 'a first numpy script');
  const routes = path.join(sb.runtimeDir, 'r');
  t.ok(await routeAppears(familyRouteName(python3, [])), 'the base family\'s route');
  t.ok(await routeAppears(familyRouteName(python3, ['numpy'])), 'numpy\'s family route');
  t.ok(await routeAppears(packageRouteName(python3, 'numpy')), 'numpy marked as a family\'s package');
  t.notOk(fs.existsSync(path.join(routes, packageRouteName(python3, 'os'))), 'the standard library\'s are not');
});

t.test('a new script goes straight to its family\'s lane and runs as python runs it', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['new_numpy.py', 'numpy', [
      'import sys',
      'import numpy as np',
      'print("sum", np.arange(5).sum(), sys.argv[1:], __name__, __file__)',
      'sys.stderr.write("to stderr ä\\n")',
      'sys.exit(3)',
    ].join('\n') + '\n'],
    ['new_base.py', '', 'import os, json\nfrom os import path\nprint(json.dumps({"sep": os.sep}), path.basename(__file__))\nraise SystemExit("bye")\n'],
    ['sub/new_nested.py', 'numpy', 'try:\n    import numpy\nexcept ImportError:\n    numpy = None\nprint(numpy.__name__); print(open(__file__).read().count("numpy"))\n'],
  ];
  for (const [file, family, text] of cases) {
    write(sb, file, text);
    const py = await pythonOf([file, 'a b', 'ä']);
    const { outcome, debug } = await traced([file, 'a b', 'ä']);
    t.same(outcome, py, `${file}: python's stdout, stderr and status`);
    t.match(debug, NEW_PATH, `${file}: by its family's lane`);
    t.equal(debug.match(NEW_PATH)?.[1], family, `${file}: family [${family}] guessed`);
    t.ok(await routeAppears(routeName(python3, sb.dir, file)), `${file}: its own route published after it`);
    await sleep(300); // (spares forked anew after what the run taught its zygote: learned preloads)
    const second = await traced([file, 'a b', 'ä']);
    t.same(second.outcome, py, `${file}: its second run too`);
    t.match(second.debug, /lane taken \(route r\/[0-9a-f]{16}\)/, `${file}: the second by its own route`);
  }
});

t.test('a wrong guess is declined and the run goes through the daemon, as python runs it', async (t) => {
  // numpy.py beside the script: python imports it, not site-packages' numpy (family: none).
  write(sb, 'shadow/numpy.py', 'print("my own numpy")\nVALUE = 42\n');
  write(sb, 'shadow/uses_own.py', 'import numpy\nprint("value", numpy.VALUE)\n');
  const cwd = path.join(sb.dir, 'shadow');
  const before = await declines();
  const py = await pythonOf(['uses_own.py'], cwd);
  const { outcome, debug } = await traced(['uses_own.py'], cwd);
  t.same(outcome, py, 'the script\'s own numpy, as under python');
  t.match(debug, /its family's lane \[numpy\]/, 'the runner guessed numpy\'s');
  t.match(debug, /other-family.*asking the daemon/, 'the spare declined it, and the daemon served it');
  t.equal((await declines())['other-family'], (before['other-family'] ?? 0) + 1, 'counted in status');

  // A standard module the base zygote has not imported: its zygote imports it first.
  write(sb, 'new_import.py', 'import xml.dom.minidom\nprint(xml.dom.minidom.parseString("<a>x</a>").documentElement.tagName)\n');
  const py2 = await pythonOf(['new_import.py']);
  const second = await traced(['new_import.py']);
  t.same(second.outcome, py2, 'an import the zygote had not: python\'s output');
  t.match(second.debug, /not-preloaded.*asking the daemon/, 'declined by the base lane: the daemon\'s way');
  write(sb, 'new_import2.py', 'import xml.dom.minidom\nprint("again", xml.dom.minidom.__name__)\n');
  const third = await traced(['new_import2.py']);
  t.same(third.outcome, await pythonOf(['new_import2.py']), 'the next new script of those imports');
  t.match(third.debug, NEW_PATH, 'now by the lane, its import preloaded');

  // A syntax error: python's message and status, by whichever path.
  write(sb, 'broken.py', 'import os\nprint("x"\n');
  const broken = await traced(['broken.py']);
  t.same(broken.outcome, await pythonOf(['broken.py']), 'a script that does not compile: python\'s error');
});

t.test('a script edited between runs: each run is the file as it is then', async (t) => {
  write(sb, 'edited.py', 'import numpy\nprint("one", numpy.__name__)\n');
  t.same((await traced(['edited.py'])).outcome, await pythonOf(['edited.py']), 'version one');
  for (const [i, text] of [
    'import numpy\nprint("two", numpy.__name__, 2)\n',
    'import os\nprint("three: no numpy any more")\n', // of another family: the numpy lane declines it
    'import numpy, json\nprint("four", json.dumps([1]))\n', // back: its route leads to the base lane now
  ].entries()) {
    await sleep(15); // (a new mtime; the size changes too)
    write(sb, 'edited.py', text);
    const py = await pythonOf(['edited.py']);
    const { outcome, debug } = await traced(['edited.py']);
    t.same(outcome, py, `version ${i + 2}: python's output`);
    if (i >= 1) t.match(debug, /other-family.*asking the daemon/, `version ${i + 2}: of another family: declined, and served by the daemon`);
    else t.match(debug, /lane taken/, `version ${i + 2}: the spare read the edit itself and took it`);
  }
});

t.test('another user\'s connection to a family lane is refused', { skip: process.getuid?.() === 0 ? false : 'needs root to switch a client to uid nobody' }, async (t) => {
  const marker = path.join(sb.dir, 'ran-for-nobody');
  const script = write(sb, 'nobody_new.py', `import numpy\nopen(${JSON.stringify(marker)}, "w").write("ran")\n`);
  const route = path.join(sb.runtimeDir, 'r', familyRouteName(python3, ['numpy']));
  const lane = fs.realpathSync(route);
  // Doors a file mode would open: the spare's peer check still refuses.
  fs.chmodSync(sb.runtimeDir, 0o711);
  fs.chmodSync(lane, 0o777);
  fs.chmodSync(sb.dir, 0o755);
  try {
    const request = { type: 'run', client: VERSION, file: script, args: [], cwd: sb.dir, env: {}, python: python3, argv0: 'python3', stdio: [false, false, false], cwdFd: false };
    const code = `
      const net = require('net');
      const payload = Buffer.from(JSON.stringify(${JSON.stringify(request)}));
      const header = Buffer.alloc(8); header.write('PN', 0, 'latin1'); header.writeUInt8(1, 2); header.writeUInt8(0, 3); header.writeUInt32BE(payload.length, 4);
      const s = net.connect(${JSON.stringify(lane)});
      let reply = Buffer.alloc(0);
      // (Nothing need be sent: the spare refuses another uid before it reads a request.)
      s.on('connect', () => { if (process.argv.includes('send')) s.write(Buffer.concat([header, payload])); });
      s.on('data', (d) => { reply = Buffer.concat([reply, d]); });
      s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); });
      s.on('close', () => { if (reply.length) console.log(reply.subarray(8).toString()); });`;
    const out: Outcome = await new Promise((resolve, reject) => {
      const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', code], { uid: 65534, gid: 65534, cwd: '/', env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
      const o: Buffer[] = [];
      const e: Buffer[] = [];
      child.stdout.on('data', (d) => o.push(d));
      child.stderr.on('data', (d) => e.push(d));
      child.on('error', reject);
      child.on('close', (status, signal) => resolve({ stdout: Buffer.concat(o), stderr: Buffer.concat(e), status, signal }));
    });
    const answer = JSON.parse(out.stdout.toString().trim().split('\n').pop() || '{}');
    t.equal(answer.reason, 'other-user', `declined: ${out.stdout.toString().trim()} ${out.stderr.toString()}`);
  } finally {
    fs.chmodSync(lane, 0o600);
    fs.chmodSync(sb.runtimeDir, 0o700);
  }
  await sleep(200);
  t.notOk(fs.existsSync(marker), 'nothing ran for nobody');
  t.ok((await declines())['other-user'] >= 1, 'counted');
});

t.test('the daemon dead: a new script still runs as python runs it', async (t) => {
  const pid = Number(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.pid'), 'utf8'));
  const status = await daemonStatus(sb);
  const zygotes: number[] = status.zygotes.map((z: { pid: number }) => z.pid);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200 && zygotes.some(isAlive); i++) await sleep(25);
  t.notOk(zygotes.some(isAlive), 'its zygotes left with it');
  write(sb, 'after_death.py', 'import numpy\nprint("after", numpy.__name__)\n');
  const py = await pythonOf(['after_death.py']);
  const { outcome, debug } = await traced(['after_death.py']);
  t.same(outcome, py, 'python\'s output, from a new daemon');
  t.notMatch(debug, /lane taken \(route r\/f-/, 'no family lane of the dead daemon took it');
  write(sb, 'after_death2.py', 'import numpy\nprint("after again", numpy.__name__)\n');
  const again = await traced(['after_death2.py']);
  t.same(again.outcome, await pythonOf(['after_death2.py']), 'and the next new script');
  t.match(again.debug, NEW_PATH, 'by the new daemon\'s family lane');
});
