#!/usr/bin/env node
// call() against what a Node program would use otherwise (issue 16), interleaved call by call in
// one run after a warm-up, wall time from the call to its value:
//   - pynwheel's call() (a fork of a warm zygote per call, the value on a channel of its own),
//   - pynwheel's run() of a trivial script, in the same rounds (call() may cost at most 0.3 ms more),
//   - child_process.spawn of python -c "import json, mod; print(json.dumps(mod.f(*args)))", stdout parsed,
//   - python-bridge (a devDependency, for this bench only): one long-lived interpreter, JSON over pipes.
// Rows: a trivial function, a numpy function, a 10 MB float64 array returned; then 8 CPU-bound
// calls at once against one alone (on N cores, about 8/N times one call's time when parallel).
// Each timed call waits 10 ms after the last one (GAP_MS): its spare is ready, as it is for a call
// that does not follow another back to back. Prints medians (p10-p90), saves bench/results/api-calls.json.
//
// Usage: node bench/api-calls.js [--runs N] [--against DIR]   (default 300; the 10 MB row and the
// CPU rows run fewer). --against DIR: another built checkout (an older commit), whose call() is
// one more contender of the trivial and numpy rows, with a daemon of its own; results then go to
// api-calls-against.json.
// The Python environment: as bench/api.js's ($PYNWHEEL_BENCH_PYTHON, else .venv-bench-api).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, benchArgs, benchSandbox, elapsedMs, stats, machine, saveResult } = require('./api-common');
const { benchPython } = require('./python-env');
const { printTable } = require('./table');
const { call, run, NDArray } = require('../dist/index.js');

const { runs: RUNS, against: AGAINST, againstApi } = benchArgs(300);
const GAP_MS = 10;
const TARGET_TRIVIAL_MS = 3;
const TARGET_OVER_RUN_MS = 0.3;
const ARRAY_ITEMS = 10 * 1024 * 1024 / 8;

let pythonBridge = null;
try {
  pythonBridge = require('python-bridge');
} catch {
  // Not installed (npm install --omit=dev): its column is left out, and the results say so.
}

const FILES = {
  'bench_trivial.py': 'def trivial():\n    return 1\n',
  'bench_np.py': [
    'import numpy as np',
    'def numpy_sum(n):',
    '    a = np.arange(n, dtype=np.float64)',
    '    return float(a.sum() + a.std())',
    `def array_10mb():`,
    `    return np.arange(${ARRAY_ITEMS}, dtype=np.float64)`,
    'def array_10mb_list():',
    '    return array_10mb().tolist()',
    'def spin(n):',
    '    x = 0',
    '    for i in range(n):',
    '        x += i',
    '    return x',
  ].join('\n') + '\n',
  'bench_print.py': 'print("hello")\n',
};

