// What the daemon tells a person: daemon.log (bounded, with reasons) and `pynwheel doctor`.
// Also the zygote's refusal to keep modules whose import has effects a run must see itself.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { both, daemonStatus, makeSandbox, pynwheel, sitePackages, sleep, view, write, type Sandbox } from './helpers';

let sb: Sandbox;
let site: string;
const planted: string[] = [];
t.before(() => {
  sb = makeSandbox('diagnosis', { privateVenv: true });
  site = sitePackages(sb.venv);
});
t.teardown(async () => {
  for (const file of planted) fs.rmSync(file, { force: true });
  await sb.cleanup();
});

function plant(name: string, source: string): void {
  const file = path.join(site, `${name}.py`);
  fs.writeFileSync(file, source);
  planted.push(file);
}

const log = () => fs.readFileSync(path.join(sb.runtimeDir, 'daemon.log'), 'utf8');
const status = () => daemonStatus(sb);

t.test('modules whose import prints, warns or starts a thread are kept out; the run sees the effect', async (t) => {
  plant('pnw_noisy_import', 'print("hello from import")\nVALUE = 1\n');
  plant('pnw_warning_import', 'import warnings\nwarnings.warn("imported a deprecated thing", UserWarning)\nVALUE = 2\n');
  plant('pnw_thread_import', 'import threading, time\nthreading.Thread(target=time.sleep, args=(0.2,), daemon=True).start()\nVALUE = 3\n');
  // Breaks every child forked after it: a zygote holding it could run nothing.
  plant('pnw_breaks_fork', 'import os\nos.register_at_fork(after_in_child=lambda: os._exit(9))\nVALUE = 4\n');
  for (const name of ['pnw_noisy_import', 'pnw_warning_import', 'pnw_thread_import', 'pnw_breaks_fork']) {
    write(sb, `use_${name}.py`, `import ${name}\nprint("value", ${name}.VALUE)\n`);
    for (let i = 0; i < 2; i++) {
      const { py, pnw } = await both(sb, [`use_${name}.py`]);
      t.same(view(pnw), view(py), `${name}, run ${i + 1}: same output as python`);
    }
  }
  const s = await status();
  // Each is a family of its own (a third-party package): its zygote was replaced by one that
  // keeps it out.
  const skipped = [...new Set(s.zygotes.flatMap((z: { skipped: string[] }) => z.skipped))].sort();
  t.same(skipped, ['pnw_breaks_fork', 'pnw_noisy_import', 'pnw_thread_import', 'pnw_warning_import'], 'status lists them as kept out');
  t.match(s.zygotes[0].unfit, { pnw_noisy_import: /writes to stdout/, pnw_breaks_fork: /unable to fork working children/ }, 'with the reasons');
  t.match((await pynwheel(sb, ['status'])).stdout.toString(), /kept out of the zygote: .*pnw_breaks_fork \(it leaves the zygote unable to fork working children\)/);
  const text = log();
  t.match(text, /not keeping pnw_noisy_import .*: it writes to stdout or stderr when imported; replacing the zygote/);
  t.match(text, /not keeping pnw_warning_import .*emits warnings when imported/);
  t.match(text, /not keeping pnw_thread_import .*starts Python threads when imported/);
  t.match(text, /not keeping pnw_breaks_fork .*leaves the zygote unable to fork working children/);
});

t.test('daemon.log records starts, zygote ends with reasons, and stops', async (t) => {
  const zygotePid = (await status()).zygotes[0].pid;
  process.kill(zygotePid, 'SIGKILL');
  write(sb, 'plain.py', 'print(1)\n');
  for (let i = 0; i < 50 && !/ended: killed by SIGKILL/.test(log()); i++) await sleep(20);
  await pynwheel(sb, ['run', 'plain.py']);
  const text = log();
  t.match(text, /daemon \S+ started on /, 'start');
  t.match(text, /starting a zygote for /, 'zygote start');
  t.match(text, new RegExp(`zygote ${zygotePid} for .* ended: killed by SIGKILL`), 'zygote end with its reason');
  await pynwheel(sb, ['stop']);
  t.match(log(), /daemon stopping: asked to stop by a client/, 'stop with its reason');
});

