#!/usr/bin/env node
// A job of test scripts that import pandas (issue 17): `pynwheel tasks --jobs 2` against python
// running them one after another and two pythons at a time (`xargs -P 2`, as `pytest -n 2`
// would share two cores), interleaved round by round (the order rotates), wall time of each
// whole job as a shell starts it. Medians over the rounds; saves bench/results/tasks.json.
//
// Usage: node bench/tasks.js [--rounds N] [--scripts N]   (default 3 rounds of 50 scripts)
// The Python: $PYNWHEEL_BENCH_PYTHON, else .venv-bench-tasks at the repo root (pandas installed).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');
const { printTable } = require('./table');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'pynwheel.js');
const argv = process.argv.slice(2);
const flag = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const ROUNDS = flag('--rounds', 3);
const SCRIPTS = flag('--scripts', 50);
const TARGET = 0.2;

const python = benchPython('tasks', { pandas: 'pandas' });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-tasks-'));
const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-tasks-rt-'));
fs.chmodSync(runtimeDir, 0o700);
const env = { ...process.env, PYNWHEEL_RUNTIME_DIR: runtimeDir, PYNWHEEL_PYTHON: python };
delete env.PYNWHEEL_DISABLE;

const scripts = [];
for (let i = 0; i < SCRIPTS; i++) {
  const name = `test_frame_${String(i).padStart(2, '0')}.py`;
  fs.writeFileSync(path.join(work, name), [
    'import pandas as pd',
    '',
    `frame = pd.DataFrame({"k": [j % 7 for j in range(${200 + i})], "v": range(${200 + i})})`,
    'sums = frame.groupby("k")["v"].sum()',
    `assert int(sums.sum()) == sum(range(${200 + i})), sums`,
    'print("ok", len(sums))',
    '',
  ].join('\n'));
  scripts.push(name);
}
const list = scripts.join(' ');
const contenders = {
  'pynwheel tasks --jobs 2': `${process.execPath} ${CLI} tasks --jobs 2 --log-dir logs ${list} > /dev/null`,
  'python, one after another': `for f in ${list}; do ${python} "$f" > /dev/null || exit 1; done`,
  'python, 2 at a time (xargs -P 2)': `printf '%s\\n' ${list} | xargs -P 2 -n 1 ${python} > /dev/null`,
};

function timeJob(command) {
  const started = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', command], { cwd: work, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${command.slice(0, 60)}... failed (${r.status ?? r.signal})`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  timeJob(contenders['pynwheel tasks --jobs 2']); // warm-up: the daemon and a zygote with pandas
  const times = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
  const names = Object.keys(contenders);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length];
      times[name].push(timeJob(contenders[name]));
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
  }
  const medians = Object.fromEntries(names.map((name) => [name, median(times[name])]));
  const parallel = medians['python, 2 at a time (xargs -P 2)'];
  printTable(['job of ' + SCRIPTS + ' pandas scripts', 'median ms', 'runs (ms)', 'of xargs -P 2'],
    names.map((name) => [name, medians[name].toFixed(0), times[name].map((x) => x.toFixed(0)).join(' '), (medians[name] / parallel).toFixed(3)]));
  const ratio = medians['pynwheel tasks --jobs 2'] / parallel;
  console.log(`\npynwheel tasks / two parallel pythons: ${ratio.toFixed(3)} (target <= ${TARGET}: ${ratio <= TARGET ? 'met' : 'not met'})`);
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'tasks.json'), JSON.stringify({
    date: new Date().toISOString(), scripts: SCRIPTS, rounds: ROUNDS, cores: os.cpus().length, loadavg: os.loadavg(),
    python, times, medians, ratio, target: TARGET,
  }, null, 1) + '\n');
} finally {
  spawnSync(process.execPath, [CLI, 'stop'], { env, stdio: 'ignore' });
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(runtimeDir, { recursive: true, force: true });
}
