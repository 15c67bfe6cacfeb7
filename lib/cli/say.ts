// Runs in the CLI: its messages go straight to fd 1 or 2. Touching process.stdout/stderr
// would let libuv switch the terminal or pipe we share with the run to non-blocking mode.
import * as fs from 'node:fs';

export function say(fd: 1 | 2, text: string): void {
  fs.writeSync(fd, text.endsWith('\n') ? text : `${text}\n`);
}