t.test('daemon.log stays bounded', async (t) => {
  write(sb, 'plain.py', 'print(1)\n');
  await pynwheel(sb, ['run', 'plain.py']);
  const file = path.join(sb.runtimeDir, 'daemon.log');
  fs.appendFileSync(file, 'x'.repeat(1023) + '\n'.repeat(1), { encoding: 'utf8' });
  fs.appendFileSync(file, `${'filler line\n'.repeat(200_000)}`);
  t.ok(fs.statSync(file).size > 2_000_000, 'grown past the limit');
  let size = fs.statSync(file).size;
  for (let i = 0; i < 100 && size > 1024 * 1024; i++) {
    await sleep(50);
    size = fs.statSync(file).size;
  }
  t.ok(size <= 1024 * 1024, `back under 1 MiB (${size} bytes)`);
  t.ok(fs.existsSync(`${file}.1`), 'the old part kept as daemon.log.1');
});

t.test('pynwheel doctor explains problems in plain words', async (t) => {
  const healthy = await pynwheel(sb, ['doctor']);
  t.equal(healthy.status, 0, 'healthy: status 0');
  t.match(healthy.stdout.toString(), /ok +runtime directory .* is private to you/);
  const venvPython = path.join(sb.venv, 'bin', 'python3').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  t.match(healthy.stdout.toString(), new RegExp(`ok +interpreter ${venvPython} \\(Python 3\\.\\d+\\.\\d+, a venv\\)`));
  t.match(healthy.stdout.toString(), /ok +daemon pid \d+ answers/);

  fs.chmodSync(sb.runtimeDir, 0o755);
  try {
    const open = await pynwheel(sb, ['doctor']);
    t.equal(open.status, 1, 'a problem: status 1');
    t.match(open.stdout.toString(), /PROBLEM the runtime directory .* is open to other users \(mode 755\)\. Run `chmod 700/);
  } finally {
    fs.chmodSync(sb.runtimeDir, 0o700);
  }
  const noPython = await pynwheel(sb, ['doctor', '--python', '/no/python/here']);
  t.equal(noPython.status, 1);
  t.match(noPython.stdout.toString(), /PROBLEM the interpreter "\/no\/python\/here" was not found/);
  t.match(noPython.stdout.toString(), /fix: /);

  await pynwheel(sb, ['stop']);
  const stopped = await pynwheel(sb, ['doctor']);
  t.match(stopped.stdout.toString(), /no daemon is running; the next run starts one|left .* behind; the next run replaces it/);
  t.equal(stopped.status, 0);
});

t.test('what C code writes on fds 1 and 2 at import reaches each run, as under python', async (t) => {
  // ctypes writes straight to the fds, as tensorflow's C++ logging does when imported.
  plant('pnw_native_chatter', [
    'import ctypes, os',
    'libc = ctypes.CDLL(None)',
    'os.write(2, b"native warning at import\\n")',
    'libc.printf(b"native stdout at import\\n")',
    'VALUE = 5',
  ].join('\n') + '\n');
  write(sb, 'chatter.py', 'import pnw_native_chatter\nprint("value", pnw_native_chatter.VALUE)\n');
  for (let i = 0; i < 3; i++) {
    const { py, pnw } = await both(sb, ['chatter.py']);
    t.same(view(pnw), view(py), `run ${i + 1}: the same bytes on stdout and stderr`);
  }
  const s = await status();
  t.ok(s.zygotes.some((z: { preloaded: string[] }) => z.preloaded.includes('pnw_native_chatter')), 'and the module is kept in the zygote');
});
