// Runs in the Node client (the CLI, or a Node API caller's process): finding a script's lane,
// the socket of the zygote that ran it last, by the route the daemon published
// (lib/daemon/routes.ts) under the name both compute (lib/shared/route-name.ts).
import * as path from 'node:path';
import { native } from '../shared/native';
import type { LaneMiss } from '../shared/protocol-constants';
import { routeName, routesDir } from '../shared/route-name';
import type { RuntimePaths } from '../shared/runtime-dir';

/** A connection to the script's lane, or why there is none (then the daemon decides). */
export type LaneConnection =
  | { fd: number; route: string }
  | { fd: null; route: string; miss: LaneMiss; errno: string };

/** `session`: a terminal session's client finds its session's zygotes (their routes are its own). */
export function connectLane(paths: RuntimePaths, python: string, cwd: string, file: string, session?: number): LaneConnection {
  const name = routeName(python, cwd, file, session);
  const route = `r/${name}`;
  try {
    return { fd: native.connect(path.join(routesDir(paths.dir), name)), route };
  } catch (err) {
    // No route (ENOENT); else the route leads to a zygote that is gone (ECONNREFUSED) or
    // cannot be reached.
    const errno = (err as NodeJS.ErrnoException).code ?? 'error';
    return { fd: null, route, miss: errno === 'ENOENT' ? 'no-route' : 'route-gone', errno };
  }
}
