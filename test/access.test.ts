// Only the daemon's own user gets a run. As root, these tests switch client processes to an
// unprivileged uid (nobody) and show every way in is closed.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeSandbox, pynwheel, ROOT, write, type Outcome, type Sandbox } from './helpers';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

let sb: Sandbox;
// nobody's copy of the package: the checkout may sit in a directory other users cannot enter
// (a clone in root's home), where nobody could not even load the addon.
let nobodysRoot: string;
t.before(() => {
  sb = makeSandbox('access');
  nobodysRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-access-pkg-'));
  fs.chmodSync(nobodysRoot, 0o755);
  for (const part of ['package.json', 'bin', 'dist', 'python', 'node_modules', path.join('build', 'Release')]) {
    fs.cpSync(path.join(ROOT, part), path.join(nobodysRoot, part), { recursive: true });
  }
});
t.teardown(async () => {
  await sb.cleanup();
  fs.rmSync(nobodysRoot, { recursive: true, force: true });
});

/** Runs a Node snippet as nobody, with the addon at hand as `native`. */
function asNobody(code: string, env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const prelude = `const native = require(${JSON.stringify(path.join(nobodysRoot, 'build', 'Release', 'pynwheel.node'))});`;
  return new Promise((resolve, reject) => {
    // Through env -u NODE_OPTIONS: tap's process tracking gives spawned node processes an import
    // from the checkout, which nobody may not be able to read.
    const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', prelude + code], { uid: NOBODY, gid: NOBODY, cwd: '/', env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), status, signal }));
  });
}

t.test('another user cannot get a run', { skip: isRoot ? false : 'needs root to switch a client to uid nobody' }, async (t) => {
  const marker = path.join(sb.dir, 'ran-for-nobody');
  write(sb, 'target.py', `open(${JSON.stringify(marker)}, "w").write("ran")\nprint("ran")\n`);
  fs.chmodSync(sb.dir, 0o755);
  fs.chmodSync(path.join(sb.dir, 'target.py'), 0o644);
  t.equal((await pynwheel(sb, ['run', 'target.py'])).stdout.toString(), 'ran\n', 'the owner runs');
  fs.rmSync(marker);
  const socket = path.join(sb.runtimeDir, 'daemon.sock');

  const connect = await asNobody(`try { native.connect(${JSON.stringify(socket)}); console.log('connected'); } catch (e) { console.log(e.code); }`);
  t.equal(connect.stdout.toString().trim(), 'EACCES', 'nobody cannot reach the socket in a 0700 directory');

  const replace = await asNobody(`
    for (const step of ['unlink', 'bind']) {
      try {
        if (step === 'unlink') require('fs').unlinkSync(${JSON.stringify(socket)});
        else native.listen(${JSON.stringify(path.join(sb.runtimeDir, 'evil.sock'))}, 1);
        console.log(step, 'done');
      } catch (e) { console.log(step, e.code); }
    }`);
  t.equal(replace.stdout.toString(), 'unlink EACCES\nbind EACCES\n', 'nobody cannot remove or plant a socket');
  t.ok(fs.existsSync(socket), 'the socket is intact');

  const cli = await asNobody(`
    const r = require('child_process').spawnSync(process.execPath, [${JSON.stringify(path.join(nobodysRoot, 'bin', 'pynwheel.js'))}, 'run', ${JSON.stringify(path.join(sb.dir, 'target.py'))}], { env: { PATH: process.env.PATH, PYNWHEEL_RUNTIME_DIR: ${JSON.stringify(sb.runtimeDir)} } });
    console.log(JSON.stringify({ status: r.status, stderr: r.stderr.toString() }));`);
  const viaCli = JSON.parse(cli.stdout.toString());
  t.equal(viaCli.status, 125, 'the CLI as nobody fails');
  t.match(viaCli.stderr, /belongs to uid 0, not to you \(uid 65534\)/, 'and says why');

  // Open the doors a file mode would open: the peer check still refuses.
  fs.chmodSync(sb.runtimeDir, 0o711);
  fs.chmodSync(socket, 0o777);
  try {
    const peer = await asNobody(`
      const fd = native.connect(${JSON.stringify(socket)});
      const request = { type: 'run', client: 'x', file: ${JSON.stringify(path.join(sb.dir, 'target.py'))}, args: [], cwd: '/', env: {}, python: ${JSON.stringify(path.join(sb.venv, 'bin', 'python3'))}, argv0: 'python3', stdio: [true, true, true], cwdFd: false };
      const payload = Buffer.from(JSON.stringify(request));
      const header = Buffer.alloc(8); header.write('PN', 0, 'latin1'); header.writeUInt8(1, 2); header.writeUInt8(3, 3); header.writeUInt32BE(payload.length, 4);
      try { native.sendMsg(fd, Buffer.concat([header, payload]), [0, 1, 2]); } catch (e) { console.log('send', e.code); }
      let reply = Buffer.alloc(0);
      try {
        for (;;) { const got = native.recvMsg(fd, 65536, 4); if (!got || !got.data.length) break; reply = Buffer.concat([reply, got.data]); }
      } catch (e) { console.log(JSON.stringify({ reset: e.code })); }
      console.log(reply.length ? reply.subarray(8).toString() : JSON.stringify({ closed: true }));`);
    // The daemon answers at once and closes: the client sees the refusal, or (if it was still
    // sending) a reset. Either way it was refused; the log and the missing marker prove it.
    const answer = JSON.parse(peer.stdout.toString().trim().split('\n').pop()!);
    t.ok(answer.code === 'EPERM' || answer.closed === true, `refused by the peer check: ${JSON.stringify(answer)}`);
    if (answer.code) t.match(answer.message, /serves uid 0 only/);
  } finally {
    fs.chmodSync(socket, 0o755);
    fs.chmodSync(sb.runtimeDir, 0o700);
  }
  t.notOk(fs.existsSync(marker), 'nothing ran for nobody');
  t.match(fs.readFileSync(path.join(sb.runtimeDir, 'daemon.log'), 'utf8'), /refused a client of uid 65534/, 'the refusal is logged');
  t.equal((await pynwheel(sb, ['run', 'target.py'])).stdout.toString(), 'ran\n', 'the owner is still served');
});
