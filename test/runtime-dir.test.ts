// Where the daemon lives (lib/shared/runtime-dir.ts): which directory, and the checks that
// keep other users out, on real directories.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkRuntimeDir, ensureRuntimeDir, pathsIn, runtimeDirFor } from '../lib/shared/runtime-dir';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-rtdir-'));
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
const uid = os.userInfo().uid;

t.test('which directory: PYNWHEEL_RUNTIME_DIR, else XDG_RUNTIME_DIR/pynwheel, else TMPDIR or /tmp', async (t) => {
  t.equal(runtimeDirFor({ PYNWHEEL_RUNTIME_DIR: '/x/y/', XDG_RUNTIME_DIR: '/run/user/1', TMPDIR: '/t' }), '/x/y');
  t.equal(runtimeDirFor({ PYNWHEEL_RUNTIME_DIR: 'rel/dir' }), path.resolve(process.cwd(), 'rel/dir'), 'a relative one is the cwd\'s');
  t.equal(runtimeDirFor({ XDG_RUNTIME_DIR: '/run/user/1/', TMPDIR: '/t' }), '/run/user/1/pynwheel');
  t.equal(runtimeDirFor({ TMPDIR: '/t//' }), `/t/pynwheel-${uid}`);
  t.equal(runtimeDirFor({}), `/tmp/pynwheel-${uid}`);
  t.equal(runtimeDirFor({ PYNWHEEL_RUNTIME_DIR: '', XDG_RUNTIME_DIR: '', TMPDIR: '' }), `/tmp/pynwheel-${uid}`, 'empty values count as unset');
});

t.test('its files', async (t) => {
  t.same(pathsIn('/r'), { dir: '/r', socket: '/r/daemon.sock', lock: '/r/daemon.lock', log: '/r/daemon.log' });
});

t.test('ensureRuntimeDir makes a private directory, parents too', async (t) => {
  const dir = path.join(root, 'new/deeper');
  t.same(ensureRuntimeDir(dir), pathsIn(dir));
  t.equal(fs.statSync(dir).mode & 0o777, 0o700, 'mode 0700');
  t.same(ensureRuntimeDir(dir), pathsIn(dir), 'and takes it again');
});

t.test('a directory that is not safely ours is refused: ERUNTIMEDIR with the fix', async (t) => {
  const open = path.join(root, 'open');
  fs.mkdirSync(open, { mode: 0o755 });
  fs.chmodSync(open, 0o755);
  t.throws(() => checkRuntimeDir(open), { code: 'ERUNTIMEDIR', message: /open to other users \(mode 755\).*chmod 700/ });
  fs.chmodSync(open, 0o700);
  t.doesNotThrow(() => checkRuntimeDir(open), 'after chmod 700 it is fine');

  const link = path.join(root, 'link');
  fs.symlinkSync(open, link);
  t.throws(() => checkRuntimeDir(link), { code: 'ERUNTIMEDIR', message: /symbolic link/ });

  const file = path.join(root, 'file');
  fs.writeFileSync(file, '');
  t.throws(() => checkRuntimeDir(file), { code: 'ERUNTIMEDIR', message: /not a directory/ });
  t.throws(() => ensureRuntimeDir(path.join(file, 'sub')), { code: 'ERUNTIMEDIR', message: /cannot create/ }, 'under a file: cannot create');

  t.throws(() => checkRuntimeDir(path.join(root, 'missing')), { code: 'ERUNTIMEDIR', message: /cannot use/ });

  // sun_path holds 107 bytes and a NUL: daemon.sock must fit.
  const long = path.join(root, 'l'.repeat(108 - '/daemon.sock'.length - root.length - 1));
  t.equal(Buffer.byteLength(pathsIn(long).socket), 108);
  fs.mkdirSync(long, { mode: 0o700 });
  t.throws(() => checkRuntimeDir(long), { code: 'ERUNTIMEDIR', message: /too long a path for a Unix socket/ });
  const fits = long.slice(0, long.length - 1);
  fs.mkdirSync(fits, { mode: 0o700 });
  t.equal(Buffer.byteLength(pathsIn(fits).socket), 107);
  t.doesNotThrow(() => checkRuntimeDir(fits), 'a socket path of 107 bytes fits');
});

t.test('another user\'s directory is refused', async (t) => {
  // As root, a directory given to another uid; as anyone else, root's own "/".
  let theirs = '/';
  if (uid === 0) {
    theirs = path.join(root, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o700 });
    fs.chownSync(theirs, 12345, 12345);
  }
  t.throws(() => checkRuntimeDir(theirs), { code: 'ERUNTIMEDIR', message: new RegExp(`belongs to uid ${fs.statSync(theirs).uid}, not to you \\(uid ${uid}\\)`) });
});
