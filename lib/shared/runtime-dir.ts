// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): where the daemon's
// socket, lock and log live, and the checks that keep other users out.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PynwheelError } from './errors';

/** daemon.log is kept under this size (the daemon rotates it: lib/daemon/log.ts). */
export const LOG_LIMIT_BYTES = 1024 * 1024;

export interface RuntimePaths {
  dir: string;
  socket: string;
  lock: string;
  log: string;
}

/** `$PYNWHEEL_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/pynwheel`, else `${TMPDIR:-/tmp}/pynwheel-<uid>`. */
export function runtimeDirFor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PYNWHEEL_RUNTIME_DIR) return path.resolve(env.PYNWHEEL_RUNTIME_DIR);
  if (env.XDG_RUNTIME_DIR) return path.join(path.resolve(env.XDG_RUNTIME_DIR), 'pynwheel');
  return path.join(path.resolve(env.TMPDIR || '/tmp'), `pynwheel-${os.userInfo().uid}`);
}

export function pathsIn(dir: string): RuntimePaths {
  return {
    dir,
    socket: path.join(dir, 'daemon.sock'),
    lock: path.join(dir, 'daemon.lock'),
    log: path.join(dir, 'daemon.log'),
  };
}

/** Creates the directory (mode 0700) if needed and refuses one that is not safely ours. */
export function ensureRuntimeDir(dir: string): RuntimePaths {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'EEXIST') {
      throw new PynwheelError('ERUNTIMEDIR', `cannot create the runtime directory ${dir}: ${e.message}. ` +
        'Set PYNWHEEL_RUNTIME_DIR to a directory you own.', { cause: err });
    }
  }
  checkRuntimeDir(dir);
  return pathsIn(dir);
}

export function checkRuntimeDir(dir: string): void {
  const uid = process.getuid ? process.getuid() : 0;
  const fix = `Remove it or set PYNWHEEL_RUNTIME_DIR to a directory only you can use (mode 0700).`;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (err) {
    throw new PynwheelError('ERUNTIMEDIR', `cannot use the runtime directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (st.isSymbolicLink()) {
    throw new PynwheelError('ERUNTIMEDIR', `the runtime directory ${dir} is a symbolic link, which someone else could redirect. ${fix}`);
  }
  if (!st.isDirectory()) {
    throw new PynwheelError('ERUNTIMEDIR', `the runtime directory ${dir} is not a directory. ${fix}`);
  }
  if (st.uid !== uid) {
    throw new PynwheelError('ERUNTIMEDIR', `the runtime directory ${dir} belongs to uid ${st.uid}, not to you (uid ${uid}). ${fix}`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new PynwheelError('ERUNTIMEDIR', `the runtime directory ${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}). ` +
      `Run \`chmod 700 ${dir}\`, or ${fix.charAt(0).toLowerCase()}${fix.slice(1)}`);
  }
  // sun_path holds 107 bytes and a NUL.
  if (Buffer.byteLength(pathsIn(dir).socket) > 107) {
    throw new PynwheelError('ERUNTIMEDIR', `the runtime directory ${dir} is too long a path for a Unix socket; set PYNWHEEL_RUNTIME_DIR to a shorter one.`);
  }
}
