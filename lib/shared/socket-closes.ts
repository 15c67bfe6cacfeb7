// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): closing a Unix socket
// while a socket of this process's travels in an SCM_RIGHTS message (a call's value channel, in
// its run request) makes the kernel run its collector of in-flight sockets, and the close
// waits for it (measured: 37 us at the median but 0.8 ms on average, up to 20 ms, against 25 us
// with nothing in flight). Such closes wait, instead, until the message has been received.
import { closeQuietly } from './fds';

let inFlight = 0;
const deferred: number[] = [];

/** A message carrying a socket was sent: call the function returned once it has been received (or will never be). */
export function socketInFlight(): () => void {
  inFlight++;
  let landed = false;
  return () => {
    if (landed) return;
    landed = true;
    if (--inFlight === 0) deferred.splice(0).forEach(closeQuietly);
  };
}

/** Close a socket's fd: now, or once no socket of ours is in flight. */
export function closeSocket(fd: number): void {
  if (inFlight > 0) deferred.push(fd);
  else closeQuietly(fd);
}
