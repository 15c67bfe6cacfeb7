// Runs in a Node API caller's process.
// Starting the run: through the daemon (a fork of a warm zygote), or with the interpreter
// itself when the zygote cannot give python's behaviour (flags without an environment
// variable, PYNWHEEL_DISABLE=1, PYTHONINSPECT, modules changing on disk right now).
import { spawn as spawnChild } from 'node:child_process';
import * as path from 'node:path';
import { clientDebug } from '../client/debug';
import { pythonArgsFor } from '../client/direct';
import type { Interpreter } from '../client/interpreter';
import { runThroughDaemon, type RunOutcome, type RunTarget } from '../client/run-client';
import { directSiteEnv } from '../shared/direct-site';
import { native } from '../shared/native';
import { MAX_FDS_PER_FRAME } from '../shared/protocol-constants';
import { PynwheelError } from '../shared/errors';
import { signalNumber } from '../shared/signals';
import type { PythonOptionPlan } from './python-options';
import { newerThanInterpreter } from './python-options';

export interface LaunchRequest {
  interpreter: Interpreter;
  target: RunTarget;
  cwd: string;
  /** The caller's environment, before pythonOptions' variables are added. */
  env: NodeJS.ProcessEnv;
  pythonOptions: string[];
  plan: PythonOptionPlan;
  stdio: [number | null, number | null, number | null];
}

export interface LaunchEvents {
  /** The run's process exists. */
  started(pid: number): void;
  /** A way to signal the run (until it ends); given before `started`, signals wait in order. */
  control(sendSignal: (signal: NodeJS.Signals) => void): void;
}

export async function launch(request: LaunchRequest, events: LaunchEvents): Promise<RunOutcome> {
  const { env } = request;
  const debug = clientDebug(env);
  // As child_process.spawn's children, the run has this process's inheritable fds above 2 (but
  // python's fresh signal dispositions and an empty mask: spawn resets those).
  const passFds = inheritableFds();
  const direct = request.plan.unsupported.length ? `python's own flags ${request.plan.unsupported.join(' ')}`
    : env.PYNWHEEL_DISABLE === '1' ? 'PYNWHEEL_DISABLE=1'
    : request.interpreter.asIs ? `the interpreter is run as it is: ${request.interpreter.how}` : env.PYTHONINSPECT ? 'PYTHONINSPECT'
    : 3 + 1 + passFds.length + 1 > MAX_FDS_PER_FRAME ? 'more inheritable fds than a request frame carries'
    : newerThanInterpreter(request.pythonOptions ?? [], request.interpreter.path) ?? null;
  if (direct !== null) {
    debug?.(`running python directly (${direct})`);
    return launchDirectly(request, events);
  }
  try {
    return await runThroughDaemon(request.target, {
      cwd: request.cwd,
      env: { ...env, ...request.plan.env },
      interpreter: request.interpreter,
      stdio: request.stdio,
      forwardSignals: false,
      onStarted: events.started,
      onControl: events.control,
      directFallback: false,
      caller: { passFds },
      carriesSocket: request.target.call !== undefined,
    });
  } catch (err) {
    // Modules keep changing on disk (an install in progress): no zygote can be trusted, and the
    // run has not started; the interpreter runs it, as the CLI does.
    if (err instanceof PynwheelError && (err.code === 'ESTALE' || err.code === 'EDIRECT')) {
      debug?.(`running python directly (${err.code}: ${err.message})`);
      return launchDirectly(request, events);
    }
    throw err;
  }
}

/** The command python would be run with, for messages: [interpreter, ...flags, file, ...args]. */
export function pythonCommand(request: Pick<LaunchRequest, 'interpreter' | 'target' | 'pythonOptions'>): string[] {
  return [request.interpreter.argv0, ...request.pythonOptions, ...pythonArgsFor(request.target)];
}

/** The package beside the zygote's entry script: a call without a zygote imports its call.py. */
const PYTHON_HOME = path.resolve(__dirname, '..', '..', 'python');
const CALL_BOOTSTRAP = `import sys; sys.path.insert(0, ${JSON.stringify(PYTHON_HOME)}); import _pynwheel.call as c; del sys.path[0]; sys.exit(c.run_direct(sys.argv[1]))`;

/** The interpreter's arguments: `FILE ARGS`, `-m MODULE ARGS`, or a call's bootstrap (its channel as fd 3). */
function directArgs(target: RunTarget): string[] {
  if (target.call === undefined) return pythonArgsFor(target);
  const { file, module, args } = target;
  return ['-c', CALL_BOOTSTRAP, JSON.stringify({ ...(module !== undefined ? { module } : { file }), args, call: 3 })];
}

/** `python FLAGS FILE ARGS` as a child of this process, with the same fds. */
function launchDirectly(request: LaunchRequest, events: LaunchEvents): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    const stdio: Array<number | 'ignore'> = request.stdio.map((fd) => fd ?? 'ignore');
    if (request.target.call !== undefined) stdio.push(request.target.call);
    const child = spawnChild(request.interpreter.path, [...request.pythonOptions, ...directArgs(request.target)], {
      cwd: request.cwd,
      env: directSiteEnv(request.env, request.pythonOptions),
      argv0: request.interpreter.argv0,
      // A closed fd cannot be handed to a child by child_process: /dev/null is the nearest.
      stdio,
    });
    events.control((signal) => { child.kill(signal); });
    child.on('spawn', () => events.started(child.pid!));
    child.on('error', (err) => reject(new PynwheelError('ESPAWN', `cannot run ${request.interpreter.path}: ${err.message}`, { cause: err })));
    child.on('exit', (code, signal) => resolve({
      exitCode: code,
      signal,
      signo: signal ? signalNumber(signal) ?? null : null,
      core: false,
      pid: child.pid ?? null,
    }));
  });
}

/** This process's fds above 2 that a program it spawned would inherit. */
function inheritableFds(): number[] {
  try {
    return native.inheritableFds();
  } catch {
    return []; // no /proc: none, as before
  }
}
