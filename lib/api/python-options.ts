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

/** Single-letter flags and the variable each one sets. Counted ones (-OO) give the count. */
const FLAG_ENV: Record<string, { name: string; counted?: boolean }> = {
  u: { name: 'PYTHONUNBUFFERED' },
  B: { name: 'PYTHONDONTWRITEBYTECODE' },
  O: { name: 'PYTHONOPTIMIZE', counted: true },
  d: { name: 'PYTHONDEBUG', counted: true },
  s: { name: 'PYTHONNOUSERSITE' },
  P: { name: 'PYTHONSAFEPATH' },
};

/** Flags that change nothing for a script (only the interactive banner). */
const HARMLESS_FLAGS = new Set(['q']);

/**
 * `-X name[=value]` and its variable; `value` maps the option's value (undefined when absent) to
 * the variable's. -X importtime is missing on purpose: the zygote imported the modules before
 * the run, so the run would report nothing; such a run goes to the interpreter.
 */
const XOPTION_ENV: Record<string, { name: string; value: (v: string | undefined) => string | null }> = {
  utf8: { name: 'PYTHONUTF8', value: (v) => (v === undefined || v === '1' ? '1' : v === '0' ? '0' : null) },
  dev: { name: 'PYTHONDEVMODE', value: (v) => (v === undefined ? '1' : null) },
  faulthandler: { name: 'PYTHONFAULTHANDLER', value: (v) => (v === undefined ? '1' : null) },
  tracemalloc: { name: 'PYTHONTRACEMALLOC', value: (v) => (v === undefined ? '1' : /^\d+$/.test(v) ? v : null) },
  int_max_str_digits: { name: 'PYTHONINTMAXSTRDIGITS', value: (v) => (v !== undefined && /^\d+$/.test(v) ? v : null) },
  pycache_prefix: { name: 'PYTHONPYCACHEPREFIX', value: (v) => v ?? null },
  warn_default_encoding: { name: 'PYTHONWARNDEFAULTENCODING', value: (v) => (v === undefined ? '1' : null) },
  no_debug_ranges: { name: 'PYTHONNODEBUGRANGES', value: (v) => (v === undefined ? '1' : null) },
  frozen_modules: { name: 'PYTHON_FROZEN_MODULES', value: (v) => (v === 'on' || v === 'off' ? v : null) },
  perf: { name: 'PYTHONPERFSUPPORT', value: (v) => (v === undefined ? '1' : null) },
  cpu_count: { name: 'PYTHON_CPU_COUNT', value: (v) => (v !== undefined && /^(\d+|default)$/.test(v) ? v : null) },
};

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
      const flag = FLAG_ENV[letter];
      if (flag) counts.set(letter, (counts.get(letter) ?? 0) + 1);
      else if (!HARMLESS_FLAGS.has(letter)) plan.unsupported.push(`-${letter}`);
    }
  }
  for (const [letter, count] of counts) {
    const { name, counted } = FLAG_ENV[letter];
    const inherited = Number.parseInt(env[name] ?? '', 10);
    plan.env[name] = counted ? String(Math.max(count, Number.isNaN(inherited) ? 0 : inherited)) : '1';
  }
  if (warnings.length) plan.env.PYTHONWARNINGS = [env.PYTHONWARNINGS, ...warnings].filter(Boolean).join(',');
  return plan;
}

function addWarning(value: string, warnings: string[], plan: PythonOptionPlan): void {
  // PYTHONWARNINGS is split at commas; a -W value holding one cannot travel in it.
  if (value.includes(',')) plan.unsupported.push(`-W${value}`);
  else warnings.push(value);
}

function addXOption(value: string, plan: PythonOptionPlan): void {
  const equals = value.indexOf('=');
  const name = equals < 0 ? value : value.slice(0, equals);
  const mapping = XOPTION_ENV[name];
  const mapped = mapping?.value(equals < 0 ? undefined : value.slice(equals + 1)) ?? null;
  if (mapping && mapped !== null) plan.env[mapping.name] = mapped;
  else plan.unsupported.push(`-X${value}`);
}
