// Runs in a Node API caller's process: `import { run, spawn } from 'pynwheel'` (lib/api/ has the
// parts).
export { run } from './api/run';
export { spawn } from './api/spawn';
export { bind, call, iterate, parseTarget, type CallOptions } from './api/call';
export { CallValueError, NDArray, type DType, type TypedArray } from './api/codec';
export { PythonProcess, type PythonProcessEvents } from './api/python-process';
export { AbortError, CallDiedError, PackagesError, CallTargetError, JsonLineError, MaxBufferError, PythonError, TimeoutError, type PythonException, type RunFailure, type RunResult } from './api/errors';
export { parseTraceback, type Traceback, type TracebackFrame } from './api/traceback';
export type { RunOptions, StdioEntry, StdioOption } from './api/options';
export type { ResultOf, StderrOf, StdoutOf } from './api/result-types';
export { runTasks, SUCCESSFUL_RESULTS, TASK_RESULTS, type TaskEvent, type TaskOutcome, type TaskResultName, type TaskSpec, type TasksOptions, type TasksReport } from './api/tasks';
export { PynwheelError } from './shared/errors';
export { VERSION } from './shared/version';
export type { Cluster, ClusterJobOptions, ClusterOptions, ClusterProgressEvent, ClusterRunResult } from './cluster/submitter';
export type { ClusterTaskEvent, ClusterTasksOptions } from './cluster/tasks-submit';

/**
 * A handle on a cluster of pynwheel workers (lib/cluster/submitter.ts). Loaded on first use:
 * BullMQ and ioredis cost about 80 ms to load, which no local run() or call() should pay.
 */
export function cluster(url: string, options?: import('./cluster/submitter').ClusterOptions): import('./cluster/submitter').Cluster {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./cluster/submitter') as typeof import('./cluster/submitter')).cluster(url, options);
}
