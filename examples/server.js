// A small HTTP server that runs a numpy script per request through pynwheel's Node API.
//
//   npm install && npm run build
//   PYNWHEEL_PYTHON=/path/to/venv/bin/python3 node examples/server.js     (a python with numpy)
//   curl 'http://localhost:8000/stats?n=1000000'
//
// The first request starts the daemon and a zygote that imports numpy (as long as python
// itself takes); every request after that is a fork of it: milliseconds instead of the
// ~150 ms a fresh `python3 stats.py` pays for `import numpy`.
'use strict';
const http = require('node:http');
const path = require('node:path');
const { run, PythonError } = require('pynwheel');

const SCRIPT = path.join(__dirname, 'stats.py');
const PORT = Number(process.env.PORT ?? 8000);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/stats') return reply(res, 404, { error: 'try /stats?n=100000' });
  // A client that hangs up stops its run: abort kills it.
  const controller = new AbortController();
  res.on('close', () => controller.abort());
  try {
    const { stdout: [stats], durationMs } = await run(SCRIPT, [url.searchParams.get('n') ?? '100000'], {
      mode: 'json', // each stdout line parsed as JSON, as python-shell's mode 'json'
      timeout: 10_000,
      signal: controller.signal,
    });
    reply(res, 200, { ...stats, durationMs });
  } catch (err) {
    if (err.name === 'AbortError') return; // nobody to answer
    if (err instanceof PythonError && err.traceback) {
      // The script's own exception, parsed from its traceback: the client's fault here.
      return reply(res, 400, { error: `${err.traceback.type}: ${err.traceback.message}` });
    }
    reply(res, 500, { error: err.message });
  }
});

function reply(res, status, body) {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

server.listen(PORT, () => console.log(`listening on http://localhost:${server.address().port}/stats?n=100000`));
