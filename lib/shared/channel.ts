// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): a framed, fd-carrying
// connection over a non-blocking Unix stream socket, driven by the libuv loop through the
// addon's Poller. net.Socket never reads this fd: it would swallow SCM_RIGHTS messages.
import { EventEmitter } from 'node:events';
import { closeQuietly } from './fds';
import { closeSocket } from './socket-closes';
import { native, type Poller } from './native';
import { MAX_FDS_PER_FRAME } from './protocol-constants';
import { encodeFrame, FrameDecoder, protocolError, type Frame } from './wire';

const READ_SIZE = 64 * 1024;
/** recvmsg batches per wake-up, so one busy peer cannot starve the others. */
const READS_PER_WAKEUP = 32;
/**
 * Room for fds per recvmsg: one sendmsg's at most (a stream socket's recvmsg never joins two
 * messages' fds), which is a frame's limit, the kernel's SCM_MAX_FD and the addon's maximum.
 */
const FDS_PER_READ = MAX_FDS_PER_FRAME;

interface Pending { data: Buffer; fds: number[] }

export interface FdChannelEvents {
  frame: [Frame];
  close: [Error | null];
}

export class FdChannel extends EventEmitter<FdChannelEvents> {
  readonly fd: number;
  private readonly decoder: FrameDecoder;
  private readonly poller: Poller;
  private readonly queue: Pending[] = [];
  private closed = false;
  private ending = false;

  /** Takes ownership of `fd` (made non-blocking here). */
  constructor(fd: number, maxFrame: number) {
    super();
    this.fd = fd;
    this.decoder = new FrameDecoder(maxFrame);
    native.setNonBlocking(fd, true);
    this.poller = new native.Poller(fd, (err, readable, writable) => this.onPoll(err, readable, writable));
    this.poller.start(true, false);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queue a frame. `fds` must stay open until it is sent; the caller keeps its copies. */
  send(message: object, fds: number[] = []): void {
    this.sendEncoded(encodeFrame(message, fds.length), fds);
  }

  /** The same for a frame encoded already (`encodeFrame(message, fds.length)`). */
  sendEncoded(frame: Buffer, fds: number[] = []): void {
    if (this.closed || this.ending) return;
    this.queue.push({ data: frame, fds });
    this.flush();
  }

  /** Close once everything queued has been written. */
  end(): void {
    if (this.closed) return;
    this.ending = true;
    if (this.queue.length === 0) this.destroy(null);
  }

  /** Close now. fds that arrived but were not handed out are closed too. */
  destroy(err: Error | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.poller.close();
    for (const fd of this.decoder.drainFds()) closeQuietly(fd);
    this.queue.length = 0;
    closeSocket(this.fd);
    this.emit('close', err);
  }

  ref(): void { this.poller.ref(); }
  unref(): void { this.poller.unref(); }

  private onPoll(err: Error | null, readable: boolean, writable: boolean): void {
    if (this.closed) return;
    if (err) {
      // POLLERR (libuv says EBADF and stops polling): a peer that closed with data of ours
      // unread (ECONNRESET) may have sent frames before it left. Read them, then close.
      this.readSome(Infinity);
      return this.destroy(err);
    }
    if (writable) this.flush();
    if (readable && !this.closed) this.readSome();
  }

  private readSome(reads = READS_PER_WAKEUP): void {
    for (let i = 0; i < reads && !this.closed; i++) {
      let received;
      try {
        received = native.recvMsg(this.fd, READ_SIZE, FDS_PER_READ);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ECTRUNC') return this.destroy(err as Error);
        return this.destroy(protocolError('control-truncated', (err as Error).message));
      }
      if (received === null) return;
      if (received.data.length === 0) {
        received.fds.forEach(closeQuietly);
        return this.destroy(null);
      }
      let frames: Frame[];
      try {
        frames = this.decoder.push(received.data, received.fds);
      } catch (err) {
        return this.destroy(err as Error);
      }
      for (const frame of frames) {
        if (this.closed) {
          frame.fds.forEach(closeQuietly);
        } else {
          this.emit('frame', frame);
        }
      }
    }
  }

  private flush(): void {
    while (this.queue.length && !this.closed) {
      const head = this.queue[0];
      let sent: number;
      try {
        sent = native.sendMsg(this.fd, head.data, head.fds);
      } catch (err) {
        // The peer closed (a run's exit and the client's signal cross, as when `pkill` ends
        // both): what it wrote before it closed is still to be read, and comes first.
        if ((err as NodeJS.ErrnoException).code === 'EPIPE') {
          this.queue.length = 0;
          this.readSome();
        }
        return this.destroy(err as Error);
      }
      if (sent < 0) {
        this.poller.start(true, true);
        return;
      }
      if (sent < head.data.length) {
        // The fds went with the first byte; the rest of the frame follows without them.
        head.data = head.data.subarray(sent);
        head.fds = [];
        continue;
      }
      this.queue.shift();
    }
    if (this.closed) return;
    this.poller.start(true, false);
    if (this.ending) this.destroy(null);
  }
}

