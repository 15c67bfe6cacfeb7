// What bench/api.js and bench/api-calls.js share: their command line (--runs N, --against DIR),
// a scratch directory with a runtime directory of its own and the environment that points at it
// (and one for --against's daemon), stopping their daemons, the timing and its statistics, and
// saving the results.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const NODE_CLI = path.join(ROOT, 'bin', 'pynwheel.js');

/** --runs N (default `defaultRuns`), --against DIR: another built checkout, whose API is timed in the same rounds. */
function benchArgs(defaultRuns) {
  const argv = process.argv.slice(2);
  const value = (flag) => { const i = argv.indexOf(flag); return i >= 0 ? argv[i + 1] : undefined; };
  const against = value('--against') ? path.resolve(value('--against')) : null;
  return {
    runs: value('--runs') !== undefined ? Number(value('--runs')) : defaultRuns,
    against,
    againstApi: against ? require(path.join(against, 'dist', 'index.js')) : null,
  };
}

/**
 * A scratch directory with a runtime directory (and, with --against, a second one) and the
 * environments that use them; `cleanup()` stops both daemons and removes it all (also on Ctrl-C).
 */
function benchSandbox(prefix, against) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const envFor = (name) => {
    const runtimeDir = path.join(dir, name);
    fs.mkdirSync(runtimeDir, { mode: 0o700 });
    return {
      PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8',
      PYNWHEEL_RUNTIME_DIR: runtimeDir,
      PYNWHEEL_IDLE: '600', // should the bench be killed, its daemon still leaves
    };
  };
  const env = envFor('rt');
  const againstEnv = against ? envFor('rt-against') : null;
  const extra = [];
  const cleanup = () => {
    for (const f of extra.splice(0)) f();
    spawnSync(process.execPath, [NODE_CLI, 'stop'], { env, stdio: 'ignore' });
    if (against) spawnSync(process.execPath, [path.join(against, 'bin', 'pynwheel.js'), 'stop'], { env: againstEnv, stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { cleanup(); process.exit(130); });
  return { dir, env, againstEnv, cleanup, onCleanup: (f) => extra.push(f) };
}

function elapsedMs(started) {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (v) => +v.toFixed(3);
  return { median: round(at(0.5)), p10: round(at(0.1)), p90: round(at(0.9)), min: round(sorted[0]), max: round(sorted[sorted.length - 1]), n: times.length };
}

function machine() {
  return { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}`, load: os.loadavg().map((l) => +l.toFixed(2)) };
}

function saveResult(file, result) {
  const out = path.join(__dirname, 'results', file);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`saved ${path.relative(ROOT, out)}`);
}

module.exports = { ROOT, NODE_CLI, benchArgs, benchSandbox, elapsedMs, stats, machine, saveResult };
