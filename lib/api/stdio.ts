// Runs in a Node API caller's process.
// The run's fds 0, 1 and 2, made in this process and passed to the run with SCM_RIGHTS, so
// that output goes straight from the run to us, never through the daemon. A 'pipe' is a
// socketpair, as libuv makes for child_process.spawn, so the script sees the same kind of fd.
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Readable, Stream, Writable } from 'node:stream';
import { closeQuietly } from '../shared/fds';
import { native } from '../shared/native';
import type { StdioEntry } from './options';

export interface StdioSetup {
  /** The fds that become the run's 0, 1, 2 (null: closed, as python then has sys.stdin None). */
  childFds: [number | null, number | null, number | null];
  /** Our ends of the 'pipe' entries (null for the others), as spawn() shows them. */
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  /** Our ends that carry output to read, including those piped on to a caller's stream. */
  readers: Readable[];
  /** Close the fds made for the run; the run has its own copies once it has started. */
  closeChildEnds(): void;
  /** Close everything made here (the run could not start). */
  destroy(): void;
}

/** Makes the fds; on failure closes what was made and throws. */
export function createStdio(entries: readonly StdioEntry[]): StdioSetup {
  const childEnds: number[] = [];
  const parentStreams: net.Socket[] = [];
  const setup: StdioSetup = {
    childFds: [null, null, null],
    stdin: null,
    stdout: null,
    stderr: null,
    readers: [],
    closeChildEnds() {
      childEnds.splice(0).forEach(closeQuietly);
    },
    destroy() {
      setup.closeChildEnds();
      for (const stream of parentStreams) stream.destroy();
    },
  };
  try {
    entries.forEach((entry, fd) => {
      const isInput = fd === 0;
      if (entry === 'inherit') {
        setup.childFds[fd] = native.fdKind(fd) === null ? null : fd;
      } else if (entry === 'ignore') {
        const devNull = fs.openSync('/dev/null', isInput ? 'r' : 'w');
        childEnds.push(devNull);
        setup.childFds[fd] = devNull;
      } else if (typeof entry === 'number') {
        if (native.fdKind(entry) === null) throw Object.assign(new Error(`pynwheel: stdio[${fd}] fd ${entry} is not open`), { code: 'EBADF' });
        setup.childFds[fd] = entry;
      } else if (entry && entry !== 'pipe' && streamFd(entry) !== null) {
        setup.childFds[fd] = streamFd(entry);
      } else {
        // 'pipe', or a stream without an fd of its own: a socketpair, and the stream fed from
        // (or into) our end.
        const [ours, theirs] = native.socketpair();
        childEnds.push(theirs);
        setup.childFds[fd] = theirs;
        const socket = new net.Socket({ fd: ours, readable: !isInput, writable: isInput });
        parentStreams.push(socket);
        if (!isInput) setup.readers.push(socket);
        if (entry && entry !== 'pipe') {
          if (isInput) {
            socket.on('error', ignoreBrokenPipe); // the run may exit before reading it all
            (entry as unknown as Readable).pipe(socket);
          } else {
            socket.pipe(entry as unknown as Writable);
          }
        } else if (fd === 0) {
          setup.stdin = socket;
        } else if (fd === 1) {
          setup.stdout = socket;
        } else {
          setup.stderr = socket;
        }
      }
    });
  } catch (err) {
    setup.destroy();
    throw err;
  }
  return setup;
}

/** A run that exits without reading all its input is no error (as for a shell's pipeline). */
export function ignoreBrokenPipe(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') throw err;
}

/** The fd under a stream, if it has one: fs streams once open, sockets, process.stdout. */
function streamFd(stream: Stream): number | null {
  const withFd = stream as unknown as { fd?: unknown; _handle?: { fd?: unknown } };
  const fd = typeof withFd.fd === 'number' ? withFd.fd : withFd._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}
