// Runs in the CLI: `pynwheel tasks [--jobs N] [--log-dir DIR] [--max-runtime S] [--json]
// [--from FILE] TASK...`, on runTasks() (lib/api/tasks.ts), so the rules are the Python driver's.
// Off a terminal: one line per finished task; on one: a live progress line. Then the summary
// table (report.txt) or, with --json, the report as JSON. Exit 0 when the roll-up is Passed, Passx
// or Skipped, else 1; 2 for a usage error. Ctrl-C aborts the running tasks and prints the summary.
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { runTasks, SUCCESSFUL_RESULTS, type TaskEvent, type TaskSpec, type TasksReport } from '../api/tasks';
import { UsageError } from './run-args';
import { progressLine } from './progress-lines';
import { say } from './say';

const USAGE = `usage: pynwheel tasks [--jobs N] [--log-dir DIR] [--max-runtime S] [--json] [--follow] [--from FILE] TASK...
  TASK: a script with its arguments ('test_a.py --fast'), a module:function, or -m MODULE ARGS
  --jobs N          at most N tasks at once (default: the number of cores)
  --log-dir DIR     TaskLog.<id>, results.json and report.txt go there (default: ./tasklogs)
  --max-runtime S   seconds per task; then SIGTERM, SIGKILL 5 s later: Aborted
  --json            print the report as JSON instead of the table
  --follow          show the tasks' output as they write it, each line prefixed with [taskid]
  --from FILE       tasks one per line (blank lines and # comments skipped; - for stdin)
  --on URL          run each task as a job on the cluster's workers (redis://, rediss://, unix://);
                    the logs come back into --log-dir; with --queue NAME, --key-file F, --code-dir D
                    (default: the current directory, packed and sent with every task)`;

interface TasksArgs {
  jobs?: number; logDir?: string; maxRuntime?: number; json: boolean; follow?: boolean; tasks: TaskSpec[];
  /** --on URL and the cluster's options (--queue, --key-file, --code-dir). */
  on?: string; queue?: string; keyFile?: string; codeDir?: string;
}

