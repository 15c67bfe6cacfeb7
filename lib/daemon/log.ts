// Runs in the daemon: its log. Its stderr is daemon.log (opened by the client that started it).
import * as fs from 'node:fs';
import { debugLine } from '../shared/debug';
import { LOG_LIMIT_BYTES } from '../shared/runtime-dir';

export function log(message: string): void {
  try {
    fs.writeSync(2, `${new Date().toISOString()} [${process.pid}] ${message}\n`);
  } catch {
    /* nowhere left to complain */
  }
}

/** A PYNWHEEL_DEBUG=1 line (for a run whose request asks), as every process writes them: no timestamp. */
export function debugLog(text: string): void {
  try {
    fs.writeSync(2, debugLine('daemon', text));
  } catch {
    /* nowhere left to say it */
  }
}

/** Keep daemon.log under LOG_LIMIT_BYTES (moved to daemon.log.1 and started again); writers use O_APPEND, so they follow the truncation. */
export function boundLog(file: string): void {
  try {
    if (fs.statSync(file).size <= LOG_LIMIT_BYTES) return;
    fs.copyFileSync(file, `${file}.1`);
    fs.truncateSync(file, 0);
    log(`log rotated to ${file}.1`);
  } catch {
    /* a missing log is not worth failing for */
  }
}
