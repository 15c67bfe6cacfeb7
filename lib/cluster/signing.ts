// Runs in a submitter's process (lib/cluster/submitter.ts) and in a worker's (lib/cluster/worker.ts).
// HMAC-SHA256 signatures of jobs and results with the cluster's shared key. A job is code that a
// worker executes and a result is a value the submitter decodes, so both are signed; the key
// travels in neither. The vectors in test/vectors/cluster-signature.json pin the signed bytes.
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import { PynwheelError } from '../shared/errors';

export const KEY_VARIABLE = 'PYNWHEEL_CLUSTER_KEY';
/** A shorter key is too easy to guess: 16 bytes, as 32 hex digits or any 16 characters. */
const MIN_KEY_BYTES = 16;

/** The key from --key-file (its contents, trailing newline dropped) or $PYNWHEEL_CLUSTER_KEY. */
export function loadKey(keyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Buffer {
  let key: Buffer;
  let from: string;
  if (keyFile !== undefined) {
    try {
      key = Buffer.from(fs.readFileSync(keyFile, 'utf8').replace(/\r?\n$/, ''), 'utf8');
    } catch (err) {
      throw new PynwheelError('ECLUSTERKEY', `cannot read the cluster key file ${keyFile}: ${(err as Error).message}`);
    }
    from = `the key file ${keyFile}`;
  } else if (env[KEY_VARIABLE]) {
    key = Buffer.from(env[KEY_VARIABLE]!, 'utf8');
    from = `$${KEY_VARIABLE}`;
  } else {
    throw new PynwheelError('ECLUSTERKEY', `no cluster key: set $${KEY_VARIABLE} or give a key file (the same key on every worker and submitter)`);
  }
  return checkKey(key, from);
}

/** A key given in code (cluster(url, { key })) is held to the same length. */
export function checkKey(key: Buffer, from: string): Buffer {
  if (key.length < MIN_KEY_BYTES) throw new PynwheelError('ECLUSTERKEY', `the cluster key from ${from} is shorter than ${MIN_KEY_BYTES} bytes`);
  return key;
}

/** What a job's signature covers, in this order, each field NUL-terminated. */
export function jobSigningBytes(id: string, expires: number, codeHash: string, payload: string): Buffer {
  return Buffer.from(`pynwheel-job-v1\0${id}\0${expires}\0${codeHash}\0${payload}\0`, 'utf8');
}

/** A result's: the job it answers, the attempt that produced it and its payload. */
export function resultSigningBytes(id: string, payload: string): Buffer {
  return Buffer.from(`pynwheel-result-v1\0${id}\0${payload}\0`, 'utf8');
}

export function sign(key: Buffer, bytes: Buffer): string {
  return createHmac('sha256', key).update(bytes).digest('hex');
}

/** Constant-time comparison: a wrong signature says nothing of the right one. */
export function verify(key: Buffer, bytes: Buffer, signature: unknown): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return false;
  return timingSafeEqual(Buffer.from(sign(key, bytes), 'hex'), Buffer.from(signature, 'hex'));
}
