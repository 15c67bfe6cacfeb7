#!/usr/bin/env node
// Reads TAP on stdin (tap --reporter=tap), passes it through, and ends with one line
// `N passed, N failed` counting every assertion, as CI wants.
'use strict';
const { Parser } = require('tap-parser');

let passed = 0;
let failed = 0;
let skipped = 0;
const parser = new Parser({ flat: true }, () => {
  const line = `${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : '');
  process.stdout.write(`\n${line}\n`);
});
parser.on('assert', (result) => {
  if (result.skip || result.todo) skipped++;
  else if (result.ok) passed++;
  else failed++;
});
process.stdin.on('data', (chunk) => process.stdout.write(chunk));
process.stdin.pipe(parser);
