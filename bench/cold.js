#!/usr/bin/env node
// First runs against python (issue 19). Two tables, each interleaved with python in one run,
// medians (wall time of the whole command, spawn to exit, timed by bench/timer.c as
// bench/startup.js times its rows):
//   - cold: the first run of a script with the daemon stopped (a fresh runtime directory each
//     time), through the native runner, against `python3 FILE`. Before every sample, python's
//     and pynwheel's alike, the daemon is stopped and its zygotes are gone: a sample starts
//     quiet. A pynwheel sample's run is python's own, with the daemon it started warming the
//     zygote for the next run beside it, on the same CPUs: that is counted, as a user meets it.
//   - new script: the first run of a script never seen before whose imports a warm zygote has
//     (its family's zygote warmed by `pynwheel warm --packages`), against python and against
//     that script's second (warm) run.
// Prints the tables and the targets (python + 5 ms; 5 ms), saves bench/results/<name>.json.
//
// Usage: node bench/cold.js [--quick] [--runs N] [--only cold|new] [--baseline DIR]   (npm run bench runs it after startup.js)
// --baseline DIR: the new-script table also times another checkout's build (DIR: its root, built),
// with a daemon and runtime directory of its own, each sample beside this checkout's (A/B, the
// order switched each round).
// The Python environment: as bench/startup.js ($PYNWHEEL_BENCH_PYTHON, else .venv-bench-pools).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');
const { printTable } = require('./table');

const ROOT = path.resolve(__dirname, '..');
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');
const NODE_CLI = path.join(ROOT, 'bin', 'pynwheel.js');
const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const runsFlag = argv.indexOf('--runs');
const RUNS = runsFlag >= 0 ? Number(argv[runsFlag + 1]) : QUICK ? 3 : 9;
const HEAVY_RUNS = QUICK ? 2 : Math.min(RUNS, 5);
const onlyFlag = argv.indexOf('--only');
const ONLY = onlyFlag >= 0 ? argv[onlyFlag + 1] : null; // 'cold' or 'new': one table
const baselineFlag = argv.indexOf('--baseline');
const BASELINE = baselineFlag >= 0 ? path.resolve(argv[baselineFlag + 1]) : null;
const NAME = (QUICK ? 'cold-quick' : 'cold') + (ONLY ? `-${ONLY}` : '') + (BASELINE ? '-ab' : '');
/** The targets: a cold run within python's time plus this; a new script's run within this. */
const COLD_SLACK_MS = 5;
const NEW_SCRIPT_MS = 5;

// bench/startup.js's modules.
const SCRIPTS = [
  { label: 'os', imports: ['os'] },
  { label: 'sys', imports: ['sys'] },
  { label: 'numpy', imports: ['numpy'] },
  { label: 'sympy', imports: ['sympy'] },
  { label: 'scipy', imports: ['scipy'] },
  { label: 'scipy.stats', imports: ['scipy.stats'], pip: 'scipy' },
  { label: 'pandas', imports: ['pandas'] },
  { label: 'matplotlib', imports: ['matplotlib'] },
  { label: 'matplotlib.pyplot', imports: ['matplotlib.pyplot'], pip: 'matplotlib' },
  { label: 'torch', imports: ['torch'], heavy: true },
  { label: 'tensorflow', imports: ['tensorflow'], pip: 'tensorflow-cpu', heavy: true },
  { label: 'chempy', imports: ['chempy'] },
  { label: 'qcengine', imports: ['qcengine'] },
  { label: '-m pytest --version', module: 'pytest', args: ['--version'], imports: ['pytest'] },
  { label: '-c pass', code: 'pass', imports: [] },
];
const NEW_SCRIPT_FAMILIES = [['os'], ['numpy'], ['pandas'], ['torch']];

function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const round = (v) => +v.toFixed(1);
  return { median: round(sorted[sorted.length >> 1]), min: round(sorted[0]), max: round(sorted[sorted.length - 1]), n: times.length };
}

let TIMER = null;
let TIMER_STDERR = null;

