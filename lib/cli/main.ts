// Runs in the CLI: the `pynwheel` command's entry (dist/cli/main.js, which bin/pynwheel.js and
// the native runner hand over to). The run path parses its arguments by hand (they belong to
// the script verbatim, and yargs costs start-up time); the management commands use yargs.
import { PynwheelError } from '../shared/errors';
import { takeCaller } from './caller';
import { managementCommand } from './manage';
import { splitShebangOptions, UsageError } from './run-args';
import { EXIT_PYNWHEEL_FAILED, runCommand } from './run-command';
import { say } from './say';
import { tasksCommand } from './tasks';
import { warmCommand } from './warm';

const COMMANDS = new Set(['run', 'tasks', 'warm', 'worker', 'start', 'stop', 'status', 'doctor', 'shims', 'python-path', 'help', '--help', '-h', '--version', '-V']);

export async function main(argv: string[]): Promise<number> {
  takeCaller(); // first: it takes a variable out of the environment
  const [first] = argv;
  if (first === 'run' && (argv[1] === '--on' || argv[1]?.startsWith('--on='))) return (await import('./run-on')).runOnCommand(argv.slice(1)); // (the cluster's modules load BullMQ: only when asked)
  if (first === 'run') return runCommand(argv.slice(1));
  if (first === 'worker') return (await import('./worker-command')).workerCommand(argv.slice(1));
  if (first === 'status' && argv.some((a) => a === '--on' || a.startsWith('--on='))) return (await import('./cluster-status')).clusterStatusCommand(argv.slice(1));
  if (first === 'tasks') return tasksCommand(argv.slice(1));
  if (first === 'warm') return warmCommand(argv.slice(1));
  if (first !== undefined && !COMMANDS.has(first)) {
    // `pynwheel [PYTHON OPTIONS] FILE ARGS` (a `#!/usr/bin/env -S pynwheel -u` script), the
    // spec's `--file` form, and `#!/path/to/pynwheel -u -B`, whose options the kernel passes as one.
    return runCommand(splitShebangOptions(argv));
  }
  return managementCommand(argv);
}

export function reportFailure(err: unknown): number {
  if (err instanceof UsageError) {
    say(2, `pynwheel: ${err.message}`);
    return 2;
  }
  if (err instanceof PynwheelError) {
    say(2, `pynwheel: ${err.message}`);
    return EXIT_PYNWHEEL_FAILED;
  }
  say(2, `pynwheel: internal error: ${(err as Error)?.stack ?? String(err)}`);
  return EXIT_PYNWHEEL_FAILED;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => process.exit(reportFailure(err)),
  );
}
