// Runs in a submitter's process: cluster(url).runTasks() and `pynwheel tasks --on`. Each task is
// a cluster job of its own (BullMQ spreads them over the workers and retries each one alone when
// its worker dies); the worker runs it with the local runTasks() (lib/cluster/tasks-worker.ts).
// Here: the task ids (pynwheel.tasks' rules: default Task-N, '/' -> '_', unique), the tasks' log
// files laid out in the local log directory as a local run lays them out, and the job's
// results.json and report.txt, written as python/pynwheel/tasks/summary.py writes them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SUCCESSFUL_RESULTS, type TaskEvent, type TaskOutcome, type TaskResultName, type TaskSpec, type TasksReport } from '../api/tasks';
import { PynwheelError } from '../shared/errors';
import type { RanTask } from './tasks-worker';

/** A task job's events, besides the local ones: queued, started on a worker, retried after a fault. */
export type ClusterTaskEvent =
  | TaskEvent
  | { event: 'queued'; id: string; jobId: string }
  | { event: 'retried'; id: string; jobId: string; reason: 'fault' | 'error' }
  /** pynwheel.progress(data) in the task. */
  | { event: 'progress'; id: string; jobId: string; worker: string; data: unknown };

export interface ClusterTasksOptions {
  /** Task files and the default code directory are relative to it; default process.cwd(). */
  cwd?: string;
  /** The code directory sent with every task; default the cluster's codeDir, else cwd. */
  codeDir?: string;
  /** At most this many tasks queued or running at once; default: all of them. */
  concurrency?: number;
  /** PEP 440 requirements every task's worker must have (ClusterJobOptions.packages). */
  packages?: readonly string[];
  /** Default ./tasklogs (relative to cwd), laid out as a local run's. */
  logDir?: string;
  maxRuntime?: number;
  onProgress?: (event: ClusterTaskEvent) => void;
  /** Aborting cancels the tasks not finished (running ones end Aborted) and resolves the report (interrupted). */
  signal?: AbortSignal;
}

/** Sends one task (its file relative to the code directory) and resolves what its worker ran. */
export type SendTask = (task: TaskSpec, codeDir: string, cwd: string, signal: AbortSignal,
  onEvent: (event: { event: 'queued' | 'started' | 'retried' | 'progress'; jobId: string; worker?: string; reason?: 'fault' | 'error'; data?: unknown }) => void) => Promise<RanTask & { jobId: string; worker: string }>;

/** pyATS's roll-up (python/pynwheel/tasks/results.py): the table amounts to this precedence; nothing rolls up to Skipped. */
const PRECEDENCE: readonly TaskResultName[] = ['Skipped', 'Passed', 'Passx', 'Blocked', 'Failed', 'Errored', 'Aborted'];
export function rollup(results: readonly TaskResultName[]): TaskResultName {
  return results.reduce<TaskResultName>((a, b) => (PRECEDENCE.indexOf(b) > PRECEDENCE.indexOf(a) ? b : a), 'Skipped');
}

/** The ids pynwheel.tasks would give these tasks, in order (it raises on a duplicate). */
export function taskIds(tasks: readonly TaskSpec[]): string[] {
  const taken = new Set<string>();
  let n = 0;
  return tasks.map((task, i) => {
    let id = task.id;
    if (id === undefined) {
      do id = `Task-${++n}`; while (taken.has(id));
    } else if (typeof id !== 'string' || !id) throw new TypeError(`pynwheel: task ${i + 1}: a task id is a non-empty string, not ${JSON.stringify(id)}`);
    id = id.replace(/\//g, '_');
    if (taken.has(id)) throw new TypeError(`pynwheel: duplicate task id ${JSON.stringify(id)}: task ids are unique in a job`);
    taken.add(id);
    return id;
  });
}

const NAMES: readonly TaskResultName[] = ['Passed', 'Failed', 'Aborted', 'Blocked', 'Skipped', 'Errored', 'Passx'];

/** results.json and report.txt, as summary.write() makes them. */
export function writeSummary(logDir: string, outcomes: readonly TaskOutcome[], interrupted: boolean): { resultsFile: string; reportFile: string } {
  fs.mkdirSync(logDir, { recursive: true });
  const total = rollup(outcomes.map((o) => o.result));
  const resultsFile = path.join(logDir, 'results.json');
  fs.writeFileSync(`${resultsFile}.tmp`, `${JSON.stringify({ result: total, interrupted, tasks: outcomes }, null, 1)}\n`);
  fs.renameSync(`${resultsFile}.tmp`, resultsFile);
  const rows = [['task', 'result', 'duration', 'log'], ...outcomes.map((o) => [o.id, o.reason === null ? o.result : `${o.result} (${o.reason})`, `${o.duration.toFixed(3)} s`, o.log ?? ''])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => `${row.slice(0, 3).map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}  ${row[3]}`);
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.result, (counts.get(o.result) ?? 0) + 1);
  lines.push('', `result: ${total} (${outcomes.length} task${outcomes.length === 1 ? '' : 's'}${NAMES.filter((n) => counts.has(n)).map((n) => `, ${counts.get(n)} ${n}`).join('')}${interrupted ? '; the job was interrupted' : ''})`);
  const reportFile = path.join(logDir, 'report.txt');
  fs.writeFileSync(reportFile, `${lines.map((line) => line.trimEnd()).join('\n')}\n`);
  return { resultsFile, reportFile };
}

