// Runs in the daemon: what makes two runs able to share a zygote. A zygote applies the
// caller's environment per run, but some variables are read only once: by python at start-up,
// or by a library when it is imported. Runs that differ in any of them get zygotes of their own.

/** Read by the interpreter at start-up (sys.flags, hash seed, sys.path, locale, ...). */
export const PYTHON_STARTUP_ENV = [
  'PYTHONHASHSEED', 'PYTHONOPTIMIZE', 'PYTHONDEBUG', 'PYTHONVERBOSE', 'PYTHONNOUSERSITE',
  'PYTHONUSERBASE', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONSAFEPATH', 'PYTHONUTF8', 'PYTHONDEVMODE',
  'PYTHONWARNINGS', 'PYTHONTRACEMALLOC', 'PYTHONFAULTHANDLER', 'PYTHONDONTWRITEBYTECODE',
  'PYTHONPYCACHEPREFIX', 'PYTHONINTMAXSTRDIGITS', 'PYTHONWARNDEFAULTENCODING', 'PYTHONPLATLIBDIR',
  'PYTHONMALLOC', 'PYTHONMALLOCSTATS', 'PYTHONCOERCECLOCALE', 'PYTHONNODEBUGRANGES',
  'PYTHONPERFSUPPORT', 'PYTHONPROFILEIMPORTTIME', 'PYTHONCASEOK', 'PYTHONEXECUTABLE',
  'PYTHONSTARTUP', 'PYTHON_CPU_COUNT', 'PYTHON_FROZEN_MODULES', 'PYTHON_GIL', 'PYTHON_COLORS',
  'PYTHON_PERF_JIT_SUPPORT', 'PYTHON_BASIC_REPL', 'PYTHON_HISTORY',
  'LANG', 'LC_ALL', 'LC_CTYPE', 'LANGUAGE',
];

/** Read by well-known libraries once, when imported (thread pools, backends, devices). */
export const IMPORT_TIME_ENV = [
  'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS',
  'NUMEXPR_NUM_THREADS', 'NUMEXPR_MAX_THREADS', 'BLIS_NUM_THREADS', 'GOTO_NUM_THREADS',
  'OMP_PROC_BIND', 'OMP_PLACES', 'KMP_AFFINITY', 'KMP_BLOCKTIME', 'MKL_THREADING_LAYER',
  'NUMBA_NUM_THREADS', 'NUMBA_DISABLE_JIT',
  'TF_CPP_MIN_LOG_LEVEL', 'TF_ENABLE_ONEDNN_OPTS', 'TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS',
  'TF_FORCE_GPU_ALLOW_GROWTH', 'KERAS_BACKEND', 'KERAS_HOME',
  'CUDA_VISIBLE_DEVICES', 'CUDA_DEVICE_ORDER', 'HIP_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES',
  'PYTORCH_CUDA_ALLOC_CONF', 'PYTORCH_ENABLE_MPS_FALLBACK', 'TORCH_HOME',
  'JAX_PLATFORMS', 'JAX_ENABLE_X64', 'XLA_FLAGS',
  'MPLBACKEND', 'MPLCONFIGDIR', 'QT_QPA_PLATFORM', 'DISPLAY',
  'PANDAS_COPY_ON_WRITE', 'SCIPY_ARRAY_API', 'NUMPY_EXPERIMENTAL_DTYPE_API',
  'HF_HOME', 'TRANSFORMERS_CACHE', 'TRANSFORMERS_OFFLINE', 'HF_HUB_OFFLINE',
];

export interface ZygoteKey {
  /** The interpreter as the caller named it (a venv's bin/python is a link: it is kept). */
  python: string;
  /** Where that link leads: two spellings of one venv's python still differ in sys.executable. */
  realPython: string;
  /** Values of the key's variables that the caller has set. */
  env: Record<string, string>;
  /**
   * The third-party packages the zygote imports for its runs, sorted ([] for the interpreter's
   * base zygote, which runs scripts that need only the standard library). The zygote decides
   * which family a script belongs to, from its imports.
   */
  family: string[];
  /**
   * The terminal session (its id) whose clients this zygote serves, born in it; undefined for
   * the zygotes the daemon starts, which serve clients without a terminal (and the Node API).
   */
  session?: number;
}

/** Names from PYNWHEEL_KEY_ENV (comma or space separated), for variables we do not know of. */
export function extraKeyNames(env: Record<string, string>): string[] {
  return (env.PYNWHEEL_KEY_ENV ?? '').split(/[\s,]+/).filter(Boolean);
}

export function keyFor(python: string, realPython: string, env: Record<string, string>): ZygoteKey {
  const names = [...PYTHON_STARTUP_ENV, ...IMPORT_TIME_ENV, ...extraKeyNames(env)];
  const values: Record<string, string> = {};
  for (const name of [...new Set(names)].sort()) {
    if (env[name] !== undefined) values[name] = env[name];
  }
  return { python, realPython, env: values, family: [] };
}

export function withFamily(key: ZygoteKey, family: string[]): ZygoteKey {
  return { ...key, family: [...family].sort() };
}

export function keyString(key: ZygoteKey): string {
  return JSON.stringify([key.python, key.realPython, key.env, key.family, ...(key.session !== undefined ? [key.session] : [])]);
}

export function withSession(key: ZygoteKey, session: number | undefined): ZygoteKey {
  return session === undefined ? key : { ...key, session };
}
