// Shared by the cluster tests: a redis-server of their own (a private directory, a unix socket and
// a free 127.0.0.1 port), stopped at the end; restartable on the same socket and port with its data
// (AOF, fsync always), as a Redis restart in production keeps what it had written.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where redis-server is; when it is missing, Debian's package is installed if we may (root with apt), else a clear stop. */
export function redisServerBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  if (process.getuid?.() === 0 && fs.existsSync('/usr/bin/apt-get')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'inherit', env });
    const again = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
    if (again.status === 0 && again.stdout.trim()) return again.stdout.trim();
  }
  throw new Error('the cluster tests need redis-server: install Debian\'s package `redis-server` (apt-get install redis-server), or put redis-server on PATH');
}

export interface TestRedis {
  dir: string;
  socket: string;
  port: number;
  /** unix:///.../redis.sock */
  url: string;
  /** redis://127.0.0.1:PORT */
  tcpUrl: string;
  /** Stops the server (SIGTERM: it writes what it has), waits for its exit. */
  stop(): Promise<void>;
  /** Starts it again on the same socket, port and data. */
  start(): Promise<void>;
  /** A redis-cli command against it. */
  cli(...args: string[]): string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedis(extra: string[] = []): Promise<TestRedis> {
  const binary = redisServerBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pnw-redis-'));
  const socket = path.join(dir, 'redis.sock');
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    child = spawn(binary, [
      '--port', String(port), '--bind', '127.0.0.1', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir,
      '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'), ...extra,
    ], { stdio: 'ignore' });
    const deadline = Date.now() + 10000;
    while (!fs.existsSync(socket)) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${fs.readFileSync(path.join(dir, 'redis.log'), 'utf8').slice(-2000)}`);
      if (Date.now() > deadline) throw new Error('redis-server did not start in 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await gone;
  };
  await start();
  return {
    dir, socket, port, url: `unix://${socket}`, tcpUrl: `redis://127.0.0.1:${port}`,
    start, stop,
    cli: (...args: string[]) => spawnSync('redis-cli', ['-s', socket, ...args], { encoding: 'utf8' }).stdout.trim(),
  };
}

export async function removeRedis(redis: TestRedis): Promise<void> {
  await redis.stop();
  fs.rmSync(redis.dir, { recursive: true, force: true });
}
