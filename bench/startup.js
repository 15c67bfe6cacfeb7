#!/usr/bin/env node
// Start-up against python (issue 5). For each module: a script that only imports it, run N times
// with plain python and N times with pynwheel (the native runner, as an installed package's
// bin/pynwheel is), interleaved, after warm-up; wall time of the whole command, spawn to exit.
// Commands are started and timed by bench/timer.c, by fork and exec from a small process as a
// shell starts them (the spec timed its runs from a shell script): spawned from Node, each would
// first fork the whole Node process, a millisecond more in both columns (a row of the limits
// table shows it). Without a C compiler the bench times from Node, and says so.
// Prints median, min and max and the ratio against the issue's targets, saves
// bench/results/<name>.json and draws bench/results/<name>.svg.
//
// Also, in the same run, what each step costs:
//   - spawn+exit of /bin/true from the timer: the floor under every row (both columns pay it),
//     and the same from Node's spawnSync;
//   - sh -c 'exec /bin/true': what the bin/pynwheel shim adds (a /bin/sh that execs);
//   - bench/probe.c, a native client that connects to the daemon and exits, and one that also
//     sends a request the daemon refuses at once (a round trip through its event loop, no zygote);
//   - a frame carrying 3 fds, there and back over a socketpair (the addon's sendMsg/recvMsg);
//   - fork+wait of a python that has imported nothing / numpy and pandas / every module of the
//     table (a loop of os.fork, os._exit(0) in the child, waitpid; gc.freeze() first as the zygote
//     does): what a warm run cannot avoid, measured in a separate python, not in the zygote;
//   - python -c pass, node -e 0, and an empty script through the Node CLI: what a client written
//     in Node would pay;
//   - runs per second of a trivial script from two parallel loops of back-to-back runs, python
//     against pynwheel, on a fresh daemon first and again after every module was imported; and
//     the same loops against bench/fork-floor.py, a fork-per-run server that does only what any
//     run of an empty script must (take 3 fds and the environment, build stdio, run, flush,
//     exit): the ceiling of a design that forks a CPython per run, on this machine; and against
//     the same server whose children answer at once (a fork and an exit, nothing run).
//
// And a script started as `python3 FILE` with `pynwheel shims DIR` first on PATH, against python.
//
// Usage: npm run bench [-- --quick] [-- --runs N] [-- --against DIR]
//   --quick   5 runs a module (3 for torch and tensorflow), shorter loops; about a minute once
//             the venv exists; results go to startup-quick.{json,svg}.
//   --against DIR   another built checkout of pynwheel (an older commit, say): its runner is timed
//             in the same rounds as this one's (python, this, that, in turn), each with a daemon
//             of its own, and the table gains its medians and the ratio this/that; results go to
//             <name>-against.json, the committed results stay as they are.
// The Python environment: $PYNWHEEL_BENCH_PYTHON, else .venv-bench-pools at the repo root, made
// and filled by pip on first use (a module pip cannot install is listed as such).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');
const { printTable } = require('./table');
const { barChart } = require('./chart');

const ROOT = path.resolve(__dirname, '..');
const SHIM = path.join(ROOT, 'bin', 'pynwheel');
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');
const NODE_CLI = path.join(ROOT, 'bin', 'pynwheel.js');
// The pynwheel command as an installed package has it: scripts/install-runner.js copies the
// runner over bin/pynwheel. A git checkout keeps the sh shim in front of it: its cost is a row
// of the limits table.
const CLIENT = fs.existsSync(RUNNER) ? RUNNER : SHIM;

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const runsFlag = argv.indexOf('--runs');
const RUNS = runsFlag >= 0 ? Number(argv[runsFlag + 1]) : Number(argv.find((a) => /^\d+$/.test(a)) ?? (QUICK ? 5 : 21));
const HEAVY_RUNS = QUICK ? 3 : Math.min(RUNS, 9); // torch and tensorflow take seconds a run
const LIMIT_RUNS = QUICK ? 20 : 100;
const LOOP_SECONDS = QUICK ? 2 : 5;
const againstFlag = argv.indexOf('--against');
const AGAINST = againstFlag >= 0 ? path.resolve(argv[againstFlag + 1]) : null;
const AGAINST_CLIENT = AGAINST && path.join(AGAINST, 'build', 'Release', 'pynwheel-runner');
if (AGAINST && !fs.existsSync(AGAINST_CLIENT)) throw new Error(`--against: ${AGAINST_CLIENT} is not built`);
const NAME = (QUICK ? 'startup-quick' : 'startup') + (AGAINST ? '-against' : '');

