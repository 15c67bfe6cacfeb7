#!/usr/bin/env node
// npm run bench:gc: bench/gc-thaw.py with the bench's Python (numpy and pandas), see there.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { benchPython } = require('./python-env');

const python = benchPython('gc', { numpy: 'numpy', pandas: 'pandas' });
const result = spawnSync(python, [path.join(__dirname, 'gc-thaw.py'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, PYNWHEEL_BENCH_PYTHON: python },
});
process.exit(result.status ?? 1);
