// Runs in a worker's process (`pynwheel worker`), and in the CLI (`pynwheel status` reads it):
// the worker's own directory, <runtime>/workers/<pid>/, with its record (worker.json: what it
// serves, how many jobs it runs and ran) and its jobs' temporary files (a progress file, a
// task's log directory) while they run.
//
// Why not os.tmpdir(): a worker killed with kill -9 cannot remove what it made, and /tmp would
// keep one empty directory per job it had in flight, forever. A worker removes its directory
// when it closes, and at its start removes those of workers that are no longer alive.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What `pynwheel status` shows of a worker of this machine. */
export interface WorkerRecord {
  name: string; pid: number; redis: string; queue: string; concurrency: number; threadsPerJob: number; python: string | null;
  running: number; served: number; startedAt: number; updatedAt: number;
}

const RECORD = 'worker.json';

export function workersRoot(runtimeDir: string): string {
  return path.join(runtimeDir, 'workers');
}

export class WorkerDirectory {
  private constructor(readonly dir: string) {}

  /** Makes <root>/<our pid>/ after removing the ones whose process is gone. */
  static open(root: string): WorkerDirectory {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(root)) {
      const pid = Number(name);
      if (!/^\d+$/.test(name) || pid === process.pid || alive(pid)) continue;
      fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
    const dir = path.join(root, String(process.pid));
    fs.rmSync(dir, { recursive: true, force: true }); // (a dead worker's, whose pid we now have)
    fs.mkdirSync(dir, { mode: 0o700 });
    return new WorkerDirectory(dir);
  }

  /** A new directory of its own for one job's files; the job removes it when it ends. */
  scratch(prefix: string): string {
    return fs.mkdtempSync(path.join(this.dir, prefix));
  }

  /** The record, replaced whole (a reader never sees half of it). */
  record(record: WorkerRecord): void {
    const temporary = path.join(this.dir, `.${RECORD}`);
    try {
      fs.writeFileSync(temporary, JSON.stringify(record), { mode: 0o600 });
      fs.renameSync(temporary, path.join(this.dir, RECORD));
    } catch {
      // (status would show it older: never a reason to fail a job)
    }
  }

  close(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The records of this runtime directory's live workers, oldest first. */
export function liveWorkers(runtimeDir: string): WorkerRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(workersRoot(runtimeDir));
  } catch {
    return [];
  }
  const records: WorkerRecord[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name) || !alive(Number(name))) continue;
    try {
      records.push(JSON.parse(fs.readFileSync(path.join(workersRoot(runtimeDir), name, RECORD), 'utf8')) as WorkerRecord);
    } catch {
      continue; // (starting: no record yet)
    }
  }
  return records.sort((a, b) => a.startedAt - b.startedAt);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // (someone else's: not ours to remove)
  }
}
