// Runs in the CLI: `pynwheel run`, through the daemon or its lane (lib/client/), or with the
// interpreter itself for what a zygote does not take.
import { clientDebug } from '../client/debug';
import { runDirectly } from '../client/direct';
import { newerThanInterpreter, planPythonOptions } from '../api/python-options';
import { environmentFor, resolveInterpreter } from '../client/interpreter';
import { runThroughDaemon, type RunOutcome } from '../client/run-client';
import { native } from '../shared/native';
import { MAX_FDS_PER_FRAME } from '../shared/protocol-constants';
import { takeCaller } from './caller';
import { parseRunArgs, UsageError, type RunArgs } from './run-args';
import { say } from './say';

/** Set by the native runner under python's names for the Node CLI (native/runner/masquerade.h). */
const MASQUERADE_ARGV0 = 'PYNWHEEL_MASQUERADE_ARGV0';

/** Exit status the CLI uses when pynwheel itself, not the script, failed (as docker does). */
export const EXIT_PYNWHEEL_FAILED = 125;

export async function runCommand(argv: string[]): Promise<number> {
  let parsed: RunArgs;
  try {
    parsed = parseRunArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      say(2, `pynwheel: ${err.message}\nusage: pynwheel run [--python PATH] [PYTHON OPTIONS] (FILE | -m MODULE | -c CODE | -) [ARGS...]`);
      return 2;
    }
    throw err;
  }
  const cwd = currentDirectory();
  const found = resolveInterpreter(parsed.python, process.env, cwd, parsed.module);
  // Under python's name (pynwheel shims), python's messages name it as typed, unless a shim execs it by its full path.
  const typed = process.env[MASQUERADE_ARGV0];
  delete process.env[MASQUERADE_ARGV0];
  const interpreter = typed && found.path === parsed.python && !found.asIs ? { ...found, argv0: typed } : found;
  // The environment python would get from its shim (pyenv's PATH, PYENV_VERSION, ...).
  const env = environmentFor(interpreter, process.env);
  const caller = takeCaller();
  let outcome: RunOutcome;
  // python's flags become the start-up variables a zygote of that key has (lib/shared/command-line.json);
  // a flag without one, or a command line python must read itself (a bad one, a script on stdin,
  // none), is the interpreter's own job, as is PYTHONINSPECT (python's REPL after the script).
  // A request carries at most fdsPerFrame fds (stdio, the cwd's, the caller's others).
  const plan = parsed.direct === undefined ? planPythonOptions(parsed.options, env) : undefined;
  const direct = process.env.PYNWHEEL_DISABLE === '1' ? 'PYNWHEEL_DISABLE=1' : parsed.direct !== undefined ? parsed.direct
    : interpreter.asIs ? `the interpreter is run as it is: ${interpreter.how}`
    : plan?.unsupported.length ? `python's own flags ${plan.unsupported.join(' ')}`
    : newerThanInterpreter(parsed.options, interpreter.path) ?? (process.env.PYTHONINSPECT ? 'PYTHONINSPECT'
    : 3 + 1 + caller.passFds.length > MAX_FDS_PER_FRAME ? 'more inheritable fds than a request frame carries' : null);
  if (direct !== null) {
    clientDebug(process.env)?.(`running python directly (${direct})`);
    outcome = await runDirectly(interpreter, parsed.pythonArgv, cwd, env, [0, 1, 2], true, caller);
  } else {
    restoreBlockingStdio();
    outcome = await runThroughDaemon(
      { file: parsed.file, module: parsed.module, code: parsed.code, args: parsed.args },
      {
        cwd, env: { ...env, ...plan?.env }, interpreter, stdio: [0, 1, 2], forwardSignals: true, terminal: true, caller,
        // A cold run is python's own; not under python's names (pynwheel shims): the next python
        // on PATH may lead back to the shims (a version manager's `system`), a loop of cold runs.
        // (PYNWHEEL_COLD=0: none; a first run waits for its zygote, as the runner's do then.)
        cold: !typed && env.PYNWHEEL_COLD !== '0',
        direct: { argv: parsed.pythonArgv, env },
      },
    );
  }
  if (outcome.signo !== null) native.dieBySignal(outcome.signo, outcome.core);
  return outcome.exitCode ?? EXIT_PYNWHEEL_FAILED;
}

/**
 * A shell hands python blocking stdio. If something in this Node process touched
 * process.stdout (a NODE_OPTIONS hook, say), libuv made the shared pipe non-blocking, and the
 * run would fail with BlockingIOError; Node itself restores the flag at exit, so do it now.
 */
function restoreBlockingStdio(): void {
  for (const fd of [0, 1, 2]) {
    try {
      native.setNonBlocking(fd, false);
    } catch {
      /* not open, or not ours to change */
    }
  }
}

export function currentDirectory(): string {
  try {
    return process.cwd();
  } catch {
    return process.env.PWD && process.env.PWD.startsWith('/') ? process.env.PWD : '/';
  }
}
