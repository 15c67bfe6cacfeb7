// Never stale, also right after an edit: a module is written anew (in place, by an editor's
// rename, twice within one timestamp tick) and the script run at once, through the native
// runner and the Node CLI; each run must be what a fresh python runs at that moment.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, ROOT, makeSandbox, sitePackages, write, type Sandbox } from './helpers';

const RUNNER = path.join(ROOT, 'bin', 'pynwheel');
let sb: Sandbox;
t.before(() => { sb = makeSandbox('editrun', { privateVenv: true }); });
t.teardown(async () => { await sb.cleanup(); });

interface Seen { stdout: string; stderr: string; status: number | null }

function run(command: string, args: string[]): Seen {
  const r = spawnSync(command, args, { cwd: sb.dir, env: sb.env, timeout: 30_000 });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), status: r.status };
}

const clients = {
  runner: (args: string[]) => run(RUNNER, ['run', ...args]),
  cli: (args: string[]) => run(process.execPath, [CLI, 'run', ...args]),
};

/** A version's text: `VALUE = "0007"`, its size alternating so that no two steps in a row have the same size (python's .pyc check). */
function version(label: string, step: number): string {
  return `VALUE = "${label}"\n${step % 2 ? '#\n' : ''}`;
}

type Edit = 'in place' | 'rename' | 'same tick';

function edit(file: string, how: Edit, step: number): string {
  const label = String(step).padStart(4, '0');
  if (how === 'in place') {
    fs.writeFileSync(file, version(label, step));
  } else if (how === 'rename') {
    // As editors and pip do: a temporary file beside it, renamed over it.
    fs.writeFileSync(`${file}.pnwnew`, version(label, step));
    fs.renameSync(`${file}.pnwnew`, file);
  } else {
    // Two versions of the same size in a row, within one tick of the file system's clock.
    fs.writeFileSync(file, version(`${label.slice(1)}a`, step));
    fs.writeFileSync(file, version(`${label.slice(1)}b`, step));
    return `${label.slice(1)}b`;
  }
  return label;
}

t.test('edit then run at once: never the previous version, never a failure (runner and Node CLI)', async (t) => {
  const site = path.join(sitePackages(sb.venv), 'pnw_edit_site.py');
  // (local's first edit is step 2, site's step 1: each starts at the other size, as python's .pyc check needs)
  const local = write(sb, 'pnw_edit_local.py', version('init', 1));
  fs.writeFileSync(site, version('init', 0));
  t.teardown(() => fs.rmSync(site, { force: true }));
  write(sb, 'editrun.py', 'import pnw_edit_site, pnw_edit_local\nprint(pnw_edit_site.VALUE, pnw_edit_local.VALUE)\n');
  t.equal(clients.runner(['editrun.py']).stdout, 'init init\n', 'a first run');
  const hows: Edit[] = ['in place', 'rename', 'same tick'];
  const values = { site: 'init', local: 'init' };
  const wrong: string[] = [];
  let pairs = 0;
  const started = Date.now();
  for (let step = 1; step <= 120 && Date.now() - started < 25_000; step++) {
    const how = hows[step % 3];
    const which = step % 4 < 2 ? 'site' : 'local';
    const client = step % 3 === 1 ? 'cli' : 'runner';
    values[which] = edit(which === 'site' ? site : local, how, step);
    const pnw = clients[client](['editrun.py']);
    const py = run('python3', ['editrun.py']);  // what a fresh python runs at this moment
    pairs++;
    const expected = `${values.site} ${values.local}\n`;
    if (pnw.stdout !== py.stdout || pnw.stderr !== py.stderr || pnw.status !== py.status || py.stdout !== expected) {
      wrong.push(`step ${step} (${which} module, ${how}, ${client}): pynwheel ${JSON.stringify(pnw)}, python ${JSON.stringify(py)}, written ${JSON.stringify(expected)}`);
    }
  }
  t.ok(pairs >= 40, `${pairs} edit-then-run pairs in ${Date.now() - started} ms`);
  t.same(wrong, [], 'every run as a fresh python at that moment, and none failed');
});

