// Shared by the tests: a venv, a private runtime directory per test file, and running one
// script both ways (plain python and pynwheel) to compare what a user would see.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'bin', 'pynwheel.js');
export const FIXTURES = path.join(__dirname, 'fixtures');

/** Packages the tests import from the venv (numpy and torch: native thread pools in a run). */
export const TEST_PACKAGES = ['numpy', 'torch'];

/** The tests' venv (made by .ci/run, or here on first use): a real python, not a pyenv shim. */
export function testVenv(): string {
  const venv = process.env.PYNWHEEL_TEST_VENV ?? path.join(ROOT, '.venv-test');
  const python3 = path.join(venv, 'bin', 'python3');
  if (!fs.existsSync(python3)) {
    const made = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    if (made.status !== 0) throw new Error(`could not create the test venv at ${venv}`);
  }
  // find_spec, not import: importing torch takes seconds, and every test file comes here.
  const found = spawnSync(python3, ['-c', 'import importlib.util, sys\nprint(" ".join(n for n in sys.argv[1:] if importlib.util.find_spec(n) is None))', ...TEST_PACKAGES], { encoding: 'utf8' });
  const missing = found.status === 0 ? found.stdout.split(/\s+/).filter(Boolean) : TEST_PACKAGES;
  if (missing.length) pipInstall(python3, missing);
  return venv;
}

/** pip install, from the machine's local package index when it has one (no network needed). */
export function pipInstall(python3: string, packages: string[]): void {
  const local = ['/opt/pypi/simple', '/opt/pypi-more/simple'].filter((dir) => fs.existsSync(dir));
  const index = local.length ? ['--index-url', `file://${local[0]}`, ...local.slice(1).flatMap((d) => ['--extra-index-url', `file://${d}`])] : [];
  const result = spawnSync(python3, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...index, ...packages], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`pip could not install ${packages.join(' ')}`);
}

export interface Sandbox {
  /** Runtime directory private to this test file. */
  runtimeDir: string;
  /** Scratch directory for scripts. */
  dir: string;
  venv: string;
  /** A clean environment: the venv first on PATH, nothing inherited that changes python. */
  env: NodeJS.ProcessEnv;
  /** Stops the daemon (if any), checks it is gone, removes the directories. */
  cleanup(): Promise<void>;
}

export interface SandboxOptions {
  /**
   * A venv of the sandbox's own, for tests that write into site-packages: the test files run in
   * parallel, and a module written into the shared venv would change every other file's zygotes.
   * It has no pip (fast to make) and the shared venv's packages as hard links.
   */
  privateVenv?: boolean;
  /**
   * Cold runs as a user gets them (python itself while no warm zygote can take a run). Off
   * (PYNWHEEL_COLD=0) otherwise: a differential test's first run of a key must be a zygote's
   * fork, or it would compare python with python.
   */
  cold?: boolean;
}

