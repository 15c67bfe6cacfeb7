// Programmatic use: `import { run } from 'pynwheel'`.
import { runThroughDaemon } from './client';
import { resolveInterpreter } from './interpreter';

export { PynwheelError } from './errors';
export { VERSION } from './version';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Interpreter path; default: $PYNWHEEL_PYTHON, else python3 on PATH. */
  python?: string;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs `file` with `args` as `python3 file args` would, with this process's stdio. */
export async function run(file: string, args: string[] = [], options: RunOptions = {}): Promise<RunResult> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const interpreter = resolveInterpreter(options.python, env, cwd);
  const outcome = await runThroughDaemon(
    { file, args },
    { cwd, env, interpreter, stdio: [0, 1, 2], forwardSignals: false },
  );
  return { exitCode: outcome.exitCode, signal: outcome.signal as NodeJS.Signals | null };
}