export async function clusterRunTasks(send: SendTask, defaultCodeDir: string | undefined, tasks: readonly TaskSpec[], options: ClusterTasksOptions = {}): Promise<TasksReport> {
  if (!Array.isArray(tasks) || tasks.length === 0) throw new TypeError('pynwheel: runTasks() takes a non-empty array of tasks');
  tasks.forEach((task, i) => {
    const named = (['file', 'module', 'target'] as const).filter((key) => task?.[key] !== undefined);
    if (named.length !== 1) throw new TypeError(`pynwheel: task ${i + 1} names exactly one of file, module, target (it has ${named.join(', ') || 'none'})`);
  });
  const ids = taskIds(tasks);
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const codeDir = path.resolve(cwd, options.codeDir ?? defaultCodeDir ?? cwd);
  const logDir = path.resolve(cwd, options.logDir ?? 'tasklogs');
  const concurrency = options.concurrency ?? tasks.length;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError('pynwheel: concurrency must be an integer >= 1');
  const specs = tasks.map((task, i): TaskSpec => {
    const spec: TaskSpec = { ...task, id: ids[i] };
    if (task.file !== undefined) spec.file = path.resolve(cwd, task.file);
    const maxRuntime = task.maxRuntime ?? options.maxRuntime;
    if (maxRuntime !== undefined) spec.maxRuntime = maxRuntime;
    return spec;
  });
  for (const spec of specs) {
    if (spec.file === undefined) continue;
    const rel = path.relative(codeDir, spec.file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new PynwheelError('ECLUSTER', `task ${spec.id}: ${spec.file} is not inside the code directory ${codeDir}`);
  }
  fs.mkdirSync(logDir, { recursive: true });
  const emit = (event: ClusterTaskEvent): void => { options.onProgress?.(event); };
  emit({ event: 'job', logDir, tasks: ids, concurrency });
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  if (options.signal?.aborted) stop.abort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const outcomes = new Map<string, TaskOutcome>();
  const started = new Set<string>();
  const finished: TaskOutcome[] = []; // (in the order they finished, as a local run's report.tasks)
  let next = 0;
  let failure: Error | null = null;
  const one = async (spec: TaskSpec): Promise<void> => {
    const id = spec.id!;
    const localLog = path.join(logDir, `TaskLog.${id}`);
    const begun = performance.now();
    try {
      const ran = await send(spec, codeDir, cwd, stop.signal, (e) => {
        if (e.event === 'queued') emit({ event: 'queued', id, jobId: e.jobId });
        else if (e.event === 'progress') emit({ event: 'progress', id, jobId: e.jobId, worker: e.worker!, data: e.data });
        else if (e.event === 'retried') emit({ event: 'retried', id, jobId: e.jobId, reason: e.reason ?? 'fault' });
        else {
          started.add(id);
          emit({ event: 'started', id, pid: null, log: localLog, worker: e.worker, jobId: e.jobId } as TaskEvent);
        }
      });
      for (const [name, data] of Object.entries(ran.files)) fs.writeFileSync(path.join(logDir, name), Buffer.from(data, 'base64'));
      const outcome: TaskOutcome = { ...ran.outcome, log: localLog, ...(spec.file !== undefined ? { target: spec.file } : {}) };
      outcomes.set(id, outcome);
      finished.push(outcome);
      emit({ event: 'finished', ...outcome, worker: ran.worker, jobId: ran.jobId } as TaskEvent);
    } catch (err) {
      if (!stop.signal.aborted) {
        failure ??= err as Error;
        stop.abort();
      } else if (started.has(id)) {
        // Ended by the abort while it ran: Aborted, as a local run's interrupted task.
        const outcome: TaskOutcome = { id, target: spec.file ?? spec.module ?? spec.target!, result: 'Aborted', reason: 'interrupted', value: null, exitCode: null, signal: null, duration: (performance.now() - begun) / 1000, log: localLog, left: [] };
        outcomes.set(id, outcome);
        finished.push(outcome);
        emit({ event: 'finished', ...outcome });
      }
    }
  };
  const lane = async (): Promise<void> => {
    while (next < specs.length && !stop.signal.aborted) await one(specs[next++]!);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, lane));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure;
  const interrupted = options.signal?.aborted === true;
  const ended = ids.filter((id) => outcomes.has(id)).map((id) => outcomes.get(id)!);
  const { resultsFile, reportFile } = writeSummary(logDir, ended, interrupted);
  const total = interrupted ? 'Aborted' : rollup(ended.map((o) => o.result));
  const counts: Partial<Record<TaskResultName, number>> = {};
  for (const o of ended) counts[o.result] = (counts[o.result] ?? 0) + 1;
  const notStarted = ids.filter((id) => !started.has(id) && !outcomes.has(id));
  emit({ event: 'summary', result: total, interrupted, resultsFile, reportFile, counts, notStarted });
  const byId: Record<string, TaskOutcome> = {};
  for (const o of ended) byId[o.id] = o;
  return { result: total, interrupted, tasks: finished, byId, notStarted, logDir, resultsFile, reportFile };
}

export { SUCCESSFUL_RESULTS };
