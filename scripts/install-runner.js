#!/usr/bin/env node
// Run by `npm install` after the native build. In an installed package (not a git checkout),
// bin/pynwheel, the committed sh shim, is replaced by a copy of the native runner: each warm run
// then skips a /bin/sh start (about 1 ms) and sh's rebuilding of the environment (it drops
// variables whose names are not shell identifiers). npm links bins before install scripts run,
// which is why the committed file is a shim at all. A checkout keeps its shim (it is committed),
// and so does an install whose runner did not build (the shim then runs the Node CLI).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const runner = path.join(root, 'build', 'Release', 'pynwheel-runner');
const bin = path.join(root, 'bin', 'pynwheel');

function main() {
  if (fs.existsSync(path.join(root, '.git'))) return 'a git checkout: bin/pynwheel stays the shim';
  try {
    fs.accessSync(runner, fs.constants.X_OK);
  } catch {
    return 'no native runner was built: bin/pynwheel stays the shim';
  }
  // Copied, not linked: the command keeps working if build/ is cleaned. Renamed into place, so
  // a pynwheel started meanwhile sees the old file or the new one, never half of one.
  const temporary = `${bin}.${process.pid}.tmp`;
  fs.copyFileSync(runner, temporary);
  fs.chmodSync(temporary, 0o755);
  fs.renameSync(temporary, bin);
  return 'bin/pynwheel is now the native runner';
}

try {
  console.log(`pynwheel: ${main()}`);
} catch (err) {
  // Never fail the install for this: the shim works, only slower.
  console.log(`pynwheel: kept the bin/pynwheel shim (${err.message})`);
}
