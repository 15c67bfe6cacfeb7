#!/usr/bin/env node
// The Node API against what a Node program would use otherwise (issue 6): N sequential calls of
// a trivial script and of a numpy script, each with
//   - pynwheel's run() (output captured, as the others capture it),
//   - child_process.spawn of the interpreter, stdout and stderr collected, awaited to 'close',
//   - python-shell's PythonShell.run (a devDependency, for this bench only),
// interleaved call by call after a warm-up; wall time of each call, promise to settlement.
// Also the core path alone: lib/client/run-client.ts's runThroughDaemon with /dev/null as stdio (no pipes,
// no API), what run() is built on and cannot be faster than.
// Prints medians per call (and p10, p90), saves bench/results/api.json.
//
// Usage: npm run bench:api [-- --runs N] [-- --against DIR]   (default 1000 calls a contender and script)
//   --against DIR   another built checkout of pynwheel (an older commit, say): its run() is one
//             more contender, in the same rounds, with a daemon of its own; results go to
//             api-against.json, the committed results stay as they are.
// The Python environment: $PYNWHEEL_BENCH_PYTHON, else .venv-bench-api at the repo root, made
// and given numpy by pip on first use.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { PythonShell } = require('python-shell');
const { benchArgs, benchSandbox, elapsedMs, stats, machine, saveResult } = require('./api-common');
const { benchPython } = require('./python-env');
const { printTable } = require('./table');
const { run } = require('../dist/index.js');
const { runThroughDaemon } = require('../dist/client/run-client.js');
const { resolveInterpreter } = require('../dist/client/interpreter.js');

const { runs: RUNS, against: AGAINST, againstApi } = benchArgs(1000);
const WARMUP = Math.min(20, RUNS);
const againstRun = againstApi ? againstApi.run : null;
const TARGET_TRIVIAL_MS = 3;

const SCRIPTS = {
  trivial: 'print("hello")\n',
  numpy: 'import numpy as np\na = np.arange(1000, dtype=np.float64)\nprint(float(a.sum()), float(a.std()))\n',
};

/** child_process.spawn of python, output collected, to 'close'. */
function viaSpawn(python, script, env, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => out.push(d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`python exited ${code}: ${Buffer.concat(out)}`))));
  });
}

async function main() {
  const python = benchPython('api', { numpy: 'numpy' });
  const { dir, env, againstEnv, cleanup } = benchSandbox('pnw-bench-api-', AGAINST);
  const devNull = fs.openSync('/dev/null', 'r+');
  const interpreter = resolveInterpreter(python, env, dir);
  const result = {
    name: 'api', date: new Date().toISOString(), runs: RUNS, unit: 'ms', python, against: AGAINST,
    machine: machine(),
    targetTrivialMedianMs: TARGET_TRIVIAL_MS,
    rows: {},
  };
  try {
    for (const [name, source] of Object.entries(SCRIPTS)) {
      const script = path.join(dir, `bench_${name}.py`); // not numpy.py: it would shadow numpy
      fs.writeFileSync(script, source);
      const expected = (await viaSpawn(python, script, env, dir)).toString();
      const viaRun = async () => {
        const r = await run(script, { pythonPath: python, env, cwd: dir, encoding: 'utf8' });
        if (r.stdout !== expected) throw new Error(`run() printed ${JSON.stringify(r.stdout)}`);
      };
      // In this order each round: both pynwheel columns that say so follow a python call (the
      // zygote has had a moment since its last run), and one follows run() back to back, as a
      // server's calls in a row do.
      const contenders = {
        'pynwheel run()': viaRun,
        'run(), back to back': viaRun,
        'child_process.spawn': async () => {
          await viaSpawn(python, script, env, dir);
        },
        // After a python call, as "pynwheel run()" is.
        ...(AGAINST ? {
          '--against run()': async () => {
            const r = await againstRun(script, { pythonPath: python, env: againstEnv, cwd: dir, encoding: 'utf8' });
            if (r.stdout !== expected) throw new Error(`--against run() printed ${JSON.stringify(r.stdout)}`);
          },
        } : {}),
        'core path (no API, /dev/null stdio)': async () => {
          const outcome = await runThroughDaemon({ file: script, args: [] }, {
            cwd: dir, env, interpreter, stdio: [devNull, devNull, devNull], forwardSignals: false,
          });
          if (outcome.exitCode !== 0) throw new Error(`core path exited ${outcome.exitCode}`);
        },
        'python-shell': async () => {
          const lines = await PythonShell.run(script, { pythonPath: python, env, cwd: dir, mode: 'text' });
          if (lines.join('\n') !== expected.trimEnd()) throw new Error(`python-shell printed ${JSON.stringify(lines)}`);
        },
      };
      const times = Object.fromEntries(Object.keys(contenders).map((c) => [c, []]));
      for (const call of Object.values(contenders)) for (let i = 0; i < WARMUP; i++) await call();
      process.stderr.write(`${name}: ${RUNS} calls each`);
      for (let i = 0; i < RUNS; i++) {
        // Interleaved call by call, so that a busy moment of the machine falls on all of them.
        for (const [contender, call] of Object.entries(contenders)) {
          const started = process.hrtime.bigint();
          await call();
          times[contender].push(elapsedMs(started));
        }
        if (i % 100 === 99) process.stderr.write('.');
      }
      process.stderr.write('\n');
      result.rows[name] = Object.fromEntries(Object.entries(times).map(([c, t]) => [c, stats(t)]));
    }
  } finally {
    fs.closeSync(devNull);
    cleanup();
  }
  const contenders = Object.keys(result.rows.trivial);
  console.log(`\nmedian ms per call (p10-p90), ${RUNS} sequential calls each, interleaved; ${python}`);
  printTable(['script', ...contenders], Object.entries(result.rows).map(([name, row]) => [
    name, ...contenders.map((c) => `${row[c].median.toFixed(2)} (${row[c].p10.toFixed(1)}-${row[c].p90.toFixed(1)})`),
  ]));
  const trivial = result.rows.trivial['pynwheel run()'].median;
  result.targetMet = trivial <= TARGET_TRIVIAL_MS;
  console.log(`\ntrivial run(): median ${trivial.toFixed(2)} ms, target <= ${TARGET_TRIVIAL_MS} ms: ${result.targetMet ? 'met' : 'NOT met'}`);
  if (AGAINST) {
    for (const [name, row] of Object.entries(result.rows)) {
      const [mine, theirs] = [row['pynwheel run()'].median, row['--against run()'].median];
      console.log(`${name}: run() ${mine.toFixed(3)} ms, --against run() ${theirs.toFixed(3)} ms: this/that ${(mine / theirs).toFixed(3)}, difference ${(mine - theirs).toFixed(3)} ms`);
    }
  }
  saveResult(AGAINST ? 'api-against.json' : 'api.json', result);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
