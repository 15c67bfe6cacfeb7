#!/usr/bin/env node
// pynwheel/python-shell against the python-shell package (issue 20), for a trivial and a numpy
// script, interleaved call by call (the order of the two alternates each round):
//   - PythonShell.run(script): a whole run, promise to its messages;
//   - an interactive round trip: one long-lived shell each, send() a JSON message and wait for
//     the script's 'message' answer (the numpy script computes on each message).
// Prints medians per call (and p10, p90), saves bench/results/python-shell.json.
//
// Usage: node bench/python-shell.js [--runs N] [--trips N]   (default 500 runs, 5000 round trips
//   a contender and script). The Python environment: as bench/api.js ($PYNWHEEL_BENCH_PYTHON,
//   else .venv-bench-api, given numpy on first use).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PythonShell: TheirShell } = require('python-shell');
const { benchPython } = require('./python-env');
const { printTable } = require('./table');
const { PythonShell: OurShell } = require('../dist/python-shell/index.js');

const ROOT = path.resolve(__dirname, '..');
const NODE_CLI = path.join(ROOT, 'bin', 'pynwheel.js');
const argv = process.argv.slice(2);
const flag = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const RUNS = flag('--runs', 500);
const TRIPS = flag('--trips', 5000);
const WARMUP = 20;

const SCRIPTS = {
  trivial: {
    run: 'print("hello")\n',
    talk: 'import sys, json\nfor line in sys.stdin:\n    print(json.dumps({"echo": json.loads(line)}), flush=True)\n',
    answer: (n) => ({ echo: n }),
  },
  numpy: {
    run: 'import numpy as np\na = np.arange(1000, dtype=np.float64)\nprint(float(a.sum()))\n',
    talk: 'import sys, json\nimport numpy as np\nfor line in sys.stdin:\n    n = json.loads(line)\n    print(json.dumps({"sum": float(np.arange(n % 100, dtype=np.float64).sum())}), flush=True)\n',
    answer: (n) => ({ sum: ((n % 100) * ((n % 100) - 1)) / 2 }),
  },
};

function elapsedMs(started) {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (v) => +v.toFixed(3);
  return { median: round(at(0.5)), p10: round(at(0.1)), p90: round(at(0.9)), min: round(sorted[0]), max: round(sorted[sorted.length - 1]), n: times.length };
}

/** A live shell in mode json, and a function that sends one message and resolves its answer. */
function conversation(Shell, script, options) {
  const shell = new Shell(script, { ...options, mode: 'json' });
  let waiting = null;
  shell.on('message', (message) => { const w = waiting; waiting = null; w?.(message); });
  shell.on('stderr', (line) => process.stderr.write(`${line}\n`));
  return {
    ask: (message) => new Promise((resolve) => { waiting = resolve; shell.send(message); }),
    close: () => new Promise((resolve, reject) => shell.end((err) => (err ? reject(err) : resolve()))),
  };
}

/** Each contender `calls` times, interleaved (alternating which goes first), wall time of each. */
async function interleaved(contenders, calls) {
  const times = Object.fromEntries(Object.keys(contenders).map((c) => [c, []]));
  const entries = Object.entries(contenders);
  for (let i = 0; i < WARMUP; i++) for (const [, call] of entries) await call(i);
  for (let i = 0; i < calls; i++) {
    for (const [name, call] of i % 2 ? [...entries].reverse() : entries) {
      const started = process.hrtime.bigint();
      await call(i);
      times[name].push(elapsedMs(started));
    }
    if (i % Math.max(1, Math.floor(calls / 10)) === 0) process.stderr.write('.');
  }
  return Object.fromEntries(Object.entries(times).map(([c, t]) => [c, stats(t)]));
}

async function main() {
  const python = benchPython('api', { numpy: 'numpy' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-pyshell-'));
  const runtimeDir = path.join(dir, 'rt');
  fs.mkdirSync(runtimeDir, { mode: 0o700 });
  const env = {
    PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8',
    PYNWHEEL_RUNTIME_DIR: runtimeDir,
    PYNWHEEL_IDLE: '600', // should this bench be killed, its daemon still leaves
  };
  const options = { pythonPath: python, env, cwd: dir };
  const cleanup = () => {
    spawnSync(process.execPath, [NODE_CLI, 'stop'], { env, stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { cleanup(); process.exit(130); });
  const result = {
    name: 'python-shell', date: new Date().toISOString(), runs: RUNS, trips: TRIPS, unit: 'ms', python,
    machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}`, loadavg: os.loadavg() },
    rows: {},
  };
  try {
    for (const [name, script] of Object.entries(SCRIPTS)) {
      const runFile = path.join(dir, `bench_${name}_run.py`); // not numpy.py: it would shadow numpy
      const talkFile = path.join(dir, `bench_${name}_talk.py`);
      fs.writeFileSync(runFile, script.run);
      fs.writeFileSync(talkFile, script.talk);
      const expected = await TheirShell.run(runFile, options);
      const checkedRun = (Shell) => async () => {
        const lines = await Shell.run(runFile, options);
        if (JSON.stringify(lines) !== JSON.stringify(expected)) throw new Error(`printed ${JSON.stringify(lines)}`);
      };
      process.stderr.write(`${name} PythonShell.run: ${RUNS} calls each `);
      const runRow = await interleaved({ 'pynwheel/python-shell': checkedRun(OurShell), 'python-shell': checkedRun(TheirShell) }, RUNS);
      process.stderr.write('\n');
      const ours = conversation(OurShell, talkFile, options);
      const theirs = conversation(TheirShell, talkFile, options);
      const checkedTrip = (talk) => async (n) => {
        const answer = await talk.ask(n);
        if (JSON.stringify(answer) !== JSON.stringify(script.answer(n))) throw new Error(`answered ${JSON.stringify(answer)} to ${n}`);
      };
      process.stderr.write(`${name} send/message round trip: ${TRIPS} each `);
      const tripRow = await interleaved({ 'pynwheel/python-shell': checkedTrip(ours), 'python-shell': checkedTrip(theirs) }, TRIPS);
      process.stderr.write('\n');
      await Promise.all([ours.close(), theirs.close()]);
      result.rows[`${name}: PythonShell.run`] = runRow;
      result.rows[`${name}: send/message round trip`] = tripRow;
    }
  } finally {
    cleanup();
  }
  console.log(`\nmedian ms per call (p10-p90), interleaved; ${RUNS} runs, ${TRIPS} round trips each; ${python}; load ${result.machine.loadavg.map((l) => l.toFixed(1)).join(' ')}`);
  const contenders = ['pynwheel/python-shell', 'python-shell'];
  printTable(['', ...contenders, 'python-shell / ours'], Object.entries(result.rows).map(([row, r]) => [
    row, ...contenders.map((c) => `${r[c].median.toFixed(3)} (${r[c].p10.toFixed(2)}-${r[c].p90.toFixed(2)})`),
    (r['python-shell'].median / r['pynwheel/python-shell'].median).toFixed(2),
  ]));
  const out = path.join(__dirname, 'results', 'python-shell.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`saved ${path.relative(ROOT, out)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
