// Runs in the CLI: `pynwheel run --on URL [--queue NAME] [--key-file FILE] [--code-dir DIR] [--packages 'REQ ...']
// script.py ARGS...`: the script as a cluster job (lib/cluster/submitter.ts), its stdout and
// stderr written here as the worker's run writes them, and its exit status as ours. Our stdin goes
// with the job when it is a file or a pipe; otherwise the script's is closed. With --progress,
// the job's progress (queued, started on which worker, retried, its own pynwheel.progress())
// goes to stderr, one line each; without it, a terminal is told once when no worker has taken
// the job after 2 s (a pipe gets only the script's own output).
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { DEFAULT_QUEUE } from '../cluster/job-format';
import { cluster, type ClusterProgressEvent } from '../cluster/submitter';
import { PackagesError, PythonError, TimeoutError } from '../api/errors';
import { signalNumber } from '../shared/signals';
import { positiveInteger, takeOptions } from './cluster-args';
import { progressLine, WAITING_NOTICE_MS } from './progress-lines';
import { UsageError } from './run-args';
import { say } from './say';

const USAGE = 'usage: pynwheel run --on URL [--queue NAME] [--key-file FILE] [--code-dir DIR] [--timeout MS] [--packages \'REQ ...\'] [--progress] SCRIPT [ARGS...]';

export async function runOnCommand(argv: string[]): Promise<number> {
  let values: Record<string, string>;
  let rest: string[];
  try {
    ({ values, rest } = takeOptions(argv, ['on', 'queue', 'key-file', 'code-dir', 'timeout', 'packages'], true, ['progress']));
    if (!values.on) throw new UsageError('--on URL is needed');
    if (rest.length === 0 || rest[0].startsWith('-')) throw new UsageError(rest.length ? `on a cluster only a script runs, not ${rest[0]}` : 'no script to run');
  } catch (err) {
    if (err instanceof UsageError) {
      say(2, `pynwheel: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  const [script, ...args] = rest;
  const handle = cluster(values.on, { queue: values.queue, keyFile: values['key-file'], codeDir: values['code-dir'] });
  const controller = new AbortController();
  const onInt = (): void => controller.abort(new Error('interrupted'));
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  const shown = values.progress === 'true';
  let jobId = '';
  let waiting: NodeJS.Timeout | undefined;
  const onProgress = (event: ClusterProgressEvent): void => {
    if (event.event === 'queued') {
      jobId = event.jobId;
      if (!shown && isatty(2)) {
        waiting = setTimeout(() => say(2, `pynwheel: job ${jobId} is waiting for a worker on queue ${values.queue ?? DEFAULT_QUEUE} (is one running? \`pynwheel status --on URL\`)`), WAITING_NOTICE_MS);
        waiting.unref();
      }
    }
    if (event.event === 'started' && waiting) clearTimeout(waiting);
    if (shown) say(2, `pynwheel: ${progressLine(`job ${event.jobId}`, event)}`);
  };
  try {
    const result = await handle.run(script, args, {
      input: stdinContents(),
      reject: false,
      timeout: positiveInteger(values.timeout, '--timeout'),
      // PEP 440 requirements, separated by spaces ('numpy>=1.20,<2 pandas').
      packages: values.packages?.split(/\s+/).filter((p) => p.length > 0),
      signal: controller.signal,
      onOutput: (stream, chunk) => writeAll(stream, chunk),
      onProgress,
    });
    if (result.signal !== null) return 128 + (signalNumber(result.signal) ?? 0);
    return result.exitCode ?? 1;
  } catch (err) {
    if (err instanceof TimeoutError) {
      say(2, `pynwheel: the job timed out after ${values.timeout} ms`);
      return 124;
    }
    if ((err as Error).name === 'AbortError') return 130;
    if (err instanceof PythonError) return 1;
    if (err instanceof PackagesError) {
      say(2, err.message);
      return 1;
    }
    throw err;
  } finally {
    if (waiting) clearTimeout(waiting);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onInt);
    await handle.close();
  }
}

/** Our stdin when it is a file or a pipe (read whole: it travels in the job); null for a terminal or none. */
function stdinContents(): Buffer | undefined {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(0);
  } catch {
    return undefined;
  }
  if (!st.isFile() && !st.isFIFO() && !st.isSocket()) return undefined;
  return fs.readFileSync(0);
}

function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) {
    try {
      off += fs.writeSync(fd, chunk, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return;
    }
  }
}