// The spec's experiment (its ten modules) and more; pip names where they differ; the issue's
// targets for the median ratio pynwheel/python.
const SCRIPTS = [
  { label: 'os', imports: ['os'], target: 0.15 },
  { label: 'sys', imports: ['sys'], target: 0.15 },
  { label: 'numpy', imports: ['numpy'], target: 0.04 },
  { label: 'sympy', imports: ['sympy'], target: 0.01 },
  { label: 'scipy', imports: ['scipy'] },
  { label: 'scipy.stats', imports: ['scipy.stats'], pip: 'scipy', target: 0.004 },
  { label: 'pandas', imports: ['pandas'], target: 0.01 },
  { label: 'matplotlib', imports: ['matplotlib'] },
  { label: 'matplotlib.pyplot', imports: ['matplotlib.pyplot'], pip: 'matplotlib', target: 0.01 },
  { label: 'torch', imports: ['torch'], target: 0.004, heavy: true },
  { label: 'tensorflow', imports: ['tensorflow'], pip: 'tensorflow-cpu', target: 0.002, heavy: true },
  { label: 'chempy', imports: ['chempy'] },
  { label: 'qcengine', imports: ['qcengine'] },
  { label: '-m pytest --version', module: 'pytest', args: ['--version'], imports: ['pytest'] },
  // python's command line (issue 15): -c goes through the daemon (no lane), -u to a zygote of its own key.
  { label: '-c pass', code: 'pass', imports: [] },
  { label: '-u numpy script', options: ['-u'], imports: ['numpy'], body: 'import numpy\nnumpy.arange(10).sum()\n' },
];

function ms(started) {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/**
 * A command's leading NAME=VALUE words (as bench/timer.c takes them) added to `env`:
 * [command, args, env].
 */
function withSettings(command, args, env) {
  const words = [command, ...args];
  const settings = {};
  while (words.length > 1 && !words[0].startsWith('/') && words[0].includes('=')) {
    const [name, ...value] = words.shift().split('=');
    settings[name] = value.join('=');
  }
  return [words[0], words.slice(1), { ...env, ...settings }];
}

/** [command, args] of a command's words. */
const commandOf = (words) => [words[0], words.slice(1)];

/** Wall time of one command spawned from Node, spawn to exit, in ms; it must succeed. */
function timed(...commandArgsEnv) {
  const [command, args, env] = withSettings(...commandArgsEnv);
  const started = process.hrtime.bigint();
  const r = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = ms(started);
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return elapsed;
}

function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const round = (v) => +v.toFixed(v < 1 ? 3 : 1);
  return { median: round(sorted[sorted.length >> 1]), min: round(sorted[0]), max: round(sorted[sorted.length - 1]), n: times.length };
}

function medianOf(n, fn) {
  const times = [];
  for (let i = 0; i < n; i++) times.push(fn());
  return summary(times);
}

let TIMER = null; // bench/timer.c, compiled in main(); null: time from Node
let TIMER_STDERR = null;

/**
 * Interleaved wall times (ms) of `commands` ([command, ...args] each): `warmup` untimed rounds,
 * then `n` rounds of one run of each, in turn. Returns one array of times per command.
 */
