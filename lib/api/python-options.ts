// Runs in a Node API caller's process.
// `pythonOptions` (python-shell's name for the interpreter's own flags) for a run in a zygote.
// A zygote is an interpreter that has already started, so a flag cannot be given to it; most
// flags have an environment variable that python reads instead, and the daemon gives runs
// whose start-up variables differ a zygote of their own (lib/daemon/zygote-key.ts). Flags
// without such a variable make the run go to the interpreter itself (see lib/api/launch.ts).

export interface PythonOptionPlan {
  /** Variables that make a zygote's run behave as the flags would (they win over the caller's). */
  env: Record<string, string>;
  /** Flags no variable stands for: when there is any, the interpreter must run the script itself. */
  unsupported: string[];
}

import * as fs from 'node:fs';
import * as path from 'node:path';
import spec from '../shared/command-line.json';

/**
 * Single-letter flags and the variable each one sets (counted ones, -OO, give the count), a
 * `harmless` one would change nothing a script can see (none is: even -q shows in sys.flags),
 * and `-X name[=value]`'s variables: lib/shared/command-line.json. -X importtime is missing there on purpose: the zygote
 * imported the modules before the run, so the run would report nothing; it goes to the interpreter.
 */
const FLAGS: Record<string, { env?: string; counted?: boolean; harmless?: boolean; since?: number[] }> = spec.flags;
interface XOption { env: string; bare?: string; values?: Record<string, string>; range?: number[]; any?: boolean }
const X_OPTIONS: Record<string, XOption> = spec.xOptions;
const WARNING_ACTIONS: readonly string[] = spec.warningActions;
const WARNING_CATEGORIES: readonly string[] = spec.warningCategories;

/** The variable's value for `-X name[=value]`'s value (undefined when there is no "="), or null. */
export function xOptionValue(option: XOption, value: string | undefined): string | null {
  if (value === undefined) return option.bare ?? null;
  if (option.values && Object.prototype.hasOwnProperty.call(option.values, value)) return option.values[value];
  if (option.range && /^[1-9][0-9]*$/.test(value) && Number(value) >= option.range[0] && Number(value) <= option.range[1]) return value;
  return option.any ? value : null;
}

/**
 * Whether a -W value is one python takes without a word at start-up (action[:message[:category[:module[:lineno]]]],
 * an action or its prefix, a built-in category, a line number), so that PYTHONWARNINGS gives
 * the same filters; anything else makes python print its own warning, which the interpreter
 * itself must do. A comma cannot travel in PYTHONWARNINGS, which is split at commas.
 */
export function warningTravels(value: string): boolean {
  if (value.includes(',')) return false;
  const [action, , category = '', , lineno = '', ...more] = value.split(':').map((part) => part.trim());
  if (more.length) return false;
  if (action !== '' && !WARNING_ACTIONS.some((a) => a.startsWith(action))) return false;
  if (category !== '' && !WARNING_CATEGORIES.includes(category)) return false;
  return lineno === '' || /^[0-9]+$/.test(lineno);
}

/**
 * Reads the flags as python's getopt does: bundles (`-uB`), values attached (`-Wignore`,
 * `-Xutf8`) or in the next element (`'-W', 'ignore'`). `env` is the caller's environment:
 * -W adds to its PYTHONWARNINGS (python puts the variable's entries first and the flags' after,
 * and later entries win), and -O/-d only raise its level, as python takes the larger.
 */
export function planPythonOptions(options: readonly string[], env: NodeJS.ProcessEnv): PythonOptionPlan {
  const plan: PythonOptionPlan = { env: {}, unsupported: [] };
  const counts = new Map<string, number>();
  const warnings: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    if (!/^-[^-]/.test(option)) {
      plan.unsupported.push(option); // `--check-hash-based-pycs`, or not a flag at all
      continue;
    }
    for (let j = 1; j < option.length; j++) {
      const letter = option[j];
      if (letter === 'W' || letter === 'X') {
        const value = j + 1 < option.length ? option.slice(j + 1) : options[++i];
        if (value === undefined) plan.unsupported.push(option);
        else if (letter === 'W') addWarning(value, warnings, plan);
        else addXOption(value, plan);
        break;
      }
      const flag = FLAGS[letter];
      if (flag?.env) counts.set(letter, (counts.get(letter) ?? 0) + 1);
      else if (!flag?.harmless) plan.unsupported.push(`-${letter}`);
    }
  }
  for (const [letter, count] of counts) {
    const { env: name, counted } = FLAGS[letter] as { env: string; counted?: boolean };
    const inherited = Number.parseInt(env[name] ?? '', 10);
    plan.env[name] = counted ? String(Math.max(count, Number.isNaN(inherited) ? 0 : inherited)) : '1';
  }
  if (warnings.length) plan.env[spec.warningVariable] = [env[spec.warningVariable], ...warnings].filter(Boolean).join(',');
  return plan;
}

function addWarning(value: string, warnings: string[], plan: PythonOptionPlan): void {
  if (!warningTravels(value)) plan.unsupported.push(`-W${value}`);
  else warnings.push(value);
}

function addXOption(value: string, plan: PythonOptionPlan): void {
  const equals = value.indexOf('=');
  const name = equals < 0 ? value : value.slice(0, equals);
  const option = Object.prototype.hasOwnProperty.call(X_OPTIONS, name) ? X_OPTIONS[name] : undefined;
  const mapped = option ? xOptionValue(option, equals < 0 ? undefined : value.slice(equals + 1)) : null;
  if (option && mapped !== null) plan.env[option.env] = mapped;
  else plan.unsupported.push(`-X${value}`);
}

/**
 * A flag newer than the interpreter (`since` in the spec: -P came in 3.11): python itself must
 * read it (an older one says `Unknown option`). The version is the interpreter's real file name's
 * (python3.N); a name that does not tell counts as too old. As native/runner/run_args.cc.
 */
export function newerThanInterpreter(options: readonly string[], python: string): string | undefined {
  let minor: number | undefined;
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    if (!/^-[^-]/.test(option)) continue;
    for (let j = 1; j < option.length; j++) {
      const letter = option[j];
      if (letter === 'W' || letter === 'X') {
        if (j + 1 === option.length) i++;
        break;
      }
      const since = FLAGS[letter]?.since;
      if (!since) continue;
      minor ??= interpreterMinor(python);
      if (since[1] > minor) return `a flag this interpreter's version may not have (-${letter}; python says)`;
    }
  }
  return undefined;
}

function interpreterMinor(python: string): number {
  try {
    const m = /^python3\.(\d+)$/.exec(path.basename(fs.realpathSync(python)));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}
