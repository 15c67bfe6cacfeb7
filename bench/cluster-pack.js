// The submitter's per-job cost of its code bundle: packing the code directory afresh (what every
// job paid before) against the stat-based reuse of the last pack (lib/cluster/bundle-pack.ts),
// interleaved, medians and the ratio. `node bench/cluster-pack.js [DIR] [--runs N]` (default DIR:
// this repository's python/ directory; its files are given an mtime in the past so the racy rule
// does not re-read them).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { packDirectory } = require('../dist/cluster/bundle-pack');

const argv = process.argv.slice(2);
const runsAt = argv.indexOf('--runs');
const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : 200;
const given = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--runs');
const source = path.resolve(given ?? path.join(__dirname, '..', 'python'));
// A copy, so that setting old mtimes touches nothing of the user's.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-bench-pack-'));
fs.cpSync(source, dir, { recursive: true });
const old = new Date(Date.now() - 60_000);
const age = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) age(p);
    fs.utimesSync(p, old, old);
  }
};
age(dir);
try {
  let previous = packDirectory(dir);
  const fresh = [];
  const reused = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    packDirectory(dir);
    fresh.push(performance.now() - t0);
    t0 = performance.now();
    previous = packDirectory(dir, { previous });
    reused.push(performance.now() - t0);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [f, r] = [median(fresh), median(reused)];
  console.log(`${source}: ${previous.files} files, ${(previous.bytes.length / 1024).toFixed(0)} KiB bundle, ${runs} runs interleaved`);
  console.log(`  packed afresh: median ${f.toFixed(3)} ms`);
  console.log(`  reused (stat): median ${r.toFixed(3)} ms  (${(f / r).toFixed(1)}x less)`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
