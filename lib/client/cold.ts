// Runs in the Node client (the CLI): a cold run, one no warm zygote can take (no daemon yet, or
// its zygote is not ready): python runs it here, as it would without pynwheel, and the daemon
// (started now if need be) warms the zygote for the next run meanwhile. As native/runner/cold.h.
import type { RunRequest, WarmRequest } from '../shared/messages';
import type { RuntimePaths } from '../shared/runtime-dir';
import { startDaemon } from './connect';

/** Beyond this a warm request does not go on the daemon's command line (the next run warms it instead). */
const MAX_WARM_ARGUMENT = 100_000;

/** The warm-up a cold run asks for: its script, interpreter, cwd and environment. */
export function coldWarmRequest(request: RunRequest): WarmRequest {
  const target = request.module !== undefined ? { module: request.module } : request.code !== undefined ? { code: request.code } : { file: request.file };
  return { type: 'warm', client: request.client, ...target, cwd: request.cwd, env: request.env, python: request.python, why: 'cold run', after: process.pid };
}

/** No daemon listens: start one that warms this run's zygote (the run does not wait for it). */
export function startDaemonWarming(paths: RuntimePaths, env: NodeJS.ProcessEnv, request: RunRequest): void {
  const warm = JSON.stringify(coldWarmRequest(request));
  startDaemon(paths, env, warm.length <= MAX_WARM_ARGUMENT ? ['--warm', warm] : []);
}