export function makeSandbox(name: string, options: SandboxOptions = {}): Sandbox {
  const venv = options.privateVenv ? privateVenv(name) : testVenv();
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), `pnw-${name}-`));
  fs.chmodSync(runtimeDir, 0o700);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pnw-${name}-scripts-`));
  const env: NodeJS.ProcessEnv = {
    PATH: `${path.join(venv, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    PYNWHEEL_RUNTIME_DIR: runtimeDir,
    // If tap kills a test file (timeout) before its teardown stops the daemon, it still leaves.
    PYNWHEEL_IDLE: '120',
    ...(options.cold ? {} : { PYNWHEEL_COLD: '0' }),
  };
  return {
    runtimeDir,
    dir,
    venv,
    env,
    async cleanup() {
      await stopDaemon(env);
      fs.rmSync(runtimeDir, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
      if (options.privateVenv) fs.rmSync(venv, { recursive: true, force: true });
    },
  };
}

function privateVenv(name: string): string {
  const shared = testVenv();
  // Beside the shared venv, so that its packages can be hard links (the same file system); hard
  // links, not a .pth: a package found through a .pth is not site-packages to a zygote.
  const venv = fs.mkdtempSync(`${shared}-${name}-`);
  const made = spawnSync(path.join(shared, 'bin', 'python3'), ['-m', 'venv', '--without-pip', venv], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`could not create a venv at ${venv}: ${made.stderr}`);
  const site = sitePackages(venv);
  fs.rmSync(site, { recursive: true, force: true });
  const linked = spawnSync('cp', ['-al', sitePackages(shared), site], { encoding: 'utf8' });
  if (linked.status !== 0) throw new Error(`could not link ${sitePackages(shared)} into ${site}: ${linked.stderr}`);
  return venv;
}

/** `pynwheel stop`, then wait until the daemon's pid is gone. */
export async function stopDaemon(env: NodeJS.ProcessEnv): Promise<void> {
  const pidFile = path.join(env.PYNWHEEL_RUNTIME_DIR!, 'daemon.pid');
  const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
  spawnSync(process.execPath, [CLI, 'stop'], { env, stdio: 'ignore' });
  for (let i = 0; pid && i < 200 && isAlive(pid); i++) await sleep(25);
  if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Outcome {
  stdout: Buffer;
  stderr: Buffer;
  status: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: Buffer | string;
  timeoutMs?: number;
}

/** Spawn and collect everything, stdin fed from `input` (or /dev/null). */
export function collect(command: string, args: string[], options: RunOptions & { argv0?: string }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = {
      cwd: options.cwd,
      env: options.env,
      argv0: options.argv0,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    };
    const child = spawn(command, args, spawnOptions);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    if (options.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(options.input);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), status, signal });
    });
  });
}

/** `python3 ARGS` as a user would type it (python3 found on the sandbox PATH). */
export function python(sandbox: Sandbox, args: string[], options: RunOptions = {}): Promise<Outcome> {
  return collect('python3', args, { cwd: sandbox.dir, ...options, env: { ...sandbox.env, ...options.env } });
}

/** `pynwheel ARGS` with the same environment. */
export function pynwheel(sandbox: Sandbox, args: string[], options: RunOptions = {}): Promise<Outcome> {
  return collect(process.execPath, [CLI, ...args], { cwd: sandbox.dir, ...options, env: { ...sandbox.env, ...options.env } });
}

/** The same script both ways: `python3 FILE ARGS` and `pynwheel run FILE ARGS`. */
export async function both(sandbox: Sandbox, pythonArgs: string[], options: RunOptions = {}): Promise<{ py: Outcome; pnw: Outcome }> {
  const py = await python(sandbox, pythonArgs, options);
  const pnw = await pynwheel(sandbox, ['run', ...pythonArgs], options);
  return { py, pnw };
}

/**
 * Outcomes as strings, for readable diffs in t.same. Object addresses (`at 0x7f...`) differ
 * between any two processes, so they are masked; everything else must match byte for byte.
 */
export function view(o: Outcome): { stdout: string; stderr: string; status: number | null; signal: string | null } {
  const mask = (b: Buffer) => b.toString('latin1').replace(/ at 0x[0-9a-f]{6,16}>/g, ' at 0x...>');
  return { stdout: mask(o.stdout), stderr: mask(o.stderr), status: o.status, signal: o.signal };
}

export function write(sandbox: Sandbox, relative: string, text: string, mode = 0o644): string {
  const file = path.join(sandbox.dir, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
  return file;
}

/** The site-packages directory of a venv. */
export function sitePackages(venv: string): string {
  const lib = path.join(venv, 'lib');
  return path.join(lib, fs.readdirSync(lib).find((d) => d.startsWith('python'))!, 'site-packages');
}

/** `pynwheel status --json`, parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function daemonStatus(sandbox: Sandbox, env: NodeJS.ProcessEnv = {}): Promise<Record<string, any>> {
  return JSON.parse((await pynwheel(sandbox, ['status', '--json'], { env })).stdout.toString());
}
