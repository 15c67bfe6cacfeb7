// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): pynwheel's own error,
// so callers can tell pynwheel's trouble from the script's.

/**
 * Daemon, protocol or set-up trouble. `code` is stable and documented in the README; `reason`,
 * where there is one, is the stable code of what exactly failed (a frameErrors or requestChecks
 * code of lib/shared/protocol.json).
 */
export class PynwheelError extends Error {
  readonly code: string;
  readonly reason?: string;
  constructor(code: string, message: string, options?: { cause?: unknown; reason?: string }) {
    super(message, options);
    this.name = 'PynwheelError';
    this.code = code;
    if (options?.reason !== undefined) this.reason = options.reason;
  }
}
