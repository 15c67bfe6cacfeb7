#!/usr/bin/env node
// Reads TAP on stdin (tap --reporter=tap), passes it through, and ends with one line
// `N passed, N failed` counting every assertion, as CI wants. Each subtest also shows up as
// one summary assertion in its parent; those are subtracted, so only real assertions count.
'use strict';
const { Parser } = require('tap-parser');

const counts = { pass: 0, fail: 0, skip: 0 };

function watch(parser) {
  parser.on('assert', (result) => {
    if (result.skip || result.todo) counts.skip++;
    else if (result.ok) counts.pass++;
    else counts.fail++;
  });
  parser.on('child', (child) => {
    watch(child);
    child.on('complete', (results) => {
      // The parent's `ok N - name` line for this subtest is not an assertion of its own.
      if (results.plan && results.plan.skipAll) counts.skip--;
      else if (results.ok) counts.pass--;
      else counts.fail--;
    });
  });
}

const root = new Parser(() => {
  const line = `${counts.pass} passed, ${counts.fail} failed` + (counts.skip > 0 ? `, ${counts.skip} skipped` : '');
  process.stdout.write(`\n${line}\n`);
});
watch(root);
process.stdin.on('data', (chunk) => process.stdout.write(chunk));
process.stdin.pipe(root);