/** Words of a task line: whitespace apart, '...' and "..." quoted (no escapes but \\ and \\" in "..."). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let word: string | undefined;
  let last = -1;
  for (const m of line.matchAll(pattern)) {
    const piece = m[1] ?? m[2]?.replace(/\\(.)/g, '$1') ?? m[3]!;
    if (word !== undefined && m.index === last) word += piece;
    else {
      if (word !== undefined) words.push(word);
      word = piece;
    }
    last = m.index + m[0].length;
  }
  if (word !== undefined) words.push(word);
  return words;
}

export function taskFromLine(line: string): TaskSpec {
  const [first, ...rest] = splitWords(line);
  if (first === undefined) throw new UsageError('an empty task');
  if (first === '-m') {
    const [module, ...args] = rest;
    if (!module) throw new UsageError(`task ${JSON.stringify(line)}: -m needs a module`);
    return { module, args };
  }
  if (/^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$/.test(first) && !first.endsWith('.py')) return { target: first, args: rest };
  return { file: first, args: rest };
}

function number(flag: string, value: string | undefined, integer: boolean): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} takes ${integer ? 'a whole number' : 'a number of seconds'} > 0, not ${JSON.stringify(value ?? '')}`);
  }
  return n;
}

export function parseTasksArgs(argv: readonly string[]): TasksArgs {
  const out: TasksArgs = { json: false, tasks: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    const [flag, attached] = word.startsWith('--') && word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined];
    const value = (): string | undefined => attached ?? argv[++i];
    if (flag === '--') { i++; break; }
    if (flag === '--jobs' || flag === '-j') out.jobs = number(flag, value(), true);
    else if (flag === '--log-dir') {
      const dir = value();
      if (!dir) throw new UsageError('--log-dir takes a directory');
      out.logDir = dir;
    } else if (flag === '--max-runtime') out.maxRuntime = number(flag, value(), false);
    else if (flag === '--json') out.json = true;
    else if (flag === '--on' || flag === '--queue' || flag === '--key-file' || flag === '--code-dir') {
      const text = value();
      if (!text) throw new UsageError(`${flag} takes a value`);
      out[({ '--on': 'on', '--queue': 'queue', '--key-file': 'keyFile', '--code-dir': 'codeDir' } as const)[flag]] = text;
    }
    else if (flag === '--follow') out.follow = true;
    else if (flag === '--from') {
      const file = value();
      if (!file) throw new UsageError('--from takes a file (- for stdin)');
      let text: string;
      try {
        text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (err) {
        throw new UsageError(`--from ${file}: ${(err as Error).message}`);
      }
      for (const line of text.split('\n')) {
        if (line.trim() && !line.trim().startsWith('#')) out.tasks.push(taskFromLine(line));
      }
    } else if (flag === '--help' || flag === '-h') throw new UsageError(USAGE);
    else if (word.startsWith('-') && !/^-m(\s|$)/.test(word)) throw new UsageError(`unknown option ${word}\n${USAGE}`);
    else break;
  }
  for (; i < argv.length; i++) out.tasks.push(taskFromLine(argv[i]!));
  if (out.tasks.length === 0) throw new UsageError(`no tasks\n${USAGE}`);
  if (out.on === undefined && (out.queue ?? out.keyFile ?? out.codeDir) !== undefined) throw new UsageError('--queue, --key-file and --code-dir go with --on URL');
  return out;
}

function outcomeLine(event: Extract<TaskEvent, { event: 'finished' }>): string {
  const why = event.reason ? ` (${event.reason})` : '';
  return `${event.result.padEnd(7)} ${event.id}  ${event.duration.toFixed(3)} s${why}  ${event.log}`;
}

/** --follow: what each running task writes to its log, as it writes it, a line at a time, prefixed. */
class Follower {
  private readonly files = new Map<string, { fd: number; rest: string }>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly show: (line: string) => void) {}

  onEvent(event: TaskEvent): void {
    if (event.event === 'started') {
      try {
        this.files.set(event.id, { fd: fs.openSync(event.log, 'r'), rest: '' }); // (the job made it, empty, before)
      } catch {
        return;
      }
      this.timer ??= setInterval(() => this.poll(), 100);
    } else if (event.event === 'finished') {
      if (!this.files.has(event.id)) {
        try {
          this.files.set(event.id, { fd: fs.openSync(event.log, 'r'), rest: '' });
        } catch {
          return;
        }
      }
      this.read(event.id, true);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const id of [...this.files.keys()]) this.read(id, true);
  }

  private poll(): void {
    for (const id of [...this.files.keys()]) this.read(id, false);
  }

  private read(id: string, last: boolean): void {
    const file = this.files.get(id)!;
    const buffer = Buffer.alloc(65536);
    let n: number;
    while ((n = fs.readSync(file.fd, buffer, 0, buffer.length, null)) > 0) file.rest += buffer.toString('utf8', 0, n);
    const lines = file.rest.split('\n');
    file.rest = lines.pop()!;
    if (last && file.rest) lines.push(file.rest);
    for (const line of lines) this.show(`[${id}] ${line}`);
    if (last) {
      fs.closeSync(file.fd);
      this.files.delete(id);
    }
  }
}

/** The live line on a terminal: counts, elapsed, and an estimate of the rest. */
class Progress {
  private total = 0;
  private started = 0;
  private readonly counts = new Map<string, number>();
  private readonly begun = Date.now();
  private durations = 0;
  private concurrency = 1;
  constructor(readonly live: boolean) {}

  /** The task whose debugger holds the terminal: the progress line steps aside, lines wait. */
  holder: { id: string; pid: number } | undefined;
  private readonly waiting: string[] = [];

  onEvent(event: TaskEvent): void {
    if (event.event === 'terminal') {
      if (event.held) {
        this.holder = { id: event.id, pid: event.pid };
        return;
      }
      this.holder = undefined;
      for (const line of this.waiting.splice(0)) say(this.live ? 2 : 1, line);
      if (this.live) this.draw();
      return;
    }
    if (this.holder !== undefined && event.event === 'finished' && event.id !== this.holder.id) {
      this.counts.set(event.result, (this.counts.get(event.result) ?? 0) + 1);
      this.durations += event.duration;
      this.waiting.push(outcomeLine(event));
      return;
    }
    if (event.event === 'finished' && event.id === this.holder?.id) this.holder = undefined;
    if (event.event === 'summary') for (const line of this.waiting.splice(0)) say(this.live ? 2 : 1, line);
    if (event.event === 'job') {
      this.total = event.tasks.length;
      this.concurrency = event.concurrency;
    } else if (event.event === 'started') this.started++;
    else if (event.event === 'finished') {
      this.counts.set(event.result, (this.counts.get(event.result) ?? 0) + 1);
      this.durations += event.duration;
      if (this.live) this.clear();
      say(this.live ? 2 : 1, outcomeLine(event));
    }
    if (this.live && event.event !== 'summary' && this.holder === undefined) this.draw();
    if (event.event === 'summary' && this.live) this.clear();
  }

