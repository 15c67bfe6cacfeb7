// Runs in a Node API caller's process.
// Capturing a piped stream for the result, within maxBuffer, and giving it back as the
// options ask: Buffer, string, or (mode 'json') one parsed value per stdout line.
import type { Readable } from 'node:stream';
import type { Mode } from './options';

export class Capture {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  /** Set once more than maxBuffer bytes came; what fits is kept. */
  exceeded = false;

  constructor(stream: Readable, private readonly maxBuffer: number, onExceeded: () => void) {
    stream.on('data', (chunk: Buffer) => {
      if (this.exceeded) return;
      const room = this.maxBuffer - this.length;
      if (chunk.length > room) {
        this.exceeded = true;
        if (room > 0) this.keep(chunk.subarray(0, room));
        onExceeded();
        return;
      }
      this.keep(chunk);
    });
  }

  bytes(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length);
  }

  private keep(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }
}

/** Thrown by decodeStdout for a line that is not JSON. */
export class BadJsonLine extends Error {
  constructor(readonly line: string, readonly parsed: unknown[], cause: unknown) {
    super('not JSON', { cause });
  }
}

export function decodeStderr(bytes: Buffer, mode: Mode, encoding: BufferEncoding | null): Buffer | string {
  return mode === 'buffer' || encoding === null ? bytes : bytes.toString(encoding);
}

/** In mode 'json', as python-shell: each non-blank line is one JSON value. */
export function decodeStdout(bytes: Buffer, mode: Mode, encoding: BufferEncoding | null): Buffer | string | unknown[] {
  if (mode !== 'json') return decodeStderr(bytes, mode, encoding);
  const parsed: unknown[] = [];
  for (const line of bytes.toString(encoding ?? 'utf8').split(/\r?\n/)) {
    if (line.trim() === '') continue;
    try {
      parsed.push(JSON.parse(line));
    } catch (err) {
      throw new BadJsonLine(line, parsed, err);
    }
  }
  return parsed;
}
