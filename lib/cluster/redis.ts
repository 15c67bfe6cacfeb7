// Runs in a submitter's process and in a worker's: Redis connections from a URL, and the checks
// made before anything is queued (reachable, version, eviction policy).
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { PynwheelError } from '../shared/errors';

/** BullMQ needs 5.0; below 6.2 some of its commands are emulated. */
const MIN_VERSION = [5, 0, 0];

/**
 * ioredis options for `redis://[user:pass@]host[:port][/db]`, `rediss://` (TLS) or
 * `unix:///path/to/redis.sock[?db=N&password=...]` (also `redis+unix://`).
 * TLS (rediss://): the server's certificate is checked against `?ca=FILE` (PEM), else
 * $PYNWHEEL_REDIS_CA, else the system's CAs; `?cert=FILE&key=FILE` for a client certificate
 * (a server with tls-auth-clients yes, Redis's default).
 */
export function redisOptions(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PynwheelError('EREDIS', `${JSON.stringify(url)} is not a Redis URL (redis://host:port, rediss://host:port or unix:///path/redis.sock)`);
  }
  const user = parsed.username ? decodeURIComponent(parsed.username) : undefined;
  const password = parsed.password ? decodeURIComponent(parsed.password) : parsed.searchParams.get('password') ?? undefined;
  const dbText = parsed.protocol.startsWith('unix') || parsed.protocol === 'redis+unix:' ? parsed.searchParams.get('db') : parsed.pathname.slice(1) || parsed.searchParams.get('db');
  const db = dbText ? Number(dbText) : 0;
  if (!Number.isInteger(db) || db < 0) throw new PynwheelError('EREDIS', `${redact(url)}: the database ${JSON.stringify(dbText)} is not a number`);
  const common: RedisOptions = { username: user, password, db, lazyConnect: true };
  switch (parsed.protocol) {
    case 'redis:': case 'rediss:': {
      if (!parsed.hostname) throw new PynwheelError('EREDIS', `${redact(url)}: no host`);
      const port = parsed.port ? Number(parsed.port) : 6379;
      const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
      return { ...common, host, port, ...(parsed.protocol === 'rediss:' ? { tls: tlsOptions(url, parsed, host) } : {}) };
    }
    case 'unix:': case 'redis+unix:':
      if (!parsed.pathname || parsed.pathname === '/') throw new PynwheelError('EREDIS', `${redact(url)}: no socket path`);
      return { ...common, path: decodeURIComponent(parsed.pathname) };
    default:
      throw new PynwheelError('EREDIS', `${redact(url)}: the scheme ${parsed.protocol} is not redis:, rediss: or unix:`);
  }
}

function tlsOptions(url: string, parsed: URL, host: string): NonNullable<RedisOptions['tls']> {
  const read = (what: string, file: string | null | undefined): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new PynwheelError('EREDIS', `${redact(url)}: the ${what} file ${file}: ${(err as Error).message}`);
    }
  };
  const ca = read('CA', parsed.searchParams.get('ca') ?? process.env.PYNWHEEL_REDIS_CA);
  const cert = read('client certificate', parsed.searchParams.get('cert'));
  const key = read('client key', parsed.searchParams.get('key'));
  // (an IP address is no server name: RFC 6066; the certificate's IP SAN is checked)
  return { ...(isIP(host) ? {} : { servername: host }), ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * A connection for BullMQ (maxRetriesPerRequest null: commands wait through a reconnect).
 * `retry` false: the first failure to connect is final (for the checks).
 */
export function connection(url: string, retry = true): Redis {
  const options = redisOptions(url);
  return new Redis({
    ...options,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    // Reconnect forever, at most every 2 s: a Redis restart is waited out.
    retryStrategy: retry ? (times) => Math.min(100 * times, 2000) : () => null,
    connectTimeout: 5000,
  });
}

/**
 * Connects once and checks what BullMQ and pynwheel need; a clear PynwheelError otherwise. Run
 * by submitters and workers before they queue or take anything.
 */
export async function checkRedis(url: string): Promise<{ version: string }> {
  const probe = connection(url, false);
  let cause: Error | null = null;
  probe.on('error', (err: Error) => { cause ??= err; }); // the socket's own error, reported below
  try {
    try {
      await probe.connect();
    } catch (err) {
      const why = (cause ?? err as Error).message;
      // A wrong user or password is no unreachable server: say which it is.
      if (/WRONGPASS|NOAUTH|NOPERM|invalid password|AUTH failed/i.test(why)) {
        const user = redisOptions(url).username;
        throw new PynwheelError('EREDIS', `Redis at ${redact(url)} refused the login${user ? ` of user ${user}` : ''}: ${why} (the user and password go in the URL: redis://user:password@host:port)`);
      }
      throw new PynwheelError('EREDIS', `cannot reach Redis at ${redact(url)}: ${why}`);
    }
    let info: string;
    try {
      info = await probe.info();
    } catch (err) {
      throw new PynwheelError('EREDIS', `Redis at ${redact(url)} refused INFO: ${(err as Error).message}`);
    }
    const field = (name: string): string | undefined => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
    const version = field('redis_version') ?? '0';
    const parts = version.split('.').map(Number);
    for (let i = 0; i < 3; i++) {
      if ((parts[i] ?? 0) > MIN_VERSION[i]) break;
      if ((parts[i] ?? 0) < MIN_VERSION[i]) throw new PynwheelError('EREDIS', `Redis at ${redact(url)} is version ${version}; BullMQ needs ${MIN_VERSION.join('.')} or newer (6.2 recommended)`);
    }
    const policy = field('maxmemory_policy');
    if (policy !== undefined && policy !== 'noeviction') {
      throw new PynwheelError('EREDIS', `Redis at ${redact(url)} has maxmemory-policy ${policy}: it would evict queued jobs; set it to noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf)`);
    }
    return { version };
  } finally {
    probe.disconnect();
  }
}
