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
t.before(() => { sb = makeSandbox('editrun'); });
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
  const local = write(sb, 'pnw_edit_local.py', version('init', 0));
  fs.writeFileSync(site, version('init', 0));
  t.teardown(() => fs.rmSync(site, { force: true }));
  write(sb, 'editrun.py', 'import pnw_edit_site, pnw_edit_local\nprint(pnw_edit_site.VALUE, pnw_edit_local.VALUE)\n');
  t.equal(clients.runner(['editrun.py']).stdout, 'init init\n', 'a first run');
  const hows: Edit[] = ['in place', 'rename', 'same tick'];
  const values = { site: 'init', local: 'init' };
  const wrong: string[] = [];
  let pairs = 0;
  // Two busy processes on the two cores: a zygote or a spare is preempted between any two of
  // its steps, as on a loaded machine (where the races of before showed).
  const hogs = [0, 1].map(() => spawn('python3', ['-c', 'while True: pass'], { env: sb.env, stdio: 'ignore' }));
  t.teardown(() => hogs.forEach((h) => h.kill('SIGKILL')));
  const started = Date.now();
  for (let step = 1; step <= 150 && Date.now() - started < 40_000; step++) {
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
  hogs.forEach((h) => h.kill('SIGKILL'));
  t.ok(pairs >= 60, `${pairs} edit-then-run pairs in ${Date.now() - started} ms`);
  t.same(wrong, [], 'every run as a fresh python at that moment, and none failed');
});
