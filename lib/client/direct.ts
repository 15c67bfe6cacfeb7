// Runs in the Node client (the CLI, or a Node API caller's process): running the interpreter
// itself, for what the zygote does not take (PYNWHEEL_DISABLE=1, a script on stdin, modules
// changing on disk): behaviour is then python's own.
import { spawn, type StdioOptions } from 'node:child_process';
import type { Caller } from '../cli/caller';
import { directSiteEnv } from '../shared/direct-site';
import { isStopped, terminalSession } from '../shared/proc-stat';
import { FORWARDED_SIGNALS, terminalJobSignals, signalNumber } from '../shared/signals';
import { findOnPath, type Interpreter } from './interpreter';
import type { RunOutcome, RunTarget } from './run-client';

/** python's arguments for a run target: `FILE ARGS`, `-m MODULE ARGS` or `-c CODE ARGS`. */
export function pythonArgsFor(target: RunTarget): string[] {
  if (target.code !== undefined) return ['-c', target.code, ...target.args];
  return target.module !== undefined ? ['-m', target.module, ...target.args] : [target.file!, ...target.args];
}

/** spawn's stdio: fds 0-2, then each of the caller's other fds at its own number (libuv leaves the gaps closed). */
function stdioOf(stdio: [number | null, number | null, number | null], passFds: number[]): StdioOptions {
  const out: Array<number | 'ignore'> = stdio.map((fd) => fd ?? 'ignore');
  for (const fd of passFds) {
    while (out.length < fd) out.push('ignore');
    out[fd] = fd;
  }
  return out;
}

export function runDirectly(
  interpreter: Interpreter, pythonArgs: string[], cwd: string, env: NodeJS.ProcessEnv,
  stdio: [number | null, number | null, number | null] = [0, 1, 2],
  forwardSignals = true,
  caller?: Caller,
): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    // python finds its prefix (a venv's) by its argv[0]: a bare name PATH resolves to another
    // python (VIRTUAL_ENV's wins over PATH here) would make it that one.
    const argv0 = interpreter.argv0.includes('/') || findOnPath(interpreter.argv0, env.PATH, cwd) === interpreter.path ? interpreter.argv0 : interpreter.path;
    const child = spawn(interpreter.path, pythonArgs, { stdio: stdioOf(stdio, caller?.passFds ?? []), cwd, env: directSiteEnv(env, pythonArgs), argv0 });
    const forward = new Map<NodeJS.Signals, () => void>();
    // python is in our process group: with a terminal, what it sends the job reaches python
    // itself, and is not passed on a second time. Ctrl-Z: we stop only if python did (a
    // script may handle SIGTSTP), as a shell's job.
    const itsOwn = terminalJobSignals(forwardSignals ? terminalSession() : undefined);
    const inTerminalJob = itsOwn.size > 0;
    for (const signal of forwardSignals ? FORWARDED_SIGNALS : []) {
      if (itsOwn.has(signal)) continue;
      if (caller?.signals?.ignored.includes(signalNumber(signal) ?? 0)) continue; // ignored here and there
      const handler = (): void => { child.kill(signal); };
      forward.set(signal, handler);
      process.on(signal, handler);
    }
    if (inTerminalJob) {
      const stopIfStopped = (): void => {
        setTimeout(() => { if (child.pid !== undefined && isStopped(child.pid)) process.kill(process.pid, 'SIGSTOP'); }, 50).unref();
      };
      for (const signal of (['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGWINCH'] as NodeJS.Signals[]).filter((s) => itsOwn.has(s))) {
        // Ours too: we end as python ends, told by its exit (not killed first by the key).
        const handler = (): void => undefined;
        forward.set(signal, handler);
        process.on(signal, handler);
      }
      forward.set('SIGTSTP', stopIfStopped);
      process.on('SIGTSTP', stopIfStopped);
    }
    const cleanup = (): void => forward.forEach((handler, signal) => process.removeListener(signal, handler));
    child.on('error', (err) => { cleanup(); reject(err); });
    child.on('exit', (code, signal) => {
      cleanup();
      resolve({ exitCode: code, signal, signo: signal ? signalNumber(signal) ?? null : null, core: false, pid: child.pid ?? null });
    });
  });
}

