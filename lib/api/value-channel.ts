// Runs in a Node API caller's process.
// A call's values on its channel (docs/PROTOCOL.md, "Calls"): the tree inline in the frame's
// JSON (or in the memfd when long), the blobs as raw bytes in one memfd passed with the frame,
// each at an offset aligned for any typed array. python/_pynwheel/call.py is the other end.
import * as fs from 'node:fs';
import type { FdChannel } from '../shared/channel';
import { closeQuietly } from '../shared/fds';
import { native } from '../shared/native';
import type { Frame } from '../shared/wire';
import { decodeValue, type Encoded } from './codec';

const BLOB_ALIGN = 64;
/** A value's JSON longer than this travels in the memfd too (a frame is at most 64 MiB). */
const INLINE_JSON_BYTES = 1 << 20;

/** A value's message, ready to send: its memfd (or null) goes with it, and is the sender's to close once the call is over. */
export interface OutgoingValue { message: Record<string, unknown>; memfd: number | null }

/** `message` with the value: the tree inline, or (blobs, a long tree) a memfd written now. */
export function prepareValue(message: Record<string, unknown>, encoded: Encoded): OutgoingValue {
  const text = JSON.stringify(encoded.tree);
  const parts = [...encoded.blobs];
  const long = text.length > INLINE_JSON_BYTES / 4 && Buffer.byteLength(text) > INLINE_JSON_BYTES;
  if (long) parts.push(Buffer.from(text));
  else message.value = encoded.tree;
  if (parts.length === 0) return { message, memfd: null };
  const places: Array<[number, number]> = [];
  let size = 0;
  for (const part of parts) {
    places.push([size, part.byteLength]);
    size += Math.ceil(part.byteLength / BLOB_ALIGN) * BLOB_ALIGN;
  }
  const fd = native.memfdCreate('pynwheel-value');
  try {
    fs.ftruncateSync(fd, size);
    parts.forEach((part, i) => writeAll(fd, part, places[i][0]));
  } catch (err) {
    closeQuietly(fd);
    throw err;
  }
  if (long) message.body = places.pop();
  message.blobs = places;
  return { message, memfd: fd };
}

export function sendValue(channel: FdChannel, value: OutgoingValue): void {
  channel.send(value.message, value.memfd === null ? [] : [value.memfd]);
}

/** The whole file as one buffer at offset 0 of its ArrayBuffer: every blob's offset is aligned for its typed array. */
function mapOrRead(fd: number): Buffer {
  try {
    return Buffer.from(native.mapFile(fd));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).syscall !== 'mmap') throw err;
  }
  const size = fs.fstatSync(fd).size;
  const memory = Buffer.allocUnsafeSlow(size);
  let done = 0;
  while (done < size) {
    const got = fs.readSync(fd, memory, done, size - done, done);
    if (got === 0) throw new Error('pynwheel: a value\'s memory file ended early');
    done += got;
  }
  return memory;
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) done += fs.writeSync(fd, data, done, data.byteLength - done, position + done);
}

/**
 * The JavaScript value a frame carries. Its memfd is mapped (private and writable: the blobs
 * are views of it, no copy), or where it cannot be, read whole into memory of its own.
 */
export function receiveValue(frame: Frame): unknown {
  const { message, fds } = frame;
  if (fds.length === 0) return decodeValue(message.value, []);
  fds.slice(1).forEach(closeQuietly);
  let memory: Buffer;
  try {
    memory = mapOrRead(fds[0]);
  } finally {
    closeQuietly(fds[0]);
  }
  const places = (message.blobs as Array<[number, number]> | undefined) ?? [];
  const blobs = places.map(([offset, length]) => memory.subarray(offset, offset + length));
  const body = message.body as [number, number] | undefined;
  const tree = body ? JSON.parse(memory.toString('utf8', body[0], body[0] + body[1])) : message.value;
  return decodeValue(tree, blobs);
}
