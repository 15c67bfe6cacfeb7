// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): closing an fd that
// may be gone already, on the paths where a failure to close changes nothing.
import { closeSync } from 'node:fs';

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}
