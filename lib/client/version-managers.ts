// Runs in the Node client (the CLI, or a Node API caller's process): what a version manager's shim
// would run for this caller. pyenv's shim is asked itself, once (a probe: the interpreter it
// execs and the environment it gives it), and the answer is kept with the files and variables
// that pyenv's own scripts read to decide it (interpreter-cache.ts). A shim or manager not
// understood is run as it is, never guessed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Resolved } from './interpreter-cache';

export interface ShimAnswer extends Resolved {
  /** The files whose change could change the answer. */
  files: string[];
}

/** The variable that keeps a masquerading `python3` (pynwheel shims) from finding, through a manager, itself. */
export const MASQUERADE_SKIP = 'PYNWHEEL_MASQUERADE_SKIP';

/** Hooks of pyenv and pyenv-virtualenv known to change nothing for a python that is found. */
const KNOWN_HOOKS = new Set(['exec/pip-rehash.bash', 'which/conda.bash', 'which/python-config.bash', 'which/system-site-packages.bash']);
const HOOKED_COMMANDS = ['exec', 'which', 'version-name', 'version-origin'];

/** The first bytes of a file: a `#!` script is a shim to understand, anything else an interpreter. */
export function isScript(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(2);
    return fs.readSync(fd, head, 0, 2, 0) === 2 && head.toString('latin1') === '#!';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** A mise shim: a link to the mise binary under the tool's name (`mise reshim`). */
export function isMiseShim(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink() && path.basename(fs.realpathSync(file)) === 'mise';
  } catch {
    return false;
  }
}

/** A shim: a `#!` script, or a link to mise. What is neither is an interpreter. */
export function isShim(file: string): boolean {
  return isMiseShim(file) || isScript(file);
}

/** What running `candidate` (found as `name`) would run; for a shim, never null. */
export function resolveShim(candidate: string, name: string, env: NodeJS.ProcessEnv, cwd: string, module?: string): ShimAnswer {
  if (isMiseShim(candidate)) return resolveMise(candidate, name, env, cwd);
  const pyenv = pyenvOf(candidate);
  if (!pyenv) return asIs(candidate, `${candidate} is a script pynwheel does not know: it is run as it is`, [candidate]);
  return resolvePyenv(pyenv, candidate, name, env, cwd, module);
}

function asIs(candidate: string, how: string, files: string[]): ShimAnswer {
  return { verdict: 'as-is', python: candidate, how, edits: [], files };
}

interface Pyenv {
  root: string;
  libexec: string;
}

/** A pyenv shim, as `pyenv rehash` writes it: PYENV_ROOT and the pyenv it execs, in its own directory. */
function pyenvOf(candidate: string): Pyenv | null {
  let text: string;
  try {
    text = fs.readFileSync(candidate, 'utf8');
  } catch {
    return null;
  }
  const root = /^export PYENV_ROOT="([^"$`\\]+)"$/m.exec(text)?.[1];
  const libexec = /^exec "([^"$`\\]+)\/pyenv" exec "\$program" "\$@"$/m.exec(text)?.[1];
  if (!root || !libexec || path.dirname(candidate) !== path.join(root, 'shims')) return null;
  return { root, libexec };
}

/** pyenv-version-file's walk: `.python-version` in `dir` and each directory above it, up to the first found. */
function versionFilesFrom(dir: string, files: string[]): boolean {
  for (let at = dir; ; at = path.dirname(at)) {
    const file = path.join(at, '.python-version');
    files.push(file);
    try {
      if (fs.statSync(file).isFile()) return true;
    } catch {
      /* absent: on up */
    }
    if (at === '/') return false;
  }
}

function hookDirs(pyenv: Pyenv, env: NodeJS.ProcessEnv): string[] {
  // libexec/pyenv's PYENV_HOOK_PATH, in its order.
  const install = path.dirname(pyenv.libexec);
  const dirs = (env.PYENV_HOOK_PATH ?? '').split(':').filter(Boolean);
  dirs.push(path.join(pyenv.root, 'pyenv.d'));
  if (install !== pyenv.root) dirs.push(path.join(install, 'pyenv.d'));
  dirs.push('/usr/etc/pyenv.d', '/usr/local/etc/pyenv.d', '/etc/pyenv.d', '/usr/lib/pyenv/hooks');
  try {
    for (const plugin of fs.readdirSync(path.join(pyenv.root, 'plugins')).sort()) {
      dirs.push(path.join(pyenv.root, 'plugins', plugin, 'etc', 'pyenv.d'));
    }
  } catch {
    /* no plugins */
  }
  return dirs;
}

