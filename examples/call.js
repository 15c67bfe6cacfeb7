// The README's call() example: Python functions from Node, each call a fork of a warm zygote.
// Run: node examples/call.js   (numpy in the interpreter pynwheel uses: $PYNWHEEL_PYTHON, the active venv's, or python3)
'use strict';
const path = require('node:path');
const { call, bind, iterate, NDArray, PythonError } = require('..');

const here = { cwd: __dirname };

async function main() {
  console.log('total:', await call('./calls.py:total', [[19.5, 5]], { ...here, kwargs: { tax: 0.2 } }));
  const predict = bind('./calls.py:predict', here);
  const scores = await predict(new NDArray('<f8', [2, 3], new Float64Array([1, 2, 3, 4, 5, 6])));
  console.log('scores:', scores.dtype, scores.shape, Array.from(scores.data, (x) => +x.toFixed(2)));
  for await (const step of iterate('./calls.py:countdown', [3], here)) console.log('step:', step);
  try {
    await call('json:loads', ['{'], here);
  } catch (err) {
    if (!(err instanceof PythonError)) throw err;
    console.log('error:', err.type, path.basename(err.traceback.frames.at(-1).file));
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
