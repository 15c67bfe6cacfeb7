// Runs in the CLI: reads a `run` command line as python3 reads its own (lib/shared/command-line.json,
// the spec the native runner and the Node API share): pynwheel's own options first, then
// python's, then the target (FILE, -m MODULE, -c CODE, - or nothing), then the script's
// arguments verbatim. What a zygote cannot serve is marked `direct`: the interpreter then runs
// `pythonArgv` itself, and so prints python's own messages for a command line it refuses.
import * as fs from 'node:fs';
import spec from '../shared/command-line.json';

export interface RunArgs {
  file?: string;
  module?: string;
  code?: string;
  args: string[];
  python?: string;
  /** python's own options as typed (the elements between pynwheel's options and the target). */
  options: string[];
  /** What python itself is given: options, target and arguments (pynwheel's options left out). */
  pythonArgv: string[];
  /** Why the interpreter itself must run pythonArgv, or undefined when a zygote can. */
  direct?: string;
}

export class UsageError extends Error {}

const SHORT_OPTIONS = spec.shortOptions;
const LONG_OPTIONS: Record<string, { argument?: boolean }> = spec.longOptions;
/** As the daemon checks it (lib/daemon/request-check.ts): python's own error for anything else. */
const MODULE_NAME = /^[\p{L}_][\p{L}\p{N}_]*(\.[\p{L}_][\p{L}\p{N}_]*)*$/u;
const TARGETS: Record<string, 'code' | 'module'> = spec.targets as Record<string, 'code' | 'module'>;

/** Whether python's getopt takes an argument after this letter (-W, -X, -c, -m). */
function takesArgument(letter: string): boolean {
  const at = SHORT_OPTIONS.indexOf(letter);
  return at >= 0 && SHORT_OPTIONS[at + 1] === ':';
}

/**
 * `#!/path/to/pynwheel -u -B` runs `pynwheel "-u -B" SCRIPT ARGS` (the kernel passes the rest of
 * the line as one argument): split as `#!/usr/bin/env -S` would, when a script follows.
 * native/runner/run_args.cc's SplitShebangOptions does the same.
 */
export function splitShebangOptions(argv: string[]): string[] {
  const [first, script] = argv;
  if (first === undefined || script === undefined || !first.startsWith('-') || !/[ \t]/.test(first)) return argv;
  try {
    if (!fs.statSync(script).isFile()) return argv;
  } catch {
    return argv;
  }
  return [...first.split(/[ \t]+/).filter(Boolean), ...argv.slice(1)];
}

/** `argv` starts after `run` (or is the whole command line in the shebang and spec forms). */
export function parseRunArgs(argv: string[]): RunArgs {
  let python: string | undefined;
  let i = 0;
  // pynwheel's own options: long ones python does not have, first.
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--python') {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs an interpreter path`);
      python = argv[++i];
    } else if (arg.startsWith('--python=')) {
      python = arg.slice('--python='.length);
    } else if (arg === '--file') {
      // The original spec's form: --file FILE [--args A B ...]
      if (i + 1 >= argv.length) throw new UsageError('--file needs a script');
      const file = argv[i + 1];
      const rest = argv.slice(i + 2);
      if (rest.length && rest[0] !== '--args') throw new UsageError(`after --file FILE only --args may follow, not ${JSON.stringify(rest[0])}`);
      return finish({ file, args: rest.slice(1), python, options: [] }, [file, ...rest.slice(1)]);
    } else {
      break;
    }
  }
  const pythonArgv = argv.slice(i);
  const options: string[] = [];
  const result = (fields: Omit<RunArgs, 'python' | 'options' | 'pythonArgv'>): RunArgs => finish({ ...fields, python, options }, pythonArgv);
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      if (i + 1 >= argv.length) return result({ args: [], direct: 'no script (python reads the program from stdin, or starts its prompt)' });
      return result({ file: argv[i + 1], args: argv.slice(i + 2) });
    }
    if (!arg.startsWith('-') || arg === '-') return result({ file: arg, args: argv.slice(i + 1) });
    if (arg.startsWith('--')) {
      const long = LONG_OPTIONS[arg];
      if (long === undefined) return result({ args: [], direct: `an option python reads itself (${arg})` });
      if (long.argument) {
        if (i + 1 >= argv.length) return result({ args: [], direct: `an option without its argument (${arg})` });
        options.push(arg, argv[++i]);
      } else {
        options.push(arg);
      }
      continue;
    }
    options.push(arg);
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j];
      if (!SHORT_OPTIONS.replace(/:/g, '').includes(letter)) return result({ args: [], direct: `an option python reads itself (-${letter})` });
      if (!takesArgument(letter)) continue;
      const attached = j + 1 < arg.length;
      if (!attached && i + 1 >= argv.length) return result({ args: [], direct: `an option without its argument (-${letter})` });
      const value = attached ? arg.slice(j + 1) : argv[++i];
      const target = TARGETS[letter];
      if (target === undefined) {
        if (!attached) options.push(value);
        break; // -W and -X: the rest of the element was their value
      }
      // -c CODE and -m MODULE end python's options: what follows is the program's.
      options.pop();
      if (j > 1) options.push(arg.slice(0, j)); // -uc CODE: the -u is an option
      if (target === 'module' && !MODULE_NAME.test(value)) return result({ args: [], direct: `-m with what is not a module name` });
      return result({ [target]: value, args: argv.slice(i + 1) });
    }
  }
  return result({ args: [], direct: 'no script (python reads the program from stdin, or starts its prompt)' });
}

function finish(run: Omit<RunArgs, 'pythonArgv'>, pythonArgv: string[]): RunArgs {
  const out: RunArgs = { ...run, pythonArgv };
  if (out.direct === undefined && out.file === '-') out.direct = 'a script on stdin';
  if (out.direct === undefined && out.file === '') out.direct = 'an empty script name (python says it cannot open it)';
  if (out.direct === undefined) delete out.direct;
  for (const key of ['file', 'module', 'code', 'python'] as const) if (out[key] === undefined) delete out[key];
  return out;
}
