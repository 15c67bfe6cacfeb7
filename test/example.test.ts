// examples/server.js, the README's Node API example: an HTTP server that runs a numpy script per
// request. It answers with the script's JSON, a 400 from a script's exception, a 404 elsewhere.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { makeSandbox, ROOT, type Sandbox } from './helpers';

let sb: Sandbox;
t.before(() => { sb = makeSandbox('example'); });
t.teardown(() => sb.cleanup());

function get(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

t.test('the example server answers per request through run()', async (t) => {
  const server = spawn(process.execPath, [path.join(ROOT, 'examples', 'server.js')], {
    cwd: sb.dir, env: { ...sb.env, PORT: '0', PYNWHEEL_PYTHON: path.join(sb.venv, 'bin', 'python3') }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => { server.kill('SIGKILL'); });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d) => {
      out += d;
      const m = /localhost:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    });
    server.on('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
  for (const n of [1000, 5000]) {
    const ok = await get(`http://localhost:${port}/stats?n=${n}`);
    t.equal(ok.status, 200, `n=${n}: 200`);
    t.equal(ok.body.n, n, `n=${n}: the script's JSON line`);
    t.ok(typeof ok.body.mean === 'number' && Math.abs(ok.body.mean as number) < 0.2 && Math.abs((ok.body.std as number) - 1) < 0.1, 'a normal sample\'s mean and std');
    t.type(ok.body.durationMs, 'number');
  }
  const bad = await get(`http://localhost:${port}/stats?n=0`);
  t.equal(bad.status, 400, 'a script\'s exception is a 400');
  t.match(bad.body.error, /^ValueError: n must be between 1 and 10000000, not 0$/, 'from the parsed traceback');
  const missing = await get(`http://localhost:${port}/other`);
  t.equal(missing.status, 404);
});
