// Runs in the Node client (the CLI, or a Node API caller's process): reaching the daemon,
// connecting to its socket, or starting one (dist/daemon/main.js) and waiting for it to listen.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PynwheelError } from '../shared/errors';
import { native } from '../shared/native';
import { isAlive } from '../shared/proc-stat';
import type { RuntimePaths } from '../shared/runtime-dir';

const DAEMON_MAIN = path.resolve(__dirname, '..', 'daemon', 'main.js');
const START_TIMEOUT_MS = 15_000;

/** A connected fd, or null when no daemon listens (no socket, or a stale one). */
export function tryConnect(paths: RuntimePaths): number | null {
  try {
    return native.connect(paths.socket);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return null;
    throw new PynwheelError('ECONNECT', `cannot connect to the pynwheel daemon at ${paths.socket}: ${(err as Error).message}`, { cause: err });
  }
}

/** Connect, starting the daemon first if none is running. */
export async function connectOrStart(paths: RuntimePaths, env: NodeJS.ProcessEnv): Promise<number> {
  const fd = tryConnect(paths);
  if (fd !== null) return fd;
  const daemon = startDaemon(paths, env);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    await sleep(delay);
    const connected = tryConnect(paths);
    if (connected !== null) return connected;
    // Status 0 means another client's daemon won the race for the lock: keep waiting for it.
    if (daemon.failed !== null) {
      throw new PynwheelError('EDAEMON', `the pynwheel daemon failed to start (${daemon.failed}); see ${paths.log}:\n${logTail(paths.log)}`);
    }
    if (Date.now() > deadline) {
      throw new PynwheelError('EDAEMON', `the pynwheel daemon did not start listening within ${START_TIMEOUT_MS} ms; see ${paths.log}`);
    }
  }
}

/**
 * A daemon of another pynwheel version answered: stop it (by its pid file and SIGTERM, which
 * works whatever protocol it speaks) and wait until it is gone, so that a new one can start.
 */
export async function replaceDaemon(paths: RuntimePaths): Promise<void> {
  let pid = 0;
  try {
    pid = Number(fs.readFileSync(path.join(paths.dir, 'daemon.pid'), 'utf8'));
  } catch {
    /* no pid file: nothing we can stop */
  }
  if (pid > 0 && isAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  }
  // Whatever answered must not answer again.
  fs.rmSync(paths.socket, { force: true });
}

/** `args`: the daemon's (`--warm JSON`: a warm-up to begin with, lib/client/cold.ts). */
export function startDaemon(paths: RuntimePaths, env: NodeJS.ProcessEnv, args: string[] = []): { failed: string | null } {
  const logFd = fs.openSync(paths.log, 'a', 0o600);
  const state = { failed: null as string | null };
  try {
    const child = spawn(process.execPath, [DAEMON_MAIN, ...args], {
      detached: true, // its own session: it outlives this client and the terminal
      stdio: ['ignore', logFd, logFd],
      cwd: '/',
      env: daemonEnvironment(env, paths),
    });
    child.on('error', (err) => { state.failed = err.message; });
    child.on('exit', (code, signal) => {
      if (signal) state.failed = `killed by ${signal}`;
      else if (code !== 0) state.failed = `exited with status ${code}`;
    });
    child.unref();
  } finally {
    fs.closeSync(logFd);
  }
  return state;
}

/**
 * The daemon's own environment: only what it reads. Zygotes get each caller's environment
 * from the request, and a caller's NODE_OPTIONS (a loader, an inspector) is not for the daemon.
 */
function daemonEnvironment(env: NodeJS.ProcessEnv, paths: RuntimePaths): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'PYNWHEEL_IDLE', 'PYNWHEEL_ZYGOTE_IDLE', 'PYNWHEEL_MAX_ZYGOTES', 'PYNWHEEL_SESSION_ZYGOTES'];
  const out: NodeJS.ProcessEnv = { PYNWHEEL_RUNTIME_DIR: paths.dir };
  for (const name of keep) if (env[name] !== undefined) out[name] = env[name];
  return out;
}

function logTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-12).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