t.test('edits during runs (by rename, every 40 ms, four clients at once): no run fails, none sees a version older than the one written before it started', async (t) => {
  const site = path.join(sitePackages(sb.venv), 'pnw_edit_busy.py');
  let version = 0;
  const edit = () => {
    version++;
    fs.writeFileSync(`${site}.pnwnew`, `VALUE = ${version}\n${version % 2 ? '#\n' : ''}`);
    fs.renameSync(`${site}.pnwnew`, site);
  };
  edit();
  t.teardown(() => { fs.rmSync(site, { force: true }); fs.rmSync(`${site}.pnwnew`, { force: true }); });
  write(sb, 'busy.py', 'import pnw_edit_busy\nprint(pnw_edit_busy.VALUE)\n');
  const wrong: string[] = [];
  let runs = 0;
  // No bytecode: python's own import has a race here (it stats the source, then reads it: a
  // .pyc of one version can carry the next one's stamp), which a fresh python would run too.
  const env = { ...sb.env, PYTHONDONTWRITEBYTECODE: '1' };
  const one = (client: 'runner' | 'cli') => new Promise<void>((resolve) => {
    const written = version;
    const child = client === 'runner' ? spawn(RUNNER, ['run', 'busy.py'], { cwd: sb.dir, env }) : spawn(process.execPath, [CLI, 'run', 'busy.py'], { cwd: sb.dir, env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (status) => {
      runs++;
      if (status !== 0 || !(Number(out) >= written)) wrong.push(`${client}: status ${status}, printed ${JSON.stringify(out)} after version ${written} was written; ${err.trim()}`);
      resolve();
    });
  });
  const timer = setInterval(edit, 40);
  // A number of runs, not a time: the test files run in parallel on a shared machine.
  const before = version;
  const loop = async (client: 'runner' | 'cli') => { for (let i = 0; i < 10 || version - before < 20; i++) await one(client); };
  await Promise.all([loop('runner'), loop('runner'), loop('runner'), loop('cli')]);
  clearInterval(timer);
  t.ok(runs >= 40 && version - before >= 20, `${runs} runs during ${version - before} edits`);
  t.same(wrong, [], 'none failed or saw an older version');
});

t.test('invalidation is precise: an unrelated new module replaces no zygote, an edit only those that imported it, a .pth that changes sys.path every one', async (t) => {
  const site = sitePackages(sb.venv);
  const mine = [path.join(site, 'pnw_prec_a.py'), path.join(site, 'pnw_prec_b.py'), path.join(site, 'pnw_prec_new.py'), path.join(site, 'pnw_prec.pth')];
  t.teardown(() => { for (const f of mine) fs.rmSync(f, { force: true }); fs.rmSync(path.join(sb.dir, 'pnwprecdir'), { recursive: true, force: true }); });
  fs.writeFileSync(mine[0], 'A = "a"\n');
  fs.writeFileSync(mine[1], 'B = "b"\n');
  write(sb, 'prec_a.py', 'import pnw_prec_a\nprint(pnw_prec_a.A)\n');
  write(sb, 'prec_b.py', 'import pnw_prec_b\nprint(pnw_prec_b.B)\n');
  write(sb, 'prec_new.py', 'import sys\ntry:\n    import pnw_prec_new\n    print(pnw_prec_new.N)\nexcept ImportError:\n    print("none")\nprint("pnwprecdir" in "".join(sys.path))\n');
  const runAll = () => ['prec_a.py', 'prec_b.py', 'prec_new.py'].map((f) => clients.runner([f]).stdout);
  runAll();
  t.same(runAll(), ['a\n', 'b\n', 'none\nFalse\n'], 'first runs');
  type Z = { pid: number; key: { family: string[] } };
  const pids = () => {
    const r = spawnSync(process.execPath, [CLI, 'status', '--json'], { env: sb.env });
    return Object.fromEntries((JSON.parse(r.stdout.toString()).zygotes as Z[]).map((z) => [z.key.family.join(',') || '(base)', z.pid]));
  };
  const before = pids();
  t.ok(['(base)', 'pnw_prec_a', 'pnw_prec_b'].every((k) => k in before), 'a base zygote and one per family');
  fs.writeFileSync(mine[2], 'N = "new"\n');
  t.same(runAll(), ['a\n', 'b\n', 'new\nFalse\n'], 'a new module is found at once');
  t.same(pids(), before, 'and no zygote was replaced for it');
  fs.writeFileSync(mine[0], 'A = "a2"\n');
  t.same(runAll(), ['a2\n', 'b\n', 'new\nFalse\n'], 'an edit is seen');
  const afterEdit = pids();
  t.not(afterEdit.pnw_prec_a, before.pnw_prec_a, 'the zygote that imported it was replaced');
  t.equal(afterEdit.pnw_prec_b, before.pnw_prec_b, 'the other family\'s was not');
  t.equal(afterEdit['(base)'], before['(base)'], 'nor the base zygote');
  fs.mkdirSync(path.join(sb.dir, 'pnwprecdir'));
  fs.writeFileSync(mine[3], `${path.join(sb.dir, 'pnwprecdir')}\n`);
  const withPth = runAll();
  const py = spawnSync('python3', ['prec_new.py'], { cwd: sb.dir, env: sb.env }).stdout.toString();
  t.same(withPth, ['a2\n', 'b\n', py], 'a .pth that adds a directory: as python');
  t.equal(py, 'new\nTrue\n');
  const afterPth = pids();
  t.ok(Object.keys(afterPth).every((k) => afterPth[k] !== afterEdit[k]), 'every zygote was replaced (each one\'s sys.path changed)');
});
