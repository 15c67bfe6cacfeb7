// Runs in the Node client (the CLI, or a Node API caller's process): what a version manager's
// shim resolved to, kept in `<runtime>/interp/<name>` with exactly the files and variables that
// decided it, so that the next run (here or in the native runner, native/runner/interp_cache.cc)
// costs a few stats instead of the shim's start-up. The format is read by both: fields separated
// by NUL bytes, in this order:
//   "pynwheel-interp-1", candidate, cwd,
//   N, then N × (name, value): the deciding variables (decidingVariables) as they were,
//   M, then M × (path, signature): the deciding files ("-" absent, else "ino:size:mtimeNs"),
//   verdict ("run": serve with python; "as-is": exec the candidate itself), python, how,
//   E, then E × (name, "=value" to set | "!" to unset): what the shim changes in the environment.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { routeName } from '../shared/route-name';

export const CACHE_MAGIC = 'pynwheel-interp-1';

export interface Resolved {
  verdict: 'run' | 'as-is';
  /** The interpreter the shim would exec (for 'as-is': the candidate itself). */
  python: string;
  /** How it was chosen, in words (status and doctor show it). */
  how: string;
  /** What the shim changes in the environment before it execs python: a value, or null to unset. */
  edits: Array<[string, string | null]>;
}

export interface CacheEntry extends Resolved {
  candidate: string;
  cwd: string;
  variables: Array<[string, string]>;
  files: string[];
}

/** Variables a shim's decision may read: PATH and the shell's own, and the managers' (PYENV_*, MISE_*, XDG_*). */
export function isDecidingVariable(name: string): boolean {
  return name === 'PATH' || name === 'PWD' || name === 'OLDPWD' || name === 'HOME' || name === 'SHLVL' ||
    name.startsWith('PYENV_') || name.startsWith('_PYENV_') || name.startsWith('MISE_') || name.startsWith('XDG_');
}

/** The deciding variables of `env`, sorted by name (as native/runner/interp_cache.cc sorts them). */
export function decidingVariables(env: NodeJS.ProcessEnv): Array<[string, string]> {
  return Object.entries(env)
    .filter((entry): entry is [string, string] => entry[1] !== undefined && isDecidingVariable(entry[0]))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The entry's file name: FNV-1a 64 (lib/shared/route-name.ts) of candidate, cwd and the variables. */
export function cacheName(candidate: string, cwd: string, variables: Array<[string, string]>): string {
  return routeName(candidate, cwd, variables.map(([k, v]) => `${k}=${v}`).join('\0'));
}

export function fileSignature(file: string): string {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return '-';
  }
}

export function encodeEntry(entry: CacheEntry): string {
  const fields: string[] = [CACHE_MAGIC, entry.candidate, entry.cwd, String(entry.variables.length)];
  for (const [k, v] of entry.variables) fields.push(k, v);
  fields.push(String(entry.files.length));
  for (const file of entry.files) fields.push(file, fileSignature(file));
  fields.push(entry.verdict, entry.python, entry.how, String(entry.edits.length));
  for (const [k, v] of entry.edits) fields.push(k, v === null ? '!' : `=${v}`);
  return fields.join('\0');
}

/** A count field as native/runner/interp_cache.cc takes one (digits, at most 100000), else NaN. */
const count = (field: string | undefined): number => (field !== undefined && /^\d{1,6}$/.test(field) && Number(field) <= 100000 ? Number(field) : NaN);

/** The entry's answer if every variable and file is as it was, else null. */
export function readEntry(dir: string, candidate: string, cwd: string, env: NodeJS.ProcessEnv): Resolved | null {
  const variables = decidingVariables(env);
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, cacheName(candidate, cwd, variables)), 'utf8');
  } catch {
    return null;
  }
  const f = text.split('\0');
  let i = 0;
  const next = (): string | undefined => f[i++];
  if (next() !== CACHE_MAGIC || next() !== candidate || next() !== cwd) return null;
  const nVars = count(next());
  if (nVars !== variables.length) return null;
  for (const [k, v] of variables) {
    if (next() !== k || next() !== v) return null;
  }
  const nFiles = count(next());
  if (Number.isNaN(nFiles)) return null;
  for (let n = 0; n < nFiles; n++) {
    const file = next();
    if (file === undefined || next() !== fileSignature(file)) return null;
  }
  const verdict = next();
  const python = next();
  const how = next();
  const nEdits = count(next());
  if ((verdict !== 'run' && verdict !== 'as-is') || !python || how === undefined || Number.isNaN(nEdits)) return null;
  const edits: Array<[string, string | null]> = [];
  for (let n = 0; n < nEdits; n++) {
    const k = next();
    const v = next();
    if (!k || v === undefined || (v !== '!' && !v.startsWith('='))) return null;
    edits.push([k, v === '!' ? null : v.slice(1)]);
  }
  return { verdict, python, how, edits };
}

/** Written whole by rename, so a reader sees the old entry or the new one. Best effort. */
export function writeEntry(dir: string, entry: CacheEntry): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch {
    /* exists, or the runtime directory does not yet: the next run writes it */
  }
  const file = path.join(dir, cacheName(entry.candidate, entry.cwd, entry.variables));
  const temp = `${file}.${process.pid}`;
  try {
    fs.writeFileSync(temp, encodeEntry(entry), { mode: 0o600 });
    fs.renameSync(temp, file);
  } catch {
    try { fs.unlinkSync(temp); } catch { /* never written */ }
  }
}