/** Wall ms of one run of `command`, by the timer (fork+exec from a small process), else from Node. */
function once(command, env) {
  if (TIMER) {
    const r = spawnSync(TIMER, ['--stderr', TIMER_STDERR, 'rows', '0', '1', ...command], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${command.join(' ')}: ${r.stderr.trim()}: ${fs.existsSync(TIMER_STDERR) ? fs.readFileSync(TIMER_STDERR, 'utf8') : ''}`);
    return Number(r.stdout.trim());
  }
  const started = process.hrtime.bigint();
  const r = spawnSync(command[0], command.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${command.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Processes whose command line names the runtime directory (its daemon's zygotes and spares). */
function processesOf(runtimeDir) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(runtimeDir)) found.push(Number(entry));
    } catch { /* gone */ }
  }
  return found;
}

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The daemon stopped and every zygote of it gone; the runtime directory emptied (a new user's). */
function quiet(runtimeDir, env) {
  const pidFile = path.join(runtimeDir, 'daemon.pid');
  const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
  spawnSync(process.execPath, [NODE_CLI, 'stop'], { env, stdio: 'ignore' });
  const alive = (p) => { try { process.kill(p, 0); return true; } catch { return false; } };
  for (let i = 0; i < 400 && ((pid && alive(pid)) || processesOf(runtimeDir).length); i++) sleepMs(25);
  for (const name of fs.readdirSync(runtimeDir)) {
    if (name !== 'daemon.log' && name !== 'pycache') fs.rmSync(path.join(runtimeDir, name), { recursive: true, force: true });
  }
  sleepMs(100); // the CPUs settle (page cache stays warm for both columns alike)
}

function commandFor(s, client, file) {
  const target = s.code !== undefined ? ['-c', s.code] : s.module ? ['-m', s.module, ...(s.args ?? [])] : [file];
  return client === 'python' ? [PYTHON, ...target] : [RUNNER, 'run', ...target];
}

let PYTHON = null;

function main() {
  const packages = {};
  for (const s of SCRIPTS) for (const m of s.imports) if (!['os', 'sys'].includes(m)) packages[m.split('.')[0]] = s.pip ?? m.split('.')[0];
  PYTHON = benchPython('pools', packages);
  if (!fs.existsSync(RUNNER)) throw new Error('build/Release/pynwheel-runner is not built');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-cold-'));
  const runtimeDir = path.join(dir, 'rt');
  fs.mkdirSync(runtimeDir, { mode: 0o700 });
  const env = {
    PATH: `${path.dirname(PYTHON)}:${process.env.PATH}`, HOME: process.env.HOME, LANG: 'C.UTF-8',
    PYNWHEEL_RUNTIME_DIR: runtimeDir, PYNWHEEL_PYTHON: PYTHON, TF_CPP_MIN_LOG_LEVEL: '3', MPLBACKEND: 'Agg', PYNWHEEL_IDLE: '600',
  };
  // The baseline's own daemon, runner and runtime directory (--baseline).
  const base = BASELINE && {
    runner: path.join(BASELINE, 'build', 'Release', 'pynwheel-runner'), cli: path.join(BASELINE, 'bin', 'pynwheel.js'),
    env: { ...env, PYNWHEEL_RUNTIME_DIR: path.join(dir, 'rt-baseline') },
  };
  if (base) fs.mkdirSync(base.env.PYNWHEEL_RUNTIME_DIR, { mode: 0o700 });
  const cleanup = () => {
    spawnSync(process.execPath, [NODE_CLI, 'stop'], { env, stdio: 'ignore' });
    if (base) spawnSync(process.execPath, [base.cli, 'stop'], { env: base.env, stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { cleanup(); process.exit(130); });
  const tool = path.join(dir, 'timer');
  if (spawnSync(process.env.CC || 'cc', ['-O2', '-o', tool, path.join(__dirname, 'timer.c')], { stdio: 'inherit' }).status === 0) {
    TIMER = tool;
    TIMER_STDERR = path.join(dir, 'timed-stderr');
  } else {
    console.warn('bench: no C compiler: commands are timed from Node, which adds its fork to both columns');
  }
  const result = {
    name: NAME, date: new Date().toISOString(), quick: QUICK, runs: RUNS, heavyRuns: HEAVY_RUNS, unit: 'ms',
    timer: TIMER ? 'fork+exec from bench/timer.c' : 'spawnSync from Node',
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, kernel: os.release(), node: process.version },
    python: spawnSync(PYTHON, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim(),
    cold: [], newScript: [], load: { start: os.loadavg().map((l) => +l.toFixed(2)) },
  };
  try {
    const available = SCRIPTS.filter((s) => spawnSync(PYTHON, ['-c', s.imports.map((m) => `import ${m}`).join('\n') || 'pass']).status === 0);
    for (const s of ONLY === 'new' ? [] : available) {
      const file = path.join(dir, `cold_${s.label.replace(/\W+/g, '_')}.py`);
      fs.writeFileSync(file, s.imports.map((m) => `import ${m}\n`).join(''));
      const n = s.heavy ? HEAVY_RUNS : RUNS;
      const times = { python: [], pynwheel: [] };
      quiet(runtimeDir, env);
      once(commandFor(s, 'python', file), env); // the page cache warm for both
      for (let i = 0; i < n; i++) {
        // Alternating which goes first, each from a quiet machine.
        for (const client of i % 2 ? ['pynwheel', 'python'] : ['python', 'pynwheel']) {
          quiet(runtimeDir, env);
          times[client].push(once(commandFor(s, client, file), env));
        }
      }
      const py = summary(times.python);
      const pnw = summary(times.pynwheel);
      result.cold.push({ label: s.label, python: py, pynwheel: pnw, overMs: +(pnw.median - py.median).toFixed(1), met: pnw.median <= py.median + COLD_SLACK_MS });
      console.error(`cold ${s.label}: python ${py.median} ms, first run ${pnw.median} ms`);
    }
    quiet(runtimeDir, env);
    for (const imports of ONLY === 'cold' ? [] : NEW_SCRIPT_FAMILIES) {
      if (spawnSync(PYTHON, ['-c', imports.map((m) => `import ${m}`).join('\n')]).status !== 0) continue;
      const label = imports.join(', ');
      const warmed = spawnSync(process.execPath, [NODE_CLI, 'warm', '--packages', imports.join(',')], { env, encoding: 'utf8' });
      if (warmed.status !== 0) throw new Error(`pynwheel warm --packages ${imports}: ${warmed.stderr}`);
      if (base) {
        const baseWarmed = spawnSync(process.execPath, [base.cli, 'warm', '--packages', imports.join(',')], { env: base.env, encoding: 'utf8' });
        if (baseWarmed.status !== 0) throw new Error(`baseline: pynwheel warm --packages ${imports}: ${baseWarmed.stderr}`);
      }
      const heavy = imports.includes('torch');
      const n = heavy ? HEAVY_RUNS * 2 : RUNS * 2;
      const times = { python: [], first: [], warm: [], baseFirst: [], baseWarm: [] };
      for (let i = 0; i < n; i++) {
        const file = path.join(dir, `new_${imports.join('_')}_${i}.py`);
        fs.writeFileSync(file, imports.map((m) => `import ${m}\n`).join('') + `x = ${i}\n`);
        times.python.push(once([PYTHON, file], env));
        const ours = () => {
          times.first.push(once([RUNNER, 'run', file], env)); // never seen before
          times.warm.push(once([RUNNER, 'run', file], env)); // its second run
        };
        const baseline = () => {
          // A file of its own, as new to the baseline's daemon as this one's to ours.
          const baseFile = file.replace(/\.py$/, '_b.py');
          fs.copyFileSync(file, baseFile);
          times.baseFirst.push(once([base.runner, 'run', baseFile], base.env));
          times.baseWarm.push(once([base.runner, 'run', baseFile], base.env));
        };
        for (const step of !base ? [ours] : i % 2 ? [baseline, ours] : [ours, baseline]) {
          step();
          sleepMs(20);
        }
      }
      const row = { label, python: summary(times.python), first: summary(times.first), warm: summary(times.warm) };
      if (base) Object.assign(row, { baselineFirst: summary(times.baseFirst), baselineWarm: summary(times.baseWarm) });
      row.met = row.first.median <= NEW_SCRIPT_MS;
      result.newScript.push(row);
      console.error(`new script ${label}: first ${row.first.median} ms, warm ${row.warm.median} ms, python ${row.python.median} ms`);
    }
  } finally {
    cleanup();
  }
  console.log(`\nFirst run with the daemon stopped (wall ms, ${result.timer}; ${RUNS} interleaved samples each, ${HEAVY_RUNS} for torch, tensorflow; python ${result.python}, ${result.machine.cpus} cpus)`);
  printTable(['script', 'python med', 'min', 'max', 'first run med', 'min', 'max', 'over python', `target +${COLD_SLACK_MS} ms`],
    result.cold.map((r) => [r.label, r.python.median, r.python.min, r.python.max, r.pynwheel.median, r.pynwheel.min, r.pynwheel.max,
      `${r.overMs >= 0 ? '+' : ''}${r.overMs}`, r.met ? 'met' : 'NOT met']));
  console.log(`\nFirst run of a new script whose imports a warm zygote has (wall ms; ${RUNS * 2} samples, ${HEAVY_RUNS * 2} for torch)`);
  printTable(['imports', 'python med', 'new script med', 'min', 'max', 'its 2nd run med', `target ${NEW_SCRIPT_MS} ms`,
    ...(BASELINE ? ['baseline new med', 'min', 'baseline 2nd med'] : [])],
    result.newScript.map((r) => [r.label, r.python.median, r.first.median, r.first.min, r.first.max, r.warm.median, r.met ? 'met' : 'NOT met',
      ...(BASELINE ? [r.baselineFirst.median, r.baselineFirst.min, r.baselineWarm.median] : [])]));
  if (BASELINE) console.log(`(baseline: ${BASELINE})`);
  console.log(`load average (1, 5, 15 min) at the start: ${result.load.start.join(' ')}; at the end: ${os.loadavg().map((l) => +l.toFixed(2)).join(' ')}`);
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', `${NAME}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

main();
