// Running the interpreter itself, for what the zygote does not take (PYNWHEEL_DISABLE=1, a
// script on stdin): behaviour is then python's own.
import { spawn } from 'node:child_process';
import type { RunOutcome } from './client';
import type { Interpreter } from './interpreter';
import { FORWARDED_SIGNALS, signalNumber } from './signals';

export function runDirectly(
  interpreter: Interpreter, pythonArgs: string[], cwd: string, env: NodeJS.ProcessEnv,
  stdio: [number | null, number | null, number | null] = [0, 1, 2],
  forwardSignals = true,
): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(interpreter.path, pythonArgs, { stdio: stdio.map((fd) => fd ?? 'ignore'), cwd, env, argv0: interpreter.argv0 });
    const forward = new Map<NodeJS.Signals, () => void>();
    for (const signal of forwardSignals ? FORWARDED_SIGNALS : []) {
      const handler = (): void => { child.kill(signal); };
      forward.set(signal, handler);
      process.on(signal, handler);
    }
    const cleanup = (): void => forward.forEach((handler, signal) => process.removeListener(signal, handler));
    child.on('error', (err) => { cleanup(); reject(err); });
    child.on('exit', (code, signal) => {
      cleanup();
      resolve({ exitCode: code, signal, signo: signal ? signalNumber(signal) ?? null : null, core: false, pid: child.pid ?? null });
    });
  });
}
