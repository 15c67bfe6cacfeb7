// Runs in the CLI: management requests (status, stop) to a running daemon.
import { tryConnect } from '../client/connect';
import { FdChannel } from '../shared/channel';
import { PynwheelError } from '../shared/errors';
import { closeQuietly } from '../shared/fds';
import { MAX_CLIENT_FRAME } from '../shared/protocol-constants';
import type { Message } from '../shared/wire';
import type { RuntimePaths } from '../shared/runtime-dir';

/** Sends one request and returns the reply, or null when no daemon is running. */
export async function ask(paths: RuntimePaths, request: { type: string }): Promise<Message | null> {
  const fd = tryConnect(paths);
  if (fd === null) return null;
  const channel = new FdChannel(fd, MAX_CLIENT_FRAME);
  return new Promise((resolve, reject) => {
    let reply: Message | null = null;
    channel.on('frame', ({ message, fds }) => {
      fds.forEach(closeQuietly);
      reply = message;
      channel.destroy();
    });
    channel.on('close', (err) => {
      if (reply?.type === 'error') reject(new PynwheelError(String(reply.code), String(reply.message), typeof reply.reason === 'string' ? { reason: reply.reason } : undefined));
      else if (reply) resolve(reply);
      else reject(new PynwheelError('EDAEMON', `the daemon closed the connection without answering${err ? ` (${err.message})` : ''}`));
    });
    channel.send(request);
  });
}