function interleaved(commands, n, warmup, env) {
  if (!TIMER) return interleavedFromNode(commands, n, warmup, env);
  const args = ['--stderr', TIMER_STDERR, 'rows', String(warmup), String(n)];
  commands.forEach((command, k) => args.push(...(k ? ['---'] : []), ...command));
  const r = spawnSync(TIMER, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${r.stderr.trim()}: ${readIfThere(TIMER_STDERR)}`);
  return r.stdout.trim().split('\n').map((line) => line.split(' ').map(Number));
}

/** The same, each command spawned from Node (spawnSync). */
function interleavedFromNode(commands, n, warmup, env) {
  for (let i = 0; i < warmup; i++) for (const [c, ...a] of commands) timed(c, a, env);
  const times = commands.map(() => []);
  for (let i = 0; i < n; i++) commands.forEach(([c, ...a], k) => times[k].push(timed(c, a, env)));
  return times;
}

function readIfThere(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Medians of `n` runs of a command (after one warm-up). */
function spawnMedian(n, command, args, env) {
  return summary(interleaved([[command, ...args]], n, 1, env)[0]);
}

/** The same, each spawned from Node (spawnSync): what the timer spares both columns. */
function nodeSpawnMedian(n, command, args, env) {
  return summary(interleavedFromNode([[command, ...args]], n, 1, env)[0]);
}

/** fork+wait of a python that imported `modules` (see the header). */
function forkWait(python, modules, env, dir) {
  const script = path.join(dir, 'fork_wait.py');
  fs.writeFileSync(script, [
    'import gc, os, sys, time',
    'for name in sys.argv[2:]:',
    '    __import__(name)',
    'gc.freeze()',
    'times = []',
    'for _ in range(int(sys.argv[1])):',
    '    t = time.perf_counter()',
    '    pid = os.fork()',
    '    if pid == 0:',
    '        os._exit(0)',
    '    os.waitpid(pid, 0)',
    '    times.append((time.perf_counter() - t) * 1e3)',
    'times.sort()',
    'print(times[len(times) // 2], times[0], times[-1])',
  ].join('\n') + '\n');
  const r = spawnSync(python, [script, String(QUICK ? 20 : 50), ...modules], { env, encoding: 'utf8' });
  if (r.status !== 0) return null;
  const [median, min, max] = r.stdout.trim().split(' ').map(Number);
  return { median: +median.toFixed(3), min: +min.toFixed(3), max: +max.toFixed(3) };
}

/** A frame with 3 fds to the other end of a socketpair, and one back (in this process). */
function socketRoundTrip() {
  const native = require('../build/Release/pynwheel.node');
  const [a, b] = native.socketpair();
  const payload = Buffer.alloc(2048, 1); // about a run request's size
  try {
    return medianOf(LIMIT_RUNS * 5, () => {
      const started = process.hrtime.bigint();
      native.sendMsg(a, payload, [0, 1, 2]);
      const got = native.recvMsg(b, 65536, 4);
      got.fds.forEach((fd) => fs.closeSync(fd));
      native.sendMsg(b, payload.subarray(0, 40), []);
      native.recvMsg(a, 65536, 4);
      return ms(started);
    });
  } finally {
    fs.closeSync(a);
    fs.closeSync(b);
  }
}

/** Two loops of back-to-back runs for `seconds`: runs per second. */
async function throughput(...commandArgsEnvSeconds) {
  const seconds = commandArgsEnvSeconds.pop();
  const [command, args, env] = withSettings(...commandArgsEnvSeconds);
  if (TIMER) {
    const r = spawnSync(TIMER, ['--stderr', TIMER_STDERR, 'loop', String(seconds), '2', command, ...args], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`throughput loop: ${r.stderr.trim()}: ${readIfThere(TIMER_STDERR)}`);
    const [runs, elapsed] = r.stdout.trim().split(' ').map(Number);
    return +(runs / elapsed).toFixed(1);
  }
  const deadline = Date.now() + seconds * 1000;
  let runs = 0;
  const loop = async () => {
    while (Date.now() < deadline) {
      const code = await new Promise((resolve) => spawn(command, args, { env, stdio: 'ignore' }).on('close', resolve));
      if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed in the throughput loop`);
      runs++;
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all([loop(), loop()]);
  return +(runs / (ms(started) / 1000)).toFixed(1);
}

