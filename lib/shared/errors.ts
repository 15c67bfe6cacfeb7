// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): pynwheel's own error,
// so callers can tell pynwheel's trouble from the script's.

/** Daemon, protocol or set-up trouble. `code` is stable and documented in the README. */
export class PynwheelError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PynwheelError';
    this.code = code;
  }
}
