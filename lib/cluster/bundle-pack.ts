// Runs in a submitter's process: a code directory packed into a bundle, leaving out what must
// not or need not travel (version control, virtual environments, caches, what .gitignore
// ignores, files that hold secrets), within a size limit.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PynwheelError } from '../shared/errors';
import { bundleHash, encodeBundle, type BundleFile } from './bundle-format';

export const DEFAULT_MAX_BUNDLE = 100 * 1024 * 1024;

/** Directories never packed. */
const SKIPPED_DIRS = new Set(['.git', '.hg', '.svn', 'node_modules', '__pycache__', '.venv', 'venv', '.tox', '.nox', '.mypy_cache', '.pytest_cache', '.ruff_cache', '.ssh', '.gnupg', '.aws']);
/** Files that hold secrets, by name. */
const SECRET_FILES = /^(\.env(\..*)?|\.netrc|\.pgpass|\.npmrc|\.pypirc|id_(rsa|dsa|ecdsa|ed25519)(_sk)?|.*\.(pem|key|p12|pfx|keystore|jks))$/;
/** ... and by what they begin with. */
const PRIVATE_KEY = /-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----/;

export interface PackOptions {
  /** Largest bundle, in bytes; default 100 MiB. */
  maxBytes?: number;
  /** The last pack of this directory: a file whose stat is unchanged is not read again (see below). */
  previous?: Packed;
}

export interface Packed {
  hash: string; bytes: Buffer; files: number; skipped: string[];
  /** Files whose content came from `previous`, unread. */
  reused: number;
  /** Per file: its stat signature and content, for the next pack. */
  seen: Map<string, { sig: string; data: Buffer }>;
  /** Epoch ms at the start of the walk: a file modified in that second or later is read again (git's racy-timestamp rule). */
  packedAt: number;
}

export function packDirectory(dir: string, options: PackOptions = {}): Packed {
  const root = fs.realpathSync(dir);
  if (root === '/' || root === safeRealpath(os.homedir())) {
    throw new PynwheelError('EBUNDLE', `${root} is ${root === '/' ? 'the root directory' : 'your home directory'}: give the code's own directory (codeDir) instead`);
  }
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BUNDLE;
  const files: BundleFile[] = [];
  const skipped: string[] = [];
  const previous = options.previous;
  const seen = new Map<string, { sig: string; data: Buffer }>();
  const packedAt = Date.now();
  let reused = 0;
  let total = 0;
  const walk = (abs: string, rel: string, rules: IgnoreRule[]): void => {
    const here = [...rules, ...readGitignore(abs, rel)];
    for (const entry of fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const childAbs = path.join(abs, entry.name);
      let stat: fs.Stats;
      try {
        stat = fs.statSync(childAbs); // a symlink counts as what it points at, if that is inside
      } catch {
        continue;
      }
      if (entry.isSymbolicLink() && !inside(root, safeRealpath(childAbs))) {
        skipped.push(`${childRel} (a link out of the code directory)`);
        continue;
      }
      const isDir = stat.isDirectory();
      if (isDir && (SKIPPED_DIRS.has(entry.name) || fs.existsSync(path.join(childAbs, 'pyvenv.cfg')))) {
        skipped.push(`${childRel}/`);
        continue;
      }
      if (ignored(here, childRel, isDir)) {
        skipped.push(isDir ? `${childRel}/` : childRel);
        continue;
      }
      if (isDir) {
        walk(childAbs, childRel, here);
        continue;
      }
      if (!stat.isFile()) continue;
      // Unchanged since the last pack, by its stat, and not modified within that pack's second
      // (a write later in the same second could keep the same mtime): its content is the last pack's.
      const sig = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.mode}`;
      const before = previous?.seen.get(childRel);
      if (before !== undefined && before.sig === sig && Math.floor(stat.mtimeMs / 1000) < Math.floor(previous!.packedAt / 1000)) {
        reused++;
        seen.set(childRel, before);
        total += before.data.length;
        files.push({ path: childRel, mode: stat.mode, data: before.data });
        continue;
      }
      if (SECRET_FILES.test(entry.name) || holdsPrivateKey(childAbs)) {
        skipped.push(`${childRel} (secret)`);
        continue;
      }
      const data = fs.readFileSync(childAbs);
      seen.set(childRel, { sig, data });
      total += data.length;
      files.push({ path: childRel, mode: stat.mode, data });
    }
  };
  walk(root, '', []);
  if (total > maxBytes) {
    const largest = [...files].sort((a, b) => b.data.length - a.data.length).slice(0, 5)
      .map((f) => `${f.path} (${mib(f.data.length)})`).join(', ');
    throw new PynwheelError('EBUNDLE', `the code directory ${root} packs to ${mib(total)}, over the limit of ${mib(maxBytes)}; its largest files: ${largest} (leave them out with .gitignore, or give a smaller codeDir)`);
  }
  // Nothing read and the same files: the last bundle as it was (no encoding, no hashing).
  if (previous && reused === files.length && files.length === previous.files && skipped.length === previous.skipped.length) {
    return { ...previous, reused, seen, packedAt: previous.packedAt };
  }
  const bytes = encodeBundle(files);
  return { hash: bundleHash(bytes), bytes, files: files.length, skipped, reused, seen, packedAt };
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function safeRealpath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(`${root}/`);
}

function holdsPrivateKey(file: string): boolean {
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return PRIVATE_KEY.test(head.toString('latin1', 0, n));
  } catch {
    return false;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** One .gitignore line: which paths it matches (relative to the code directory), and how. */
interface IgnoreRule { regex: RegExp; negate: boolean; dirOnly: boolean }

function readGitignore(abs: string, rel: string): IgnoreRule[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(abs, '.gitignore'), 'utf8');
  } catch {
    return [];
  }
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.replace(/(?<!\\)\s+$/, '');
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1);
    const dirOnly = line.endsWith('/');
    if (dirOnly) line = line.slice(0, -1);
    // A pattern with a slash (other than at its end) is anchored to its .gitignore's directory.
    const anchored = line.includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    const body = globToRegex(line);
    const base = rel ? `${escapeRegex(rel)}/` : '';
    rules.push({ regex: new RegExp(anchored ? `^${base}${body}$` : `^${base}(.*/)?${body}$`), negate, dirOnly });
  }
  return rules;
}

function ignored(rules: readonly IgnoreRule[], rel: string, isDir: boolean): boolean {
  let out = false;
  for (const rule of rules) {
    if (rule.dirOnly && !isDir) continue;
    if (rule.regex.test(rel)) out = !rule.negate;
  }
  return out;
}

function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      out += glob[i + 2] === '/' ? '(.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\' && i + 1 < glob.length) out += escapeRegex(glob[++i]);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${glob.slice(i + 1, end).replace(/^!/, '^')}]`;
        i = end;
      }
    } else out += escapeRegex(c);
  }
  return out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
