// Runs in a worker's process (`pynwheel worker`): how many threads a job's numeric libraries
// (OpenBLAS, MKL, OpenMP, numexpr, BLIS) may start. Each reads its variable once, at load, and
// left alone starts a thread per core in every job: two jobs on two cores then run four busy
// threads. As loky, Dask and Ray do, the worker sets these variables in a job's environment, only
// where the worker's own environment does not set them (a value the user gave wins).
import { availableParallelism } from 'node:os';

/** The variables, as loky (joblib) sets them for its workers. */
export const THREAD_VARIABLES = [
  'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS', 'NUMEXPR_NUM_THREADS', 'BLIS_NUM_THREADS',
] as const;

/** The cores shared among the worker's job slots, at least 1 each. */
export function defaultThreadsPerJob(concurrency: number): number {
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, concurrency)));
}

/**
 * The job's environment: `base` plus each thread variable that `base` lacks, set to `threads`.
 * 0 sets none (the libraries' own defaults). The variables are zygote-key variables
 * (lib/daemon/zygote-key.ts), so the job's zygote loads its libraries with them: the setting
 * takes effect in the fork, not only in os.environ.
 */
export function withJobThreads(base: NodeJS.ProcessEnv, threads: number): NodeJS.ProcessEnv {
  if (threads === 0) return base;
  const env = { ...base };
  for (const name of THREAD_VARIABLES) if (env[name] === undefined || env[name] === '') env[name] = String(threads);
  return env;
}

/** Which variables the worker sets and which the user's environment gave, for its log line and status. */
export function describeJobThreads(base: NodeJS.ProcessEnv, threads: number): string {
  if (threads === 0) return 'threads per job: left to the libraries';
  const given = THREAD_VARIABLES.filter((name) => base[name] !== undefined && base[name] !== '');
  return `threads per job ${threads}${given.length ? ` (as the worker's environment sets: ${given.map((n) => `${n}=${base[n]}`).join(' ')})` : ''}`;
}
