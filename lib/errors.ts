// Typed errors, so callers can tell pynwheel's own trouble from the script's.

/** Daemon, protocol or set-up trouble. `code` is stable and documented in the README. */
export class PynwheelError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PynwheelError';
    this.code = code;
  }
}

/** Exit status the CLI uses when pynwheel itself, not the script, failed (as docker does). */
export const EXIT_PYNWHEEL_FAILED = 125;
