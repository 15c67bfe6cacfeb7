// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): the wire format that
// clients, the daemon and zygotes share (its constants: lib/shared/protocol.json).
//
// Every frame: an 8-byte header, then a JSON object.
//   bytes 0-1  magic "PN"            so a stray peer is recognised at once
//   byte  2    protocol version      a request of another version is never misread
//   byte  3    number of fds         the SCM_RIGHTS fds travel with the frame's first byte
//   bytes 4-7  payload length (u32 big-endian)
import { PynwheelError } from './errors';
import { closeQuietly } from './fds';
import { HEADER_SIZE, MAGIC, MAX_FDS_PER_FRAME, PROTOCOL_VERSION, type FrameError } from './protocol-constants';

export type Message = { type: string } & Record<string, unknown>;

/** A payload must be UTF-8: bytes that are not would become U+FFFD and be misread, not refused. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeFrame(message: object, fdCount: number): Buffer {
  const payload = Buffer.from(JSON.stringify(message), 'utf8');
  const frame = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  frame.writeUInt16BE(MAGIC, 0);
  frame.writeUInt8(PROTOCOL_VERSION, 2);
  frame.writeUInt8(fdCount, 3);
  frame.writeUInt32BE(payload.length, 4);
  payload.copy(frame, HEADER_SIZE);
  return frame;
}

export interface Frame { message: Message; fds: number[] }

/**
 * Reassembles frames from a byte stream and the fds that arrived with it. fds are queued in
 * arrival order; a frame takes as many as its header announces, and they must have arrived by
 * the time its last byte has. fds left over when no frame is pending are a protocol error.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly fdQueue: number[] = [];

  constructor(private readonly maxFrame: number) {}

  /**
   * Feed one recvmsg's worth; returns the frames it completed. Throws PynwheelError('EPROTO'),
   * or 'EVERSION' for a peer of another protocol version, with a frameErrors `reason`.
   */
  push(data: Buffer, fds: number[]): Frame[] {
    const frames: Frame[] = [];
    try {
      this.decodeInto(frames, data, fds);
    } catch (err) {
      // Frames decoded before the error are never handed out: their fds are ours to close.
      for (const frame of frames) frame.fds.forEach(closeQuietly);
      throw err;
    }
    return frames;
  }

  private decodeInto(frames: Frame[], data: Buffer, fds: number[]): void {
    if (data.length) {
      this.chunks.push(data);
      this.buffered += data.length;
    }
    this.fdQueue.push(...fds);
    for (;;) {
      if (this.buffered < HEADER_SIZE) break;
      const header = this.peek(HEADER_SIZE);
      const magic = header.readUInt16BE(0);
      const version = header.readUInt8(2);
      const fdCount = header.readUInt8(3);
      const length = header.readUInt32BE(4);
      if (magic !== MAGIC) throw protocolError('bad-magic', 'not a pynwheel frame (bad magic)');
      if (version !== PROTOCOL_VERSION) {
        throw new PynwheelError('EVERSION', `peer speaks protocol ${version}, this is protocol ${PROTOCOL_VERSION}`, { reason: 'other-version' });
      }
      if (length > this.maxFrame) throw protocolError('too-long', `frame of ${length} bytes is over the limit of ${this.maxFrame}`);
      if (fdCount > MAX_FDS_PER_FRAME) throw protocolError('too-many-fds', `frame announces ${fdCount} fds, at most ${MAX_FDS_PER_FRAME} are allowed`);
      if (this.buffered < HEADER_SIZE + length) break;
      if (this.fdQueue.length < fdCount) {
        throw protocolError('fds-missing', `frame announces ${fdCount} fds but ${this.fdQueue.length} arrived`);
      }
      const whole = this.take(HEADER_SIZE + length);
      const frameFds = this.fdQueue.splice(0, fdCount);
      let message: unknown;
      try {
        message = JSON.parse(UTF8.decode(whole.subarray(HEADER_SIZE)));
      } catch {
        frameFds.forEach(closeQuietly);
        throw protocolError('bad-json', 'payload is not valid JSON');
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message) ||
          typeof (message as Message).type !== 'string') {
        frameFds.forEach(closeQuietly);
        throw protocolError('not-message', 'payload is not an object with a string "type"');
      }
      frames.push({ message: message as Message, fds: frameFds });
    }
    if (this.buffered === 0 && this.fdQueue.length > 0) {
      throw protocolError('fds-unannounced', `${this.fdQueue.length} fds arrived that no frame announced`);
    }
  }

  /** fds received but not handed out; the owner closes them when it gives up the connection. */
  drainFds(): number[] {
    return this.fdQueue.splice(0);
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}

export function protocolError(reason: FrameError, message: string): PynwheelError {
  return new PynwheelError('EPROTO', message, { reason });
}
