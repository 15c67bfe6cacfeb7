// Runs in a Node API caller's process (and in the CLI, lib/cli/tasks.ts).
// runTasks(): a job of pyATS-style tasks, run by the Python job driver (python/pynwheel/tasks/
// driver.py) as one warm run: the rules (results, roll-up, logs, ids, max_runtime) live there
// alone. Here: the job spec (on the run's stdin), the driver file, and the events it writes on
// its stdout, one JSON line each.
//
// The driver file: a small file under <runtime dir>/tasks/, named by a hash of its content, whose
// top-level imports are the task scripts' own (in try blocks: an import that fails there is the
// task's to report). The daemon preloads a script's imports in the zygote it routes it to, so the
// job (a fork of that zygote) has them imported, and every task (a fork of the job) too: a job of
// scripts that import pandas pays for pandas once, in the zygote. A name whose top-level module
// sits beside one of the scripts is left out (the script's own module must not be shadowed).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureRuntimeDir, runtimeDirFor } from '../shared/runtime-dir';
import { PynwheelError } from '../shared/errors';
import { spawn } from './spawn';
import type { RunOptions } from './options';

/** pyATS's result codes (python/pynwheel/tasks/results.py; test/vectors/task-results.json). */
export const TASK_RESULTS = ['Passed', 'Failed', 'Aborted', 'Blocked', 'Skipped', 'Errored', 'Passx'] as const;
export type TaskResultName = typeof TASK_RESULTS[number];
/** The roll-ups a job's success is (the CLI's exit status 0). */
export const SUCCESSFUL_RESULTS: readonly TaskResultName[] = ['Passed', 'Passx', 'Skipped'];

export interface TaskSpec {
  /** The task's id (unique in the job; '/' becomes '_'); default Task-N. */
  id?: string;
  /** A script, run as __main__ with `args` as sys.argv[1:] (relative to `cwd`). */
  file?: string;
  /** A module, run as `python -m module args`. */
  module?: string;
  /** 'module:function', called with args and kwargs; its return value is the task's value. */
  target?: string;
  args?: readonly unknown[];
  /** JSON values; a script reads them as pynwheel.tasks.current().kwargs. */
  kwargs?: Record<string, unknown>;
  /** Seconds; then SIGTERM to the task's processes, SIGKILL 5 s later, and the result Aborted. */
  maxRuntime?: number;
}

export interface TaskOutcome {
  id: string;
  target: string;
  result: TaskResultName;
  reason: string | null;
  value: unknown;
  exitCode: number | null;
  signal: string | null;
  /** Seconds. */
  duration: number;
  log: string;
  /** Pids of processes the task left running (ended with it). */
  left: number[];
}

export type TaskEvent =
  | { event: 'job'; logDir: string; tasks: string[]; concurrency: number }
  | { event: 'started'; id: string; pid: number | null; log: string }
  | { event: 'terminal'; id: string; pid: number; held: boolean }
  | ({ event: 'finished' } & TaskOutcome)
  | { event: 'summary'; result: TaskResultName; interrupted: boolean; resultsFile: string; reportFile: string;
      counts: Partial<Record<TaskResultName, number>>; notStarted: string[] };

export interface TasksOptions extends Pick<RunOptions, 'cwd' | 'env' | 'pythonPath' | 'python' | 'pythonOptions'> {
  /** At most this many tasks at once; default: the number of cores. */
  concurrency?: number;
  /** Where TaskLog.<id>, results.json and report.txt go; default ./tasklogs (relative to cwd). */
  logDir?: string;
  /** Seconds, for every task that has no maxRuntime of its own. */
  maxRuntime?: number;
  /** Each event of the job as it happens. */
  onProgress?: (event: TaskEvent) => void;
  /** Aborting ends the running tasks (Aborted), starts no more, and resolves the report (interrupted). */
  signal?: AbortSignal;
  /**
   * The job gets this process's stdin (and, if stderr is 'inherit', its stderr): with a terminal
   * there, breakpoint() / pdb in a task use it, one task at a time ('terminal' events say which).
   */
  terminal?: boolean;
  /** The job's own stderr (the driver's errors): 'pipe' (default; in the error) or 'inherit'. */
  stderr?: 'pipe' | 'inherit';
}

export interface TasksReport {
  /** The rolled-up result, as pyATS rolls results up. */
  result: TaskResultName;
  interrupted: boolean;
  tasks: TaskOutcome[];
  byId: Record<string, TaskOutcome>;
  notStarted: string[];
  logDir: string;
  resultsFile: string;
  reportFile: string;
}

