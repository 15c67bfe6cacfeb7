// Routes: how the native client finds a script's zygote without asking the daemon. After a run
// of a script, the daemon links `<runtime dir>/r/<name>` to the lane socket of the zygote that
// ran it, where the name is a hash of what the client knows before it connects (interpreter,
// cwd, file as typed). The client connects there and the zygote's spare checks the request
// itself (key, script, freshness), declining anything it is not sure of; a route is only a hint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log } from './log';

/** Routes kept, most recently published last; older ones are removed. */
const MAX_ROUTES = 4096;

/**
 * FNV-1a (64 bits) of `python \0 cwd \0 file` in UTF-8, as 16 hex digits; native/runner/main.cc
 * computes the same. Not a secret: only the user can reach the directory. In two 32-bit halves
 * (a client computes it on every run; BigInt arithmetic is seven times slower).
 */
export function routeName(python: string, cwd: string, file: string): string {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const byte of Buffer.from(`${python}\0${cwd}\0${file}`)) {
    lo = (lo ^ byte) >>> 0;
    // times 0x100000001b3 = 2^40 + 0x1b3, modulo 2^64
    const low = lo * 0x1b3; // exact: below 2^41
    hi = (Math.imul(hi, 0x1b3) + Math.floor(low / 0x100000000) + (lo << 8)) >>> 0;
    lo = low >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export class Routes {
  readonly dir: string;
  private readonly targets = new Map<string, string>();

  constructor(runtimeDir: string) {
    this.dir = path.join(runtimeDir, 'r');
  }

  /** Starts empty: routes of an earlier daemon lead to zygotes that are gone. */
  reset(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    fs.mkdirSync(this.dir, { mode: 0o700 });
    this.targets.clear();
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.targets.clear();
  }

  /** The next runs of this script may go straight to `lane`. */
  publish(python: string, cwd: string, file: string, lane: string): void {
    const name = routeName(python, cwd, file);
    if (this.targets.get(name) === lane) return;
    const link = path.join(this.dir, name);
    const temporary = `${link}.${process.pid}.tmp`;
    try {
      fs.rmSync(temporary, { force: true });
      fs.symlinkSync(lane, temporary);
      fs.renameSync(temporary, link); // atomic: a client sees the old route or the new one
    } catch (err) {
      log(`could not publish a route to ${lane}: ${(err as Error).message}`);
      return;
    }
    this.targets.delete(name);
    this.targets.set(name, lane);
    if (this.targets.size > MAX_ROUTES) {
      const oldest = this.targets.keys().next().value!;
      this.targets.delete(oldest);
      fs.rmSync(path.join(this.dir, oldest), { force: true });
    }
  }

  /** A zygote ended: its routes go (a client would find nothing there and ask the daemon). */
  forget(lane: string): void {
    for (const [name, target] of this.targets) {
      if (target !== lane) continue;
      this.targets.delete(name);
      fs.rmSync(path.join(this.dir, name), { force: true });
    }
  }
}