/** python -c: import the module, call the function with JSON args, print its JSON value. */
function viaChildProcess(python, env, cwd, module, fn, args) {
  return new Promise((resolve, reject) => {
    const code = `import json, sys, ${module}; print(json.dumps(${module}.${fn}(*json.loads(sys.argv[1]))))`;
    const child = spawn(python, ['-c', code, JSON.stringify(args)], { env, cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    const out = [];
    child.stdout.on('data', (d) => out.push(d));
    child.on('error', reject);
    child.on('close', (status) => (status === 0 ? resolve(JSON.parse(Buffer.concat(out).toString())) : reject(new Error(`python exited ${status}`))));
  });
}

async function measure(contenders, runs, warmup, label) {
  const times = Object.fromEntries(Object.keys(contenders).map((c) => [c, []]));
  for (const f of Object.values(contenders)) for (let i = 0; i < warmup; i++) await f();
  process.stderr.write(`${label}: ${runs} rounds`);
  for (let i = 0; i < runs; i++) {
    for (const [name, f] of Object.entries(contenders)) {
      // A moment between calls: each finds its zygote's spare ready, as a call that does not
      // follow another back to back does (back to back, the second would meet the first's
      // teardown and the next spare's warm-up on the same cores).
      await new Promise((resolve) => setTimeout(resolve, GAP_MS));
      const started = process.hrtime.bigint();
      await f();
      times[name].push(elapsedMs(started));
    }
    if (i % 50 === 49) process.stderr.write('.');
  }
  process.stderr.write('\n');
  return Object.fromEntries(Object.entries(times).map(([c, t]) => [c, stats(t)]));
}

function check(value, expected, what) {
  if (value !== expected) throw new Error(`${what} gave ${JSON.stringify(value)}, not ${JSON.stringify(expected)}`);
}

async function main() {
  const python = benchPython('api', { numpy: 'numpy' });
  const { dir, env, againstEnv, cleanup, onCleanup } = benchSandbox('pnw-bench-calls-', AGAINST);
  for (const [name, text] of Object.entries(FILES)) fs.writeFileSync(path.join(dir, name), text);
  const bridge = pythonBridge ? pythonBridge({ python, env: { ...env, PYTHONPATH: dir }, cwd: dir }) : null;
  onCleanup(() => bridge?.kill?.('SIGKILL'));
  const devNull = fs.openSync('/dev/null', 'r+');
  onCleanup(() => fs.closeSync(devNull));
  const o = { pythonPath: python, env, cwd: dir };
  const ao = { pythonPath: python, env: againstEnv, cwd: dir };
  const cp = (module, fn, args) => viaChildProcess(python, env, dir, module, fn, args);
  const result = {
    name: 'api-calls', date: new Date().toISOString(), runs: RUNS, unit: 'ms', python,
    machine: machine(), against: AGAINST,
    pythonBridge: bridge ? 'python-bridge ' + require('python-bridge/package.json').version : 'not installed: column left out',
    rows: {},
  };
  try {
    if (bridge) await bridge.ex`import bench_trivial, bench_np`;
    const expectedSum = await cp('bench_np', 'numpy_sum', [1000]);
    result.rows.trivial = await measure({
      'pynwheel call()': async () => check(await call('./bench_trivial.py:trivial', [], o), 1, 'call()'),
      'pynwheel run() (trivial script)': async () => { await run('bench_print.py', o); },
      'pynwheel run(), /dev/null stdio': async () => { await run('bench_print.py', { ...o, stdio: ['ignore', devNull, devNull] }); },
      ...(AGAINST ? { '--against call()': async () => check(await againstApi.call('./bench_trivial.py:trivial', [], ao), 1, '--against call()') } : {}),
      'child_process + JSON': async () => check(await cp('bench_trivial', 'trivial', []), 1, 'child_process'),
      ...(bridge ? { 'python-bridge': async () => check(await bridge`bench_trivial.trivial()`, 1, 'python-bridge') } : {}),
    }, RUNS, 20, 'trivial');
    result.rows.numpy = await measure({
      'pynwheel call()': async () => check(await call('./bench_np.py:numpy_sum', [1000], o), expectedSum, 'call()'),
      ...(AGAINST ? { '--against call()': async () => check(await againstApi.call('./bench_np.py:numpy_sum', [1000], ao), expectedSum, '--against call()') } : {}),
      'child_process + JSON': async () => check(await cp('bench_np', 'numpy_sum', [1000]), expectedSum, 'child_process'),
      ...(bridge ? { 'python-bridge': async () => check(await bridge`bench_np.numpy_sum(1000)`, expectedSum, 'python-bridge') } : {}),
    }, RUNS, 20, 'numpy');
    const arrayRuns = Math.max(5, Math.round(RUNS / 10));
    result.rows['10 MB array returned'] = await measure({
      'pynwheel call()': async () => {
        const a = await call('./bench_np.py:array_10mb', [], o);
        if (!(a instanceof NDArray) || a.data.length !== ARRAY_ITEMS) throw new Error('call(): not the array');
      },
      'child_process + JSON': async () => check((await cp('bench_np', 'array_10mb_list', [])).length, ARRAY_ITEMS, 'child_process'),
      ...(bridge ? { 'python-bridge': async () => check((await bridge`bench_np.array_10mb_list()`).length, ARRAY_ITEMS, 'python-bridge') } : {}),
    }, arrayRuns, 2, '10 MB array');
    // CPU-bound: one call alone, then 8 at once (default concurrency: the number of cores).
    const spinArg = 3_000_000;
    const cpuRuns = Math.max(3, Math.round(RUNS / 30));
    const eight = (f) => async () => { await Promise.all(Array.from({ length: 8 }, f)); };
    result.rows['CPU-bound: 1 call, 8 at once'] = await measure({
      'pynwheel call(), 1': async () => { await call('./bench_np.py:spin', [spinArg], o); },
      'pynwheel call(), 8 at once': eight(() => call('./bench_np.py:spin', [spinArg], o)),
      ...(bridge ? {
        'python-bridge, 1': async () => { await bridge`bench_np.spin(${spinArg})`; },
        'python-bridge, 8 at once': eight(() => bridge`bench_np.spin(${spinArg})`),
      } : {}),
    }, cpuRuns, 1, 'CPU-bound');
  } finally {
    if (bridge) await bridge.end().catch(() => undefined);
    cleanup();
  }
  console.log(`\nmedian ms (p10-p90), interleaved round by round; ${python}; ${os.cpus().length} cores`);
  for (const [row, columns] of Object.entries(result.rows)) {
    console.log(`\n${row} (${Object.values(columns)[0].n} rounds)`);
    printTable(['contender', 'median (p10-p90)'], Object.entries(columns).map(([c, s]) => [c, `${s.median.toFixed(2)} (${s.p10.toFixed(1)}-${s.p90.toFixed(1)})`]));
  }
  const trivial = result.rows.trivial['pynwheel call()'].median;
  const overRun = trivial - result.rows.trivial['pynwheel run() (trivial script)'].median;
  const overQuietRun = trivial - result.rows.trivial['pynwheel run(), /dev/null stdio'].median;
  const cpu = result.rows['CPU-bound: 1 call, 8 at once'];
  const ratio = cpu['pynwheel call(), 8 at once'].median / cpu['pynwheel call(), 1'].median;
  result.targets = {
    trivialMedianMs: trivial, trivialTargetMs: TARGET_TRIVIAL_MS, trivialMet: trivial <= TARGET_TRIVIAL_MS,
    overRunMs: +overRun.toFixed(3), overRunTargetMs: TARGET_OVER_RUN_MS, overRunMet: overRun <= TARGET_OVER_RUN_MS,
    overDevNullRunMs: +overQuietRun.toFixed(3),
    eightAtOnceOverOne: +ratio.toFixed(2), parallelIdeal: +(8 / os.cpus().length).toFixed(2),
  };
  console.log(`\ntrivial call(): median ${trivial.toFixed(2)} ms (target <= ${TARGET_TRIVIAL_MS}: ${trivial <= TARGET_TRIVIAL_MS ? 'met' : 'NOT met'}), ` +
    `${overRun.toFixed(3)} ms over run() of a trivial script (target <= ${TARGET_OVER_RUN_MS}: ${overRun <= TARGET_OVER_RUN_MS ? 'met' : 'NOT met'}), ` +
    `${overQuietRun.toFixed(3)} ms over that run() with /dev/null as stdio`);
  console.log(`8 CPU-bound calls at once: ${ratio.toFixed(2)} x one call (parallel on ${os.cpus().length} cores: ${(8 / os.cpus().length).toFixed(1)} x; serialized: 8 x)`);
  if (AGAINST) {
    for (const row of ['trivial', 'numpy']) {
      const [mine, theirs] = [result.rows[row]['pynwheel call()'].median, result.rows[row]['--against call()'].median];
      console.log(`${row}: call() ${mine.toFixed(3)} ms, --against call() ${theirs.toFixed(3)} ms: difference ${(mine - theirs).toFixed(3)} ms`);
    }
  }
  saveResult(AGAINST ? 'api-calls-against.json' : 'api-calls.json', result);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