  private done(): number { return [...this.counts.values()].reduce((a, b) => a + b, 0); }

  private draw(): void {
    const done = this.done();
    const running = this.started - done;
    const elapsed = (Date.now() - this.begun) / 1000;
    const left = this.total - done;
    const estimate = done ? ` ~${Math.ceil((this.durations / done) * left / this.concurrency)} s left` : '';
    const shown = ['Passed', 'Failed', 'Errored', 'Aborted'].map((name) => `${name.toLowerCase()} ${this.counts.get(name) ?? 0}`).join(', ');
    fs.writeSync(2, `\r\x1b[K${done}/${this.total} done, running ${running}, ${shown}, ${elapsed.toFixed(1)} s${estimate}`);
  }

  private clear(): void { fs.writeSync(2, '\r\x1b[K'); }

  /** A line of its own (a cluster task's retry or progress), above the live line. */
  note(line: string): void {
    if (this.holder !== undefined) {
      this.waiting.push(line);
      return;
    }
    if (this.live) this.clear();
    say(this.live ? 2 : 1, line);
    if (this.live) this.draw();
  }
}

export async function tasksCommand(argv: readonly string[]): Promise<number> {
  let args: TasksArgs;
  try {
    args = parseTasksArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      say(2, err.message.startsWith('usage:') ? err.message : `pynwheel tasks: ${err.message}`);
      return err.message.startsWith('usage:') ? 0 : 2;
    }
    throw err;
  }
  const progress = new Progress(isatty(2) && !args.json);
  const follower = args.follow ? new Follower((line) => {
    if (progress.live) fs.writeSync(2, '\r\x1b[K');
    say(1, line);
  }) : undefined;
  const controller = new AbortController();
  // Ctrl-C goes to the task whose debugger holds the terminal (pdb's own Ctrl-C), else ends the job.
  const onInterrupt = (): void => {
    if (progress.holder !== undefined) {
      try {
        process.kill(progress.holder.pid, 'SIGINT');
        return;
      } catch {
        progress.holder = undefined;
      }
    }
    controller.abort();
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  let report: TasksReport;
  // On a cluster (its modules load BullMQ: only when asked). A follower reads the logs as they come back.
  const handle = args.on === undefined ? undefined
    : (await import('../cluster/submitter')).cluster(args.on, { queue: args.queue, keyFile: args.keyFile, codeDir: args.codeDir });
  try {
    if (handle) {
      try {
        await handle.connect();
      } catch (err) {
        say(2, `pynwheel tasks: ${(err as Error).message}`);
        return 1;
      }
    }
    report = await (handle ? handle.runTasks(args.tasks, {
      concurrency: args.jobs, logDir: args.logDir, maxRuntime: args.maxRuntime, signal: controller.signal,
      onProgress: (event) => {
        if (event.event === 'queued') return;
        // A retry and a task's own progress: a line on a terminal or with --follow (off both, one line per finished task).
        if (event.event === 'retried' || event.event === 'progress') {
          if (!args.json && (progress.live || follower)) progress.note(progressLine(event.id, event));
          return;
        }
        follower?.onEvent(event);
        if (!args.json) progress.onEvent(event);
      },
    }) : runTasks(args.tasks, {
      concurrency: args.jobs, logDir: args.logDir, maxRuntime: args.maxRuntime, signal: controller.signal,
      stderr: 'inherit', terminal: isatty(0), onProgress: (event) => {
        follower?.onEvent(event);
        if (!args.json) progress.onEvent(event);
      },
    }));
  } finally {
    await handle?.close();
    follower?.stop();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
  if (args.json) say(1, JSON.stringify(report, null, 1));
  else {
    say(1, '');
    say(1, fs.readFileSync(report.reportFile, 'utf8'));
    if (report.interrupted) say(1, `interrupted: ${report.notStarted.length} task(s) not started`);
  }
  return SUCCESSFUL_RESULTS.includes(report.result) && !report.interrupted ? 0 : 1;
}
