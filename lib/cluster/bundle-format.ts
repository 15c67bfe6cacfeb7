// Runs in a submitter's process (packing) and in a worker's (unpacking): the code bundle's bytes.
// A plain format of our own: "PNWB1\n", then per file (sorted by path, so the same tree always
// gives the same bytes and hash) u32 path length, the path (UTF-8, relative, '/'-separated),
// u32 mode bits, u64 size, the contents. Big-endian.
import { createHash } from 'node:crypto';
import { PynwheelError } from '../shared/errors';

const MAGIC = Buffer.from('PNWB1\n', 'latin1');

export interface BundleFile { path: string; mode: number; data: Buffer }

export function encodeBundle(files: readonly BundleFile[]): Buffer {
  const parts: Buffer[] = [MAGIC];
  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const name = Buffer.from(file.path, 'utf8');
    const head = Buffer.alloc(4 + name.length + 4 + 8);
    head.writeUInt32BE(name.length, 0);
    name.copy(head, 4);
    head.writeUInt32BE(file.mode & 0o777, 4 + name.length);
    head.writeBigUInt64BE(BigInt(file.data.length), 8 + name.length);
    parts.push(head, file.data);
  }
  return Buffer.concat(parts);
}

/** The files of a bundle; a path that would leave the bundle's directory is an error. */
export function decodeBundle(bytes: Buffer): BundleFile[] {
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new PynwheelError('EBUNDLE', 'not a pynwheel code bundle');
  const files: BundleFile[] = [];
  let at = MAGIC.length;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new PynwheelError('EBUNDLE', 'code bundle is truncated');
    const nameLength = bytes.readUInt32BE(at);
    const end = at + 4 + nameLength + 12;
    if (end > bytes.length) throw new PynwheelError('EBUNDLE', 'code bundle is truncated');
    const name = bytes.toString('utf8', at + 4, at + 4 + nameLength);
    const mode = bytes.readUInt32BE(at + 4 + nameLength);
    const size = Number(bytes.readBigUInt64BE(at + 8 + nameLength));
    if (end + size > bytes.length) throw new PynwheelError('EBUNDLE', 'code bundle is truncated');
    if (!safePath(name)) throw new PynwheelError('EBUNDLE', `code bundle has an unsafe path ${JSON.stringify(name)}`);
    files.push({ path: name, mode, data: bytes.subarray(end, end + size) });
    at = end + size;
  }
  return files;
}

export function bundleHash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function safePath(name: string): boolean {
  return name.length > 0 && !name.startsWith('/') && !name.includes('\0') && name.split('/').every((p) => p !== '' && p !== '.' && p !== '..');
}
