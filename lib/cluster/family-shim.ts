// Runs in a worker's process (`pynwheel worker`): a call job that names the packages its code
// imports (JobPayload `imports`: an Executor(cluster=URL) job, whose target is pynwheel's own job
// runner, `pynwheel.cluster_job:run`) is called through a file that imports them at its top, so
// the worker's daemon routes it to the zygote of that family (numpy's, say), which has them
// imported already, as it routes a call of a file of the user's: without it each such job would
// run in the base zygote and import them itself. The files are the worker's, one per family,
// beside its code bundles.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** At most this many packages a family (the rest are imported by the job itself, as without a shim). */
const MAX_FAMILY = 32;

/** The call target for `target` ('pkg.mod:attr') with `imports` imported first, or the target itself when there is nothing to import. */
export function familyTarget(dir: string, target: string, imports: readonly unknown[] | undefined): string {
  const names = [...new Set((imports ?? []).filter((n): n is string => typeof n === 'string' && MODULE_NAME.test(n)))].sort().slice(0, MAX_FAMILY);
  const colon = target.lastIndexOf(':');
  if (names.length === 0 || colon < 0) return target;
  const [module, attribute] = [target.slice(0, colon), target.slice(colon + 1)];
  const source = `# A call of ${target} with its family imported first (lib/cluster/family-shim.ts).\n` +
    `${names.map((n) => `import ${n}\n`).join('')}from ${module} import ${attribute.split('.')[0]}\n`;
  const file = path.join(dir, `call_${createHash('sha256').update(source).digest('hex').slice(0, 16)}.py`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, source, { mode: 0o444 });
    fs.renameSync(temporary, file); // whole or not at all: a zygote may read it at any time
  }
  return `${file}:${attribute}`;
}
