// Runs in the CLI: the options that `pynwheel worker` and `pynwheel run --on` share, read by hand.
import { UsageError } from './run-args';

/** Takes `--name VALUE` or `--name=VALUE` from the front of argv for each name in `names`, and `--flag` (value 'true') for each in `flags`. */
export function takeOptions(argv: string[], names: readonly string[], stopAtPositional: boolean, flags: readonly string[] = []): { values: Record<string, string>; rest: string[] } {
  const values: Record<string, string> = {};
  let i = 0;
  while (i < argv.length) {
    const word = argv[i];
    const eq = word.indexOf('=');
    const name = word.startsWith('--') ? (eq > 0 ? word.slice(2, eq) : word.slice(2)) : null;
    if (name !== null && eq < 0 && flags.includes(name)) {
      values[name] = 'true';
      i += 1;
      continue;
    }
    if (name === null || !names.includes(name)) {
      if (stopAtPositional) break;
      if (word.startsWith('-')) throw new UsageError(`unknown option ${word}`);
      throw new UsageError(`unexpected argument ${word}`);
    }
    if (eq > 0) {
      values[name] = word.slice(eq + 1);
      i += 1;
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`${word} needs a value`);
      values[name] = argv[i + 1];
      i += 2;
    }
  }
  return { values, rest: argv.slice(i) };
}

export function positiveInteger(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a whole number >= 1, not ${JSON.stringify(text)}`);
  return n;
}