const PROBE = "import sys;e=open('/proc/self/environ','rb').read();o=getattr(sys.stdout,'buffer',sys.stdout);" +
  "o.write(sys.executable.encode('utf-8')+b'\\0'+('%d.%d'%sys.version_info[:2]).encode('ascii')+b'\\0\\0'+e)";

/** The oldest python a zygote runs (python/pynwheel_zygote.py); older ones are run through their shim. */
const ZYGOTE_MIN = [3, 9];

interface Probed {
  python: string;
  /** major.minor */
  version: string;
  given: Map<string, string>;
  edits: Array<[string, string | null]>;
}

/** The shim itself decides, once: the python it execs and the environment it gives it; null if it says anything or fails. */
function probeShim(candidate: string, name: string, env: NodeJS.ProcessEnv, cwd: string): Probed | null {
  const probeEnv = { ...env, [MASQUERADE_SKIP]: [env[MASQUERADE_SKIP], candidate].filter(Boolean).join(':') };
  const probe = spawnSync(candidate, ['-c', PROBE], { cwd, env: probeEnv, argv0: name, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  const out = probe.stdout ?? Buffer.alloc(0);
  const split = out.indexOf('\0\0');
  if (probe.status !== 0 || (probe.stderr?.length ?? 0) > 0 || split <= 0) return null;
  const [python, version] = out.subarray(0, split).toString('utf8').split('\0');
  const given = new Map<string, string>();
  for (const item of out.subarray(split + 2).toString('utf8').split('\0')) {
    const eq = item.indexOf('=');
    if (eq > 0 && !given.has(item.slice(0, eq))) given.set(item.slice(0, eq), item.slice(eq + 1));
  }
  given.delete(MASQUERADE_SKIP);
  if (env[MASQUERADE_SKIP] !== undefined) given.set(MASQUERADE_SKIP, env[MASQUERADE_SKIP]!);
  const edits: Array<[string, string | null]> = [];
  for (const [k, v] of given) if (env[k] !== v) edits.push([k, v]);
  for (const k of Object.keys(env)) if (env[k] !== undefined && !given.has(k)) edits.push([k, null]);
  return { python, version: version ?? '', given, edits };
}

/** A python too old for a zygote: its shim runs it, as it is. */
function tooOld(probed: Probed): boolean {
  const [major, minor] = probed.version.split('.').map(Number);
  return !(major > ZYGOTE_MIN[0] || (major === ZYGOTE_MIN[0] && minor >= ZYGOTE_MIN[1]));
}

function resolvePyenv(pyenv: Pyenv, candidate: string, name: string, env: NodeJS.ProcessEnv, cwd: string, module?: string): ShimAnswer {
  const files = [candidate, pyenv.libexec, path.join(pyenv.root, 'versions'), path.join(pyenv.root, 'plugins')];
  if (env._PYENV_SHIM_PATH || Object.keys(env).some((k) => k.startsWith('_PYENV_SHIM_PATHS_'))) {
    return asIs(candidate, `pyenv (${candidate}) with nested shim directories: run as it is`, files);
  }
  // pip-rehash's hook runs `-m pip` through a wrapper of its own.
  if (module === 'pip') return asIs(candidate, `pyenv (${candidate}) runs pip with its rehash hook: run as it is`, files);
  for (const dir of hookDirs(pyenv, env)) {
    for (const command of HOOKED_COMMANDS) {
      const hookDir = path.join(dir, command);
      files.push(hookDir);
      let hooks: string[] = [];
      try {
        hooks = fs.readdirSync(hookDir).filter((f) => f.endsWith('.bash'));
      } catch {
        /* none */
      }
      const unknown = hooks.find((hook) => !KNOWN_HOOKS.has(`${command}/${hook}`));
      if (unknown) return asIs(candidate, `pyenv (${candidate}) with a hook pynwheel does not know (${path.join(hookDir, unknown)}): run as it is`, files);
    }
  }
  // Which file names the version (pyenv-version-file), as its scripts would look for it.
  let origin: string;
  if (env.PYENV_VERSION) {
    origin = `PYENV_VERSION=${env.PYENV_VERSION}`;
  } else {
    const pyenvDir = env.PYENV_DIR ? path.resolve(cwd, env.PYENV_DIR) : cwd;
    const found = versionFilesFrom(pyenvDir, files) || (pyenvDir !== cwd && versionFilesFrom(cwd, files));
    const global = path.join(pyenv.root, 'version');
    if (!found) files.push(global);
    origin = found ? files[files.length - 1] : global;
  }
  const probed = probeShim(candidate, name, env, cwd);
  if (!probed) {
    // Its own message and status, every time (a version not installed, a command not found).
    return asIs(candidate, `pyenv (${candidate}) does not run a python quietly here (${origin}): run as it is`, files);
  }
  const { python, given, edits } = probed;
  if (tooOld(probed)) return asIs(candidate, `pyenv: Python ${probed.version} (${origin}) is older than a zygote runs (3.9): run through ${candidate} as it is`, [...files, python]);
  for (const version of (given.get('PYENV_VERSION') ?? '').split(':')) {
    if (version && version !== 'system') files.push(path.join(pyenv.root, 'versions', version), path.join(pyenv.root, 'versions', version, 'bin'));
  }
  if ((given.get('PYENV_VERSION') ?? 'system').split(':').includes('system')) {
    // pyenv-which's search of PATH: a python added to a directory before the one found.
    for (const entry of (env.PATH ?? '').split(':')) files.push(path.resolve(cwd, entry || '.'));
  }
  files.push(python);
  const version = given.get('PYENV_VERSION') ?? '?';
  return { verdict: 'run', python, how: `pyenv ${version} (${origin}), through ${candidate}`, edits, files };
}

/** The files mise reads for a directory's tools (its config files, idiomatic version files), in one directory. */
const MISE_LOCAL_FILES = [
  'mise.toml', '.mise.toml', 'mise.local.toml', '.mise.local.toml', '.tool-versions', '.config/mise.toml',
  '.config/mise/config.toml', '.config/mise/config.local.toml', '.config/mise/conf.d', 'mise/config.toml',
  'mise/config.local.toml', '.mise/config.toml', '.mise/config.local.toml', '.python-version', '.python-versions',
];

/**
 * mise: its shim is asked once, as pyenv's, and the answer kept against every config file mise
 * may read from the cwd up, its global ones, its installs and the MISE_* variables. A config that
 * computes anything when read (templates, `_.source`, `_.file`) is run as it is: no file records it.
 */
function resolveMise(candidate: string, name: string, env: NodeJS.ProcessEnv, cwd: string): ShimAnswer {
  const home = env.HOME ?? '/';
  const configDir = env.MISE_CONFIG_DIR ?? path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'mise');
  const dataDir = env.MISE_DATA_DIR ?? path.join(env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), 'mise');
  const files = [candidate, fs.realpathSync(candidate), path.join(dataDir, 'installs'), path.join(dataDir, 'installs', 'python'),
    path.join(configDir, 'config.toml'), path.join(configDir, 'conf.d'), '/etc/mise/config.toml', '/etc/mise/conf.d'];
  if (env.MISE_GLOBAL_CONFIG_FILE) files.push(env.MISE_GLOBAL_CONFIG_FILE);
  if (env.MISE_ENV) return asIs(candidate, `mise (${candidate}) with MISE_ENV: run as it is`, files);
  for (let at = cwd; ; at = path.dirname(at)) {
    for (const local of MISE_LOCAL_FILES) files.push(path.join(at, local));
    if (at === '/') break;
  }
  for (const file of files) {
    let text = '';
    try {
      if (fs.statSync(file).isFile() && file.endsWith('.toml')) text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (/\{\{|\{%|_\.source|_\.file|_\.python/.test(text)) {
      return asIs(candidate, `mise (${candidate}): ${file} computes its environment when read: run as it is`, files);
    }
  }
  const probed = probeShim(candidate, name, env, cwd);
  if (!probed) return asIs(candidate, `mise (${candidate}) does not run a python quietly here: run as it is`, files);
  if (tooOld(probed)) return asIs(candidate, `mise: Python ${probed.version} is older than a zygote runs (3.9): run through ${candidate} as it is`, [...files, probed.python]);
  files.push(probed.python);
  const origin = files.filter((f) => /(\.toml|\.tool-versions|\.python-versions?)$/.test(f) && fs.existsSync(f))[0] ?? 'no config file';
  return { verdict: 'run', python: probed.python, how: `mise (${origin}), through ${candidate}`, edits: probed.edits, files };
}
