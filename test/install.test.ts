// The package as a user installs it: `npm pack`, then `npm install` of the tarball in an app.
// The install builds the native code and makes bin/pynwheel the runner itself (no sh on the warm
// path); the command then works cold (through the Node CLI) and warm (the runner alone).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { collect, makeSandbox, ROOT, write, type Sandbox } from './helpers';

t.setTimeout(600_000); // npm install compiles the addon and the runner

let sb: Sandbox;
t.before(() => { sb = makeSandbox('install'); });
t.teardown(() => sb.cleanup());

t.test('npm install of the packed package: bin/pynwheel is the native runner, and it runs', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-install-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const npm = (args: string[], cwd: string) => {
    const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
    if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  // --ignore-scripts: `prepare` would rebuild dist/ under the test files running beside this one.
  const tarball = path.join(work, npm(['pack', '--silent', '--ignore-scripts', '--pack-destination', work], ROOT).trim().split('\n').pop()!);
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  const log = npm(['install', '--prefer-offline', '--foreground-scripts', tarball], app);
  t.match(log, /bin\/pynwheel is now the native runner/, 'the install script replaced the shim');
  const installed = path.join(app, 'node_modules', 'pynwheel', 'bin', 'pynwheel');
  t.same([...fs.readFileSync(installed).subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'bin/pynwheel is an ELF executable');
  const command = path.join(app, 'node_modules', '.bin', 'pynwheel');

  write(sb, 'env.py', 'import os, sys\nprint(sys.argv[1:], os.environ.get("my.var"), os.environ.get("A-B"))\n');
  // Names that are not shell identifiers: sh would drop them, the runner passes them on.
  const env = { ...sb.env, 'my.var': 'dotted', 'A-B': 'dashed' };
  const py = await collect(path.join(sb.venv, 'bin', 'python3'), ['env.py', 'x'], { cwd: sb.dir, env });
  const cold = await collect(command, ['run', 'env.py', 'x'], { cwd: sb.dir, env });
  const warm = await collect(command, ['run', 'env.py', 'x'], { cwd: sb.dir, env });
  t.equal(py.stdout.toString(), "['x'] dotted dashed\n");
  t.equal(cold.stdout.toString(), py.stdout.toString(), 'the first run (the daemon starts through the Node CLI)');
  t.equal(warm.stdout.toString(), py.stdout.toString(), 'a warm run, the runner alone: every variable arrives');
  const status = await collect(command, ['status'], { cwd: sb.dir, env: sb.env });
  t.match(status.stdout.toString(), /daemon: pid \d+/, 'what the runner does not do goes to the installed Node CLI');
});