let specs = 0;
const IMPORT_LINE = /^import[ \t]+([^#\n;]+)/gm;
const FROM_LINE = /^from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b/gm;
const MODULE_NAME = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;

/** The top-level module names the scripts import (a hint for preloading: never the rules). */
export function scriptImports(files: readonly string[]): string[] {
  const names = new Set<string>();
  const beside = new Set<string>();
  for (const file of files) {
    let source: string;
    try {
      source = fs.readFileSync(file, 'utf8');
    } catch {
      continue; // (the task reports it)
    }
    for (const m of source.matchAll(IMPORT_LINE)) {
      for (const part of m[1]!.split(',')) {
        const name = part.trim().split(/\s+as\s+/)[0]!.trim();
        if (MODULE_NAME.test(name)) names.add(name);
      }
    }
    for (const m of source.matchAll(FROM_LINE)) names.add(m[1]!);
    const dir = path.dirname(file);
    for (const name of names) {
      const top = name.split('.')[0]!;
      if (fs.existsSync(path.join(dir, `${top}.py`)) || fs.existsSync(path.join(dir, top))) beside.add(top);
    }
  }
  return [...names].filter((name) => !beside.has(name.split('.')[0]!) && name !== 'pynwheel' && !name.startsWith('pynwheel.')).sort();
}

export function driverSource(imports: readonly string[]): string {
  const lines = [
    '# Runs in a pynwheel tasks job: written by lib/api/tasks.ts. Its imports are its task scripts\'',
    '# top-level ones, so that the zygote it runs in has preloaded them (and every task inherits them).',
  ];
  for (const name of imports) lines.push('try:', `    import ${name}`, 'except BaseException:', '    pass');
  lines.push('from pynwheel.tasks.driver import main', 'raise SystemExit(main())', '');
  return lines.join('\n');
}

/** Writes (once) the driver file for these imports under the runtime dir; its path. */
export function writeDriver(imports: readonly string[], env: NodeJS.ProcessEnv): string {
  const source = driverSource(imports);
  const dir = path.join(ensureRuntimeDir(runtimeDirFor(env)).dir, 'tasks');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `driver-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.py`);
  if (!fs.existsSync(file)) {
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, source, { mode: 0o600 });
    fs.renameSync(temporary, file);
  }
  return file;
}

function checkTasks(tasks: readonly TaskSpec[]): void {
  if (!Array.isArray(tasks) || tasks.length === 0) throw new TypeError('pynwheel: runTasks() takes a non-empty array of tasks');
  tasks.forEach((task, i) => {
    const named = (['file', 'module', 'target'] as const).filter((key) => task?.[key] !== undefined);
    if (named.length !== 1) throw new TypeError(`pynwheel: task ${i + 1} names exactly one of file, module, target (it has ${named.join(', ') || 'none'})`);
  });
}

/** Runs the tasks (forks of a warm zygote, through the Python job driver); resolves the report. */
export async function runTasks(tasks: readonly TaskSpec[], options: TasksOptions = {}): Promise<TasksReport> {
  checkTasks(tasks);
  const env = options.env ?? process.env;
  const cwd = options.cwd === undefined ? process.cwd() : typeof options.cwd === 'string' ? options.cwd : new URL(options.cwd).pathname;
  const files = tasks.filter((task) => task.file !== undefined).map((task) => path.resolve(cwd, task.file!));
  const driver = writeDriver(scriptImports(files), env);
  const spec = {
    tasks: tasks.map((task) => ({ ...task, ...(task.file !== undefined ? { file: path.resolve(cwd, task.file) } : {}) })),
    concurrency: options.concurrency,
    logDir: path.resolve(cwd, options.logDir ?? 'tasklogs'),
    maxRuntime: options.maxRuntime,
  };
  // The spec goes on stdin, or in a file when stdin is the caller's (a terminal, for pdb).
  const specFile = options.terminal ? `${driver}.${process.pid}-${++specs}.json` : undefined;
  if (specFile) fs.writeFileSync(specFile, JSON.stringify(spec), { mode: 0o600 });
  const child = spawn(driver, [specFile ?? '-'], {
    cwd, env, pythonPath: options.pythonPath ?? options.python, pythonOptions: options.pythonOptions,
    encoding: 'utf8', reject: false, buffer: options.stderr !== 'inherit',
    ...(specFile ? {} : { input: JSON.stringify(spec) }),
    stdio: [specFile ? 'inherit' : 'pipe', 'pipe', options.stderr ?? 'pipe'],
  });
  const finished: TaskOutcome[] = [];
  let summary: Extract<TaskEvent, { event: 'summary' }> | undefined;
  let rest = '';
  const onLine = (line: string): void => {
    if (!line) return;
    let event: TaskEvent;
    try {
      event = JSON.parse(line) as TaskEvent;
    } catch {
      return; // (not the driver's: the job writes only events)
    }
    if (event.event === 'finished') {
      const { event: _, ...outcome } = event;
      finished.push(outcome);
    } else if (event.event === 'summary') summary = event;
    options.onProgress?.(event);
  };
  child.stdout!.on('data', (chunk: string) => {
    rest += chunk;
    let newline: number;
    while ((newline = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, newline));
      rest = rest.slice(newline + 1);
    }
  });
  const abort = (): void => { child.kill('SIGINT'); };
  if (options.signal?.aborted) abort();
  else options.signal?.addEventListener('abort', abort, { once: true });
  try {
    const result = await child.result;
    onLine(rest);
    if (summary === undefined) {
      const stderr = typeof result.stderr === 'string' ? result.stderr.trim() : '';
      throw new PynwheelError('ETASKS', `the tasks' job ended (${result.signal ?? `exit status ${result.exitCode}`}) without a summary${stderr ? `: ${stderr}` : ''}`);
    }
    const byId: Record<string, TaskOutcome> = {};
    for (const outcome of finished) byId[outcome.id] = outcome;
    return {
      result: summary.result, interrupted: summary.interrupted, tasks: finished, byId, notStarted: summary.notStarted,
      logDir: spec.logDir, resultsFile: summary.resultsFile, reportFile: summary.reportFile,
    };
  } finally {
    options.signal?.removeEventListener('abort', abort);
    if (specFile) fs.rmSync(specFile, { force: true });
  }
}
