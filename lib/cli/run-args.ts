// Runs in the CLI: splits a `run` command line by hand. Everything after the script (or
// -m MODULE) belongs to the script verbatim, options and `--` included, as with python.
export interface RunArgs {
  file?: string;
  module?: string;
  args: string[];
  python?: string;
}

export class UsageError extends Error {}

/** `argv` starts after `run` (or is the whole command line in the shebang and spec forms). */
export function parseRunArgs(argv: string[]): RunArgs {
  let python: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--python' || arg === '-p') {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs an interpreter path`);
      python = argv[++i];
    } else if (arg.startsWith('--python=')) {
      python = arg.slice('--python='.length);
    } else if (arg === '-m') {
      if (i + 1 >= argv.length) throw new UsageError('Argument expected for the -m option');
      return { module: argv[i + 1], args: argv.slice(i + 2), python };
    } else if (arg.startsWith('-m') && arg.length > 2 && !arg.startsWith('--')) {
      return { module: arg.slice(2), args: argv.slice(i + 1), python };
    } else if (arg === '--file') {
      // The original spec's form: --file FILE [--args A B ...]
      if (i + 1 >= argv.length) throw new UsageError('--file needs a script');
      const file = argv[i + 1];
      const rest = argv.slice(i + 2);
      if (rest.length && rest[0] !== '--args') throw new UsageError(`after --file FILE only --args may follow, not ${JSON.stringify(rest[0])}`);
      return { file, args: rest.slice(1), python };
    } else if (arg === '--') {
      if (i + 1 >= argv.length) throw new UsageError('no script given after --');
      return { file: argv[i + 1], args: argv.slice(i + 2), python };
    } else if (arg.startsWith('-') && arg !== '-') {
      throw new UsageError(`unknown option ${JSON.stringify(arg)} before the script`);
    } else {
      return { file: arg, args: argv.slice(i + 1), python };
    }
  }
  throw new UsageError('no script given: pynwheel run FILE [ARGS...] or pynwheel run -m MODULE [ARGS...]');
}
