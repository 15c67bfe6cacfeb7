// Runs in a worker's process (`pynwheel worker`): the worker's scratch space, where a job's
// temporary files live (its progress file, a task's log directory) while it runs.
//
// Why not os.tmpdir(): a worker killed with kill -9 cannot remove what it made, and /tmp would
// keep one empty directory per job it had in flight, forever. Here every worker has
// <root>/<pid>/ (root: <runtime>/cluster-scratch, private to the user), removes it when it
// closes, and at its start removes the directories of workers that are no longer alive.
import * as fs from 'node:fs';
import * as path from 'node:path';

export class WorkerScratch {
  private constructor(readonly dir: string) {}

  /** Makes <root>/<our pid>/ after removing the ones whose process is gone. */
  static open(root: string): WorkerScratch {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(root)) {
      const pid = Number(name);
      if (!/^\d+$/.test(name) || pid === process.pid || alive(pid)) continue;
      fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
    const dir = path.join(root, String(process.pid));
    fs.rmSync(dir, { recursive: true, force: true }); // (a dead worker's, whose pid we now have)
    fs.mkdirSync(dir, { mode: 0o700 });
    return new WorkerScratch(dir);
  }

  /** A new directory of its own for one job's files; the job removes it when it ends. */
  directory(prefix: string): string {
    return fs.mkdtempSync(path.join(this.dir, prefix));
  }

  close(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // (someone else's: not ours to remove)
  }
}
