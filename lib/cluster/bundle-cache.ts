// Runs in a worker's process: code bundles fetched from Redis once per hash, checked against
// their hash, and unpacked read-only into a directory per hash, where the jobs run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Redis } from 'ioredis';
import { PynwheelError } from '../shared/errors';
import { bundleHash, decodeBundle } from './bundle-format';
import { bundleKey } from './job-format';

export class BundleCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(private readonly dir: string, private readonly redis: Redis) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** The directory of the bundle `hash`, unpacked on first use. */
  directory(hash: string): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(hash)) return Promise.reject(new PynwheelError('EBUNDLE', `code hash ${JSON.stringify(hash)} is not a sha256`));
    const target = path.join(this.dir, hash);
    if (fs.existsSync(target)) return Promise.resolve(target);
    let job = this.pending.get(hash);
    if (job === undefined) {
      job = this.fetch(hash, target).finally(() => this.pending.delete(hash));
      this.pending.set(hash, job);
    }
    return job;
  }

  private async fetch(hash: string, target: string): Promise<string> {
    const bytes = await this.redis.getBuffer(bundleKey(hash));
    if (bytes === null) throw new PynwheelError('EBUNDLE', `code bundle ${hash.slice(0, 12)} is not in Redis (expired, or the submitter did not store it)`);
    if (bundleHash(bytes) !== hash) throw new PynwheelError('EBUNDLE', `code bundle ${hash.slice(0, 12)} in Redis does not match its hash`);
    const files = decodeBundle(bytes);
    const staging = fs.mkdtempSync(path.join(this.dir, `.${hash.slice(0, 12)}-`));
    try {
      const dirs = new Set<string>();
      for (const file of files) {
        const abs = path.join(staging, file.path);
        const parent = path.dirname(abs);
        fs.mkdirSync(parent, { recursive: true });
        for (let d = parent; d !== staging; d = path.dirname(d)) dirs.add(d);
        fs.writeFileSync(abs, file.data, { mode: 0o600 });
        // Read-only: a job never changes the code the next job of this hash runs.
        fs.chmodSync(abs, (file.mode & 0o111) !== 0 ? 0o555 : 0o444);
      }
      for (const d of [...dirs].sort((a, b) => b.length - a.length)) fs.chmodSync(d, 0o555);
      fs.chmodSync(staging, 0o555);
      try {
        fs.renameSync(staging, target);
      } catch (err) {
        if (!fs.existsSync(target)) throw err; // else another worker of this cache dir was first
        removeTree(staging);
      }
    } catch (err) {
      removeTree(staging);
      throw err;
    }
    return target;
  }
}

/** rm -r of a read-only tree. */
export function removeTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const unlock = (d: string): void => {
    fs.chmodSync(d, 0o700);
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) if (entry.isDirectory()) unlock(path.join(d, entry.name));
  };
  try {
    unlock(dir);
  } catch {
    /* removed below as far as it can be */
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
