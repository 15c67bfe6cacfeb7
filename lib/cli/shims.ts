// Runs in the CLI: `pynwheel shims DIR` writes python, python3 and python3.N into DIR as links to
// the native runner, which under those names is `python3` served by pynwheel
// (native/runner/masquerade.h); `--remove` takes away exactly those links.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PynwheelError } from '../shared/errors';

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

/** The native runner: an installed package's bin/pynwheel (a copy of it), else the build's. */
export function runnerPath(): string {
  const installed = path.join(PACKAGE_ROOT, 'bin', 'pynwheel');
  const built = path.join(PACKAGE_ROOT, 'build', 'Release', 'pynwheel-runner');
  for (const candidate of [installed, built]) {
    try {
      const head = Buffer.alloc(4);
      const fd = fs.openSync(candidate, 'r');
      fs.readSync(fd, head, 0, 4, 0);
      fs.closeSync(fd);
      if (head.toString('latin1') === '\x7fELF') return candidate;
    } catch {
      /* not there */
    }
  }
  throw new PynwheelError('ENORUNNER', `the native runner is not built (${built}); run \`npx node-gyp rebuild\``);
}

/** python, python3, and python3.N for every python3.N on PATH outside `dir`. */
export function shimNames(dir: string, searchPath: string | undefined): string[] {
  const names = new Set(['python', 'python3']);
  for (const entry of (searchPath ?? '').split(':')) {
    if (!entry || path.resolve(entry) === dir) continue;
    try {
      for (const name of fs.readdirSync(entry)) if (/^python3\.\d+$/.test(name)) names.add(name);
    } catch {
      /* not a directory */
    }
  }
  return [...names].sort();
}

function isOurs(link: string, runner: string): boolean {
  try {
    return fs.lstatSync(link).isSymbolicLink() && path.resolve(path.dirname(link), fs.readlinkSync(link)) === runner;
  } catch {
    return false;
  }
}

export function writeShims(dir: string, env: NodeJS.ProcessEnv): string[] {
  const runner = runnerPath();
  fs.mkdirSync(dir, { recursive: true });
  const names = shimNames(dir, env.PATH);
  for (const name of names) {
    const link = path.join(dir, name);
    if (isOurs(link, runner)) continue;
    if (fs.existsSync(link) || isSymlink(link)) {
      throw new PynwheelError('EEXIST', `${link} exists and is not pynwheel's: remove it or choose another directory`);
    }
  }
  for (const name of names) {
    const link = path.join(dir, name);
    if (!isOurs(link, runner)) fs.symlinkSync(runner, link);
  }
  return names.map((name) => path.join(dir, name));
}

export function removeShims(dir: string): string[] {
  const runner = runnerPath();
  const removed: string[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of entries) {
    const link = path.join(dir, name);
    if (/^python(3(\.\d+)?)?$/.test(name) && isOurs(link, runner)) {
      fs.unlinkSync(link);
      removed.push(link);
    }
  }
  return removed;
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
