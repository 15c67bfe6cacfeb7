// Runs in a worker: one task of a cluster tasks job, run by the local runTasks() (the Python job
// driver: its rules, its log layout) in a log directory of its own, whose files (TaskLog.<id> and
// the per-fork TaskLog.<id>:pid-<pid>) go back in the result for the submitter to lay out.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTasks, type TaskOutcome, type TaskSpec } from '../api/tasks';

export interface RanTask { outcome: TaskOutcome; files: Record<string, string> }

/** `logDir`: an empty directory of the task's own (the worker's scratch), removed when it is over. */
export async function runOneTask(task: TaskSpec, cwd: string, python: string | undefined, signal: AbortSignal | undefined, logDir: string, env?: NodeJS.ProcessEnv): Promise<RanTask> {
  try {
    const report = await runTasks([task], { cwd, logDir, concurrency: 1, python, signal, env });
    const outcome = report.tasks[0];
    if (!outcome) throw new Error(`task ${task.id}: the job driver reported no outcome${report.interrupted ? ' (interrupted)' : ''}`);
    const files: Record<string, string> = {};
    for (const name of fs.readdirSync(logDir)) {
      if (name === 'results.json' || name === 'report.txt') continue; // (the submitter writes the job's own)
      files[name] = fs.readFileSync(path.join(logDir, name)).toString('base64');
    }
    return { outcome, files };
  } finally {
    fs.rmSync(logDir, { recursive: true, force: true });
  }
}