/** Runs/s of bench/fork-floor.py's server, from the same two loops (see the header). */
async function forkFloorThroughput(python, probe, dir, env, bare) {
  const socket = path.join(dir, bare ? 'bare.sock' : 'floor.sock');
  const server = spawn(python, [path.join(__dirname, 'fork-floor.py'), socket, ...(bare ? ['bare'] : [])], { env, stdio: 'ignore' });
  try {
    for (let i = 0; i < 200 && !fs.existsSync(socket); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    return await throughput(probe, ['floor', socket], env, LOOP_SECONDS);
  } catch (err) {
    console.warn(`bench: the fork-per-run floor${bare ? ' (bare)' : ''} failed: ${err.message}`);
    return null;
  } finally {
    server.kill('SIGKILL');
  }
}

/** bench/NAME.c compiled into `dir`; null without a C compiler. */
function compileTool(dir, name) {
  const tool = path.join(dir, name);
  const cc = spawnSync(process.env.CC || 'cc', ['-O2', '-o', tool, path.join(__dirname, `${name}.c`)], { stdio: 'inherit' });
  return cc.status === 0 ? tool : null;
}

function fmt(v) {
  return v === undefined || v === null ? '-' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

async function main() {
  const packages = {};
  for (const s of SCRIPTS) for (const m of s.imports) if (!['os', 'sys'].includes(m)) packages[m.split('.')[0]] = s.pip ?? m.split('.')[0];
  const python = benchPython('pools', packages);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-'));
  const runtimeDir = path.join(dir, 'rt');
  fs.mkdirSync(runtimeDir, { mode: 0o700 });
  const env = {
    PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8',
    PYNWHEEL_RUNTIME_DIR: runtimeDir, PYNWHEEL_PYTHON: python, TF_CPP_MIN_LOG_LEVEL: '3', MPLBACKEND: 'Agg',
    PYNWHEEL_IDLE: '600', // should this bench be killed, its daemon still leaves
  };
  // The other build's runner, timed in the same rounds, with a runtime directory of its own.
  const againstDir = path.join(dir, 'rt-against');
  if (AGAINST) fs.mkdirSync(againstDir, { mode: 0o700 });
  const against = (...args) => [`PYNWHEEL_RUNTIME_DIR=${againstDir}`, AGAINST_CLIENT, ...args];
  const cleanup = () => {
    spawnSync(process.execPath, [NODE_CLI, 'stop'], { env, stdio: 'ignore' });
    if (AGAINST) spawnSync(process.execPath, [path.join(AGAINST, 'bin', 'pynwheel.js'), 'stop'], { env: { ...env, PYNWHEEL_RUNTIME_DIR: againstDir }, stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  const result = {
    name: NAME, date: new Date().toISOString(), quick: QUICK, runs: RUNS, heavyRuns: HEAVY_RUNS, unit: 'ms',
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, kernel: os.release(), node: process.version },
    python: spawnSync(python, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim(),
    nativeRunner: fs.existsSync(RUNNER),
    against: AGAINST,
  };
  if (!result.nativeRunner) console.warn('bench: build/Release/pynwheel-runner is not built: the pynwheel column measures the Node CLI');
  try {
    const empty = path.join(dir, 'empty.py');
    fs.writeFileSync(empty, '');
    // Fresh daemon and zygote: the cost of each step.
    timed(CLIENT, ['run', empty], env); // starts the daemon
    if (AGAINST) timed(...commandOf(against('run', empty)), env);
    const probe = compileTool(dir, 'probe');
    TIMER = compileTool(dir, 'timer');
    TIMER_STDERR = path.join(dir, 'timed-stderr');
    result.timer = TIMER ? 'fork+exec from bench/timer.c' : 'spawnSync from Node (no C compiler)';
    if (!TIMER) console.warn('bench: no C compiler: commands are timed from Node, which adds its fork to both columns');
    const socket = path.join(runtimeDir, 'daemon.sock');
    const limits = {
      'spawn+exit of /bin/true (floor of every row)': spawnMedian(LIMIT_RUNS, '/bin/true', [], env),
      'the same, spawned from Node (spawnSync)': nodeSpawnMedian(LIMIT_RUNS, '/bin/true', [], env),
      'sh -c "exec /bin/true" (the bin shim\'s layer)': spawnMedian(LIMIT_RUNS, '/bin/sh', ['-c', 'exec /bin/true'], env),
      'native client: connect to the daemon, exit': probe ? spawnMedian(LIMIT_RUNS, probe, ['connect', socket], env) : null,
      'native client: a request the daemon refuses': probe ? spawnMedian(LIMIT_RUNS, probe, ['reject', socket], env) : null,
      'socket round trip, 3 fds (in process)': socketRoundTrip(),
      'fork+wait, python with no imports': forkWait(python, [], env, dir),
      'fork+wait, python with numpy+pandas': forkWait(python, ['numpy', 'pandas'], env, dir),
      'python -c pass': spawnMedian(LIMIT_RUNS, python, ['-c', 'pass'], env),
      'node -e 0': spawnMedian(QUICK ? 5 : 20, process.execPath, ['-e', '0'], env),
      'pynwheel run empty.py (fresh zygote)': spawnMedian(LIMIT_RUNS, CLIENT, ['run', empty], env),
      'the same through a checkout\'s sh shim (bin/pynwheel)': spawnMedian(LIMIT_RUNS, SHIM, ['run', empty], env),
      'the same through the Node CLI': spawnMedian(QUICK ? 5 : 20, process.execPath, [NODE_CLI, 'run', empty], env),
    };
    if (AGAINST) {
      // Both builds' empty runs in the same rounds: the row that shows a per-run regression.
      const [mine, theirs] = interleaved([[CLIENT, 'run', empty], against('run', empty)], LIMIT_RUNS, 3, env);
      limits['pynwheel run empty.py, this build (rounds shared with --against)'] = summary(mine);
      limits['the same, the --against build'] = summary(theirs);
    }
    const perSecond = {
      python: await throughput(python, [empty], env, LOOP_SECONDS),
      pynwheelFresh: await throughput(CLIENT, ['run', empty], env, LOOP_SECONDS),
      ...(AGAINST ? { againstFresh: await throughput(...commandOf(against('run', empty)), env, LOOP_SECONDS) } : {}),
      forkFloor: probe ? await forkFloorThroughput(python, probe, dir, env, false) : null,
      bareFork: probe ? await forkFloorThroughput(python, probe, dir, env, true) : null,
    };

    const rows = [];
    for (const entry of SCRIPTS) {
      if (entry.imports.length && spawnSync(python, ['-c', `import ${entry.imports.join(', ')}`], { env }).status !== 0) {
        rows.push({ imports: entry.label, note: 'not installable (pip found no distribution)' });
        continue;
      }
      const script = path.join(dir, `import_${entry.label.replace(/\W/g, '_')}.py`);
      fs.writeFileSync(script, entry.body ?? `import ${entry.imports.join(', ')}\n`);
      const pyArgs = [...(entry.options ?? []), ...(entry.module ? ['-m', entry.module, ...entry.args] : entry.code !== undefined ? ['-c', entry.code] : [script])];
      const pnwArgs = ['run', ...pyArgs];
      timed(python, pyArgs, env); // warm-up: the page cache for python
      for (let i = 0; i < 3; i++) timed(CLIENT, pnwArgs, env); // and the zygote's imports
      if (AGAINST) for (let i = 0; i < 3; i++) timed(...commandOf(against(...pnwArgs)), env);
      const commands = [[python, ...pyArgs], [CLIENT, ...pnwArgs], ...(AGAINST ? [against(...pnwArgs)] : [])];
      const [py, pnw, other] = interleaved(commands, entry.heavy ? HEAVY_RUNS : RUNS, 0, env);
      const p = summary(py);
      const q = summary(pnw);
      const ratio = +(q.median / p.median).toFixed(4);
      const o = other ? summary(other) : undefined;
      rows.push({ imports: entry.label, python: p, pynwheel: q, ratio, target: entry.target ?? null, met: entry.target ? ratio <= entry.target : null,
        ...(o ? { against: o, vsAgainst: +(q.median / o.median).toFixed(3) } : {}) });
      process.stderr.write(`bench: ${entry.label}: python ${p.median} ms, pynwheel ${q.median} ms${o ? `, --against ${o.median} ms` : ''}\n`);
    }
    // A script started as `python3 FILE` by a program, with `pynwheel shims` first on PATH (issue
    // 15): the masquerading runner finds the next python3 (the bench's interpreter) and serves it.
    {
      const shims = path.join(dir, 'shims');
      spawnSync(process.execPath, [NODE_CLI, 'shims', shims], { env, stdio: 'ignore' });
      const shimPath = `PATH=${shims}:${path.dirname(python)}:${process.env.PATH}`;
      const script = path.join(dir, 'import_os.py');
      const shimmed = [shimPath, path.join(shims, 'python3'), script];
      for (let i = 0; i < 3; i++) timed(...commandOf(shimmed), env);
      const [py, pnw] = interleaved([[python, script], shimmed], RUNS, 1, env);
      const p = summary(py);
      const q = summary(pnw);
      rows.push({ imports: 'os, as python3 through the shims', python: p, pynwheel: q, ratio: +(q.median / p.median).toFixed(4), target: null, met: null });
      process.stderr.write(`bench: python3 through the shims: python ${p.median} ms, pynwheel ${q.median} ms\n`);
    }
    const everything = rows.filter((r) => r.python && !r.imports.startsWith('-') && !r.imports.includes(' ')).map((r) => r.imports);
    limits['fork+wait, python with every module above'] = forkWait(python, everything, env, dir);
    limits['pynwheel run empty.py (after every module)'] = spawnMedian(QUICK ? 10 : 30, CLIENT, ['run', empty], env);
    perSecond.pynwheelAfter = await throughput(CLIENT, ['run', empty], env, LOOP_SECONDS);
    if (AGAINST) perSecond.againstAfter = await throughput(...commandOf(against('run', empty)), env, LOOP_SECONDS);
    Object.assign(result, { rows, limits, throughput: perSecond });

    console.log(`\nStart-up, wall ms (spawn to exit; ${result.timer}), ${RUNS} interleaved runs each (${HEAVY_RUNS} for torch, tensorflow), python ${result.python}, ${result.machine.cpus} cpus`);
    printTable(['script', 'python med', 'min', 'max', 'pynwheel med', 'min', 'max', 'ratio', 'target'],
      rows.map((r) => (r.python
        ? [r.imports, fmt(r.python.median), fmt(r.python.min), fmt(r.python.max), fmt(r.pynwheel.median), fmt(r.pynwheel.min), fmt(r.pynwheel.max),
          r.ratio.toFixed(4), r.target ? `${r.target} ${r.met ? 'met' : 'MISSED'}` : '']
        : [r.imports, r.note, '', '', '', '', '', '', ''])));
    if (AGAINST) {
      console.log(`\nThis build against ${AGAINST} (the same rounds), median ms:`);
      printTable(['script', 'this', '--against', 'this/that', 'difference'], rows.filter((r) => r.against).map((r) => [
        r.imports, fmt(r.pynwheel.median), fmt(r.against.median), r.vsAgainst.toFixed(3), (r.pynwheel.median - r.against.median).toFixed(2)]));
      console.log(`runs/s from two loops: this ${perSecond.pynwheelFresh} fresh, ${perSecond.pynwheelAfter} after every module; ` +
        `--against ${perSecond.againstFresh} fresh, ${perSecond.againstAfter} after every module`);
    }
    console.log('\nWhat each step costs (ms):');
    printTable(['step', 'median', 'min', 'max'], Object.entries(limits).map(([k, v]) => [k, fmt(v?.median), fmt(v?.min), fmt(v?.max)]));
    console.log(`\nTwo parallel loops of back-to-back runs of an empty script, runs/s: python ${perSecond.python}; ` +
      `pynwheel ${perSecond.pynwheelFresh} on a fresh zygote (x${(perSecond.pynwheelFresh / perSecond.python).toFixed(2)}), ` +
      `${perSecond.pynwheelAfter} after every module (x${(perSecond.pynwheelAfter / perSecond.python).toFixed(2)}); target x5.\n` +
      `A fork-per-run server that does only what a run must (bench/fork-floor.py): ${perSecond.forkFloor ?? '-'} runs/s` +
      (perSecond.forkFloor ? ` (x${(perSecond.forkFloor / perSecond.python).toFixed(2)}): the ceiling of forking a CPython per run here` : '') +
      `; its children answering at once (a fork and an exit): ${perSecond.bareFork ?? '-'} runs/s` +
      (perSecond.bareFork ? ` (x${(perSecond.bareFork / perSecond.python).toFixed(2)})` : ''));

    const results = path.join(__dirname, 'results');
    fs.mkdirSync(results, { recursive: true });
    fs.writeFileSync(path.join(results, `${NAME}.json`), JSON.stringify(result, null, 2) + '\n');
    const chartRows = rows.filter((r) => r.python).map((r) => ({ label: r.imports, python: r.python.median, pynwheel: r.pynwheel.median, target: r.target }));
    const notes = [
      `python ${result.python}, ${result.machine.cpus} cpus, medians of ${RUNS} (${HEAVY_RUNS} for torch, tensorflow); ` +
        `not installable: ${rows.filter((r) => !r.python).map((r) => r.imports).join(', ') || 'none'}`,
      `empty script: python -c pass ${fmt(limits['python -c pass'].median)} ms, pynwheel ${fmt(limits['pynwheel run empty.py (fresh zygote)'].median)} ms fresh, ` +
        `${fmt(limits['pynwheel run empty.py (after every module)'].median)} ms after every module; node -e 0 ${fmt(limits['node -e 0'].median)} ms`,
      `runs/s from two loops: python ${perSecond.python}, pynwheel ${perSecond.pynwheelFresh} fresh, ${perSecond.pynwheelAfter} after every module; ` +
        `fork-per-run floor ${perSecond.forkFloor ?? '-'} (bare fork ${perSecond.bareFork ?? '-'})`,
    ];
    if (!AGAINST) fs.writeFileSync(path.join(results, `${NAME}.svg`), barChart(chartRows, 'Script start-up: python against a warm pynwheel run (median wall time, log scale)', notes));
    console.log(`\nSaved bench/results/${NAME}.json${AGAINST ? '' : ` and bench/results/${NAME}.svg`}`);
  } finally {
    cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
