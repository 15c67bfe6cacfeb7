#!/usr/bin/env node
// A terminal session's own zygotes (issue 14): a client with a controlling terminal gets its
// runs from zygotes born in its session. What that costs: the session's first run (python's
// own, while the session's zygote starts) against python's first run in a session; how long
// until the session's zygote serves a run; warm runs after it; the session zygotes' memory.
// Sessions with python and with pynwheel (the native runner) alternate, each on a new
// pseudo-terminal (bench/session.py drives them), with a daemon of its own.
// Usage: npm run bench:session [-- SESSIONS [WARM_RUNS]]   (default 9 sessions, 20 warm runs)
//   modules: PYNWHEEL_BENCH_IMPORTS (default "numpy"): what the script imports.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchPython } = require('./python-env');
const { printTable } = require('./table');

const ROOT = path.resolve(__dirname, '..');
const RUNNER = path.join(ROOT, 'build', 'Release', 'pynwheel-runner');
const SESSIONS = Number(process.argv[2] ?? 9);
const WARM = Number(process.argv[3] ?? 20);
const IMPORTS = (process.env.PYNWHEEL_BENCH_IMPORTS ?? 'numpy').split(',').filter(Boolean);

const python = benchPython('session', Object.fromEntries(IMPORTS.map((m) => [m, m])));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-session-'));
const runtime = path.join(dir, 'rt');
fs.mkdirSync(runtime, { mode: 0o700 });
const script = path.join(dir, 'job.py');
fs.writeFileSync(script, IMPORTS.map((m) => `import ${m}\n`).join('') + 'print("done")\n');
const env = { ...process.env, PYNWHEEL_RUNTIME_DIR: runtime, PATH: `${path.dirname(python)}:${process.env.PATH}` };
delete env.PYNWHEEL_DEBUG;
try {
  const r = spawnSync(python, [path.join(__dirname, 'session.py'), RUNNER, script, String(SESSIONS), String(WARM)],
    { env, cwd: dir, encoding: 'utf8', maxBuffer: 1 << 24, timeout: 30 * 60_000 });
  if (r.status !== 0) throw new Error(`bench/session.py failed: ${r.stderr}`);
  const results = JSON.parse(r.stdout);
  const median = (xs) => { const s = [...xs].filter((x) => typeof x === 'number').sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
  const ms = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  const py = results.python;
  const pnw = results.pynwheel;
  const rows = [
    ['first run of a session', ms(median(py.map((s) => s.first))), ms(median(pnw.map((s) => s.first))),
      `${pnw.filter((s) => s.firstWasPython).length} of ${pnw.length} were python's own`],
    ['until the session\'s zygote serves a run', '', ms(median(pnw.map((s) => s.readyMs))), 'from the first run\'s start'],
    [`warm runs (median of ${WARM} a session)`, ms(median(py.map((s) => median(s.warm)))), ms(median(pnw.map((s) => median(s.warm)))), ''],
  ];
  const zygotes = pnw.map((s) => s.zygotes);
  const rss = median(zygotes.map((z) => z.reduce((a, b) => a + b.rssMiB, 0)));
  const pss = median(zygotes.map((z) => z.reduce((a, b) => a + b.pssMiB, 0)));
  console.log(`\nA terminal session's zygotes: ${SESSIONS} sessions each, interleaved; script imports ${IMPORTS.join(', ') || 'nothing'}; ${python}; ${os.cpus().length} cpus; median ms`);
  printTable(['', 'python', 'pynwheel', ''], rows);
  console.log(`a session's zygotes after its runs: ${median(zygotes.map((z) => z.length))} (median), RSS ${rss.toFixed(1)} MiB, PSS ${pss.toFixed(1)} MiB in all (median)`);
  const out = path.join(__dirname, 'results', 'session.json');
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), imports: IMPORTS, sessions: SESSIONS, warmRuns: WARM, results }, null, 1) + '\n');
  console.log(`saved ${path.relative(ROOT, out)}`);
} finally {
  spawnSync(RUNNER, ['stop'], { env, stdio: 'ignore' });
  fs.rmSync(dir, { recursive: true, force: true });
}
