// The cluster over TLS and with an ACL user, against real redis-servers of the test's own: one
// listening only on a TLS port with certificates the test makes with openssl (a CA of its own),
// reached by rediss:// with ?ca= (and $PYNWHEEL_REDIS_CA); one whose only user is an ACL user with
// a password. A worker and a submitter run a job through each; a missing CA and a wrong password
// are clear errors before anything is queued.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cluster } from '../dist/index';
import { removeTree } from '../dist/cluster/bundle-cache';
import { checkRedis } from '../dist/cluster/redis';
import { CLI, makeSandbox, sleep, write, type Sandbox } from './helpers';
import { freePort, removeRedis, startRedis, type TestRedis } from './redis-helper';

const KEY = 'cluster-tls-test-key-0123456789ab';
const servers: TestRedis[] = [];
const children: ChildProcess[] = [];
let code: Sandbox;

t.before(() => { code = makeSandbox('ctls-code'); });
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
t.teardown(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) { c.kill('SIGKILL'); await new Promise((r) => c.once('exit', r)); }
  for (const s of servers) await removeRedis(s);
  await code.cleanup();
});

function openssl(dir: string, ...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`this test needs openssl (Debian's package openssl; .ci/run installs it): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it, in dir. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=pynwheel test CA');
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') };
}

/** A worker on url with a runtime directory of its own; stopped by the teardown. */
async function startWorker(url: string, name: string): Promise<{ log: string; sb: Sandbox; child: ChildProcess }> {
  const sb = makeSandbox(`ctls-${name}`);
  const log = path.join(sb.runtimeDir, 'worker.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [CLI, 'worker', '--redis', url, '--cache-dir', path.join(sb.runtimeDir, 'code')], {
    env: { ...sb.env, PYNWHEEL_CLUSTER_KEY: KEY }, stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  children.push(child);
  const deadline = Date.now() + 20000;
  while (!fs.readFileSync(log, 'utf8').includes('concurrency')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker ${name} did not start: ${fs.readFileSync(log, 'utf8')}`);
    await sleep(50);
  }
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); }
    removeTree(path.join(sb.runtimeDir, 'code'));
    await sb.cleanup();
  });
  return { log, sb, child };
}

t.test('TLS: rediss:// with ?ca= (or $PYNWHEEL_REDIS_CA) runs a job; no CA is a clear error before anything is queued', async (t) => {
  const tlsPort = await freePort();
  const certDir = fs.mkdtempSync(path.join(code.dir, 'certs-'));
  const { ca, cert, key } = makeCertificates(certDir);
  const redis = await startRedis(['--port', '0', '--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', ca, '--tls-auth-clients', 'no']);
  servers.push(redis);
  const url = `rediss://localhost:${tlsPort}?ca=${encodeURIComponent(ca)}`;
  await startWorker(url, 'tls');
  const handle = cluster(`rediss://127.0.0.1:${tlsPort}?ca=${encodeURIComponent(ca)}`, { key: KEY });
  try {
    const file = write(code, 'tls/job.py', 'def f(x):\n    return x + 1\n');
    t.equal(await handle.call(`${file}:f`, [41]), 42, 'a job over TLS, by name and by IP address');
  } finally {
    await handle.close();
  }
  await t.rejects(checkRedis(`rediss://localhost:${tlsPort}`), { code: 'EREDIS', message: /cannot reach Redis at rediss:\/\/localhost:\d+.*: self[- ]signed certificate/ }, 'the server\'s CA unknown');
  await t.rejects(checkRedis(`rediss://localhost:${tlsPort}?ca=/nonexistent/ca.pem`), { code: 'EREDIS', message: /the CA file \/nonexistent\/ca.pem: ENOENT/ });
  await t.rejects(checkRedis(`redis://127.0.0.1:${tlsPort}`), { code: 'EREDIS' }, 'plain text to a TLS port');
  process.env.PYNWHEEL_REDIS_CA = ca;
  try {
    t.match(await checkRedis(`rediss://localhost:${tlsPort}`), { version: /^7\./ }, '$PYNWHEEL_REDIS_CA');
  } finally {
    delete process.env.PYNWHEEL_REDIS_CA;
  }
  t.equal(redis.cli('--scan', '--pattern', 'pynwheel:*:done:*').split('\n').filter(Boolean).length, 1, 'the one job, nothing from the failed checks');
});

t.test('ACL: a user with a password in the URL runs a job; a wrong password is a clear error before anything is queued', async (t) => {
  const redis = await startRedis(['--user', 'default', 'off', '--user', 'alice', 'on', '>s3cret', '~*', '&*', '+@all']);
  servers.push(redis);
  const cli = (...args: string[]) => spawnSync('redis-cli', ['-s', redis.socket, '--user', 'alice', '--pass', 's3cret', '--no-auth-warning', ...args], { encoding: 'utf8' }).stdout.trim();
  t.equal(cli('PING'), 'PONG');
  const url = `redis://alice:s3cret@127.0.0.1:${redis.port}`;
  await startWorker(url, 'acl');
  const wrong = cluster(`redis://alice:nope@127.0.0.1:${redis.port}`, { key: KEY });
  const file = write(code, 'acl/job.py', 'def f():\n    return "as alice"\n');
  await t.rejects(wrong.call(`${file}:f`), { code: 'EREDIS', message: /^Redis at redis:\/\/alice:\*\*\*@127\.0\.0\.1:\d+\/? refused the login of user alice: WRONGPASS/ });
  await wrong.close();
  await t.rejects(checkRedis(`redis://127.0.0.1:${redis.port}`), { code: 'EREDIS', message: /refused the login|NOAUTH|WRONGPASS/ }, 'no user: the default one is off');
  t.equal(cli('--scan', '--pattern', 'bull:pynwheel:*-*-*-*-*'), '', 'no job queued');
  t.equal(cli('LLEN', 'bull:pynwheel:wait'), '0');
  const handle = cluster(url, { key: KEY });
  try {
    t.equal(await handle.call(`${file}:f`), 'as alice');
  } finally {
    await handle.close();
  }
});
