// mise's shims (lib/client/version-managers.ts resolveMise): `python3` through a mise shim against
// `pynwheel run` from the Node CLI and the runner. mise comes from its npm package, which .ci/run
// installs into .test-tools/ (not a dependency of pynwheel; $PYNWHEEL_TEST_MISE may name another
// copy); it cannot download pythons here, so `mise sync python --pyenv` points it at pyenv's
// installed versions. Missing there, the test installs it there itself (`npm test` from a fresh clone).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, collect, makeSandbox, ROOT, view, write, type Sandbox } from './helpers';

t.setTimeout(300_000);

// The runner itself, as an installed package's bin/pynwheel (a checkout's bin/pynwheel is an sh shim, and sh sets PWD).
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');
let sb: Sandbox;
let scratch: string;
let env: NodeJS.ProcessEnv;
let project: string;

t.before(() => {
  sb = makeSandbox('mise');
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-mise-'));
  const mise = process.env.PYNWHEEL_TEST_MISE ?? path.join(ROOT, '.test-tools', 'node_modules', '@jdxcode', 'mise', 'bin', 'mise');
  if (!fs.existsSync(mise) && process.env.PYNWHEEL_TEST_MISE === undefined) {
    // `npm test` from a fresh clone (not .ci/run): install it where .ci/run would have.
    const npm = spawnSync('npm', ['install', '--prefix', path.join(ROOT, '.test-tools'), '--prefer-offline', '--no-save', '--no-audit', '--no-fund',
      '@jdxcode/mise@2026.9.15'], { encoding: 'utf8', env: process.env });
    if (npm.status !== 0) throw new Error(`npm install @jdxcode/mise failed:\n${npm.stdout}\n${npm.stderr}`);
  }
  if (!fs.existsSync(mise)) {
    throw new Error(`mise is not installed at ${mise}: .ci/run installs it with ` +
      '`npm install --prefix .test-tools --no-save @jdxcode/mise@2026.9.15` (or set PYNWHEEL_TEST_MISE to a mise binary)');
  }
  const dirs = Object.fromEntries(['DATA', 'CONFIG', 'CACHE', 'STATE'].map((d) => [`MISE_${d}_DIR`, path.join(scratch, d.toLowerCase())]));
  env = { ...sb.env, ...dirs, PATH: `${dirs.MISE_DATA_DIR}/shims:/usr/local/bin:/usr/bin:/bin` };
  const run = (args: string[], cwd = scratch) => {
    const r = spawnSync(mise, args, { cwd, encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`mise ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  };
  run(['sync', 'python', '--pyenv']);
  project = path.join(sb.dir, 'proj');
  write(sb, 'proj/mise.toml', '[tools]\npython = "3.12.1"\n');
  write(sb, 'proj/sub/v.py', [
    'import json, os, sys',
    'print(sys.version.split()[0], sys.executable)',
    "print(json.dumps({k: v for k, v in os.environ.items() if not k.startswith(('_TAPJS', 'NODE_OPTIONS'))}, sort_keys=True))",
  ].join('\n') + '\n');
  run(['trust', path.join(project, 'mise.toml')]);
  run(['reshim']);
});
t.teardown(async () => {
  await sb.cleanup();
  fs.rmSync(scratch, { recursive: true, force: true });
});

async function agree(t: Tap.Test, what: string, expect: RegExp) {
  const cwd = path.join(project, 'sub');
  const py = view(await collect('python3', ['v.py'], { cwd, env }));
  t.match(py.stdout, expect, `${what}: python3 through mise`);
  t.same(view(await collect(process.execPath, [CLI, 'run', 'v.py'], { cwd, env })), py, `${what}: the Node CLI`);
  for (let i = 0; i < 3; i++) t.same(view(await collect(RUNNER, ['run', 'v.py'], { cwd, env })), py, `${what}: the runner, run ${i + 1}`);
  const debug = await collect(RUNNER, ['run', 'v.py'], { cwd, env: { ...env, PYNWHEEL_DEBUG: '1' } });
  t.match(debug.stderr.toString(), /lane taken/, `${what}: warm, by the lane`);
}

t.test('mise.toml, then .tool-versions nearer, each seen at once', async (t) => {
  await agree(t, 'mise.toml in a parent', /^3\.12\.1 .*installs\/python\/3\.12\.1\/bin\/python3\n/);
  fs.writeFileSync(path.join(project, 'sub', '.tool-versions'), 'python 3.13.0\n');
  await agree(t, '.tool-versions nearer', /^3\.13\.0 /);
  fs.rmSync(path.join(project, 'sub', '.tool-versions'));
  await agree(t, 'removed again', /^3\.12\.1 /);
  const status = await collect(process.execPath, [CLI, 'doctor'], { cwd: project, env });
  t.match(status.stdout.toString(), /chosen by python3 on PATH: mise \(.*proj\/mise\.toml\)/);
});
