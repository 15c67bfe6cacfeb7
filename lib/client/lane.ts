// Runs in the Node client (the CLI, or a Node API caller's process): finding a script's lane,
// the socket of the zygote that ran it last, by the route the daemon published
// (lib/daemon/routes.ts) under the name both compute (lib/shared/route-name.ts).
import * as path from 'node:path';
import { native } from '../shared/native';
import type { RuntimePaths } from '../shared/runtime-dir';
import { routeName, routesDir } from '../shared/route-name';

/** The route's socket, or null (no route, or its zygote is gone: the daemon decides). */
export function connectLane(paths: RuntimePaths, python: string, cwd: string, file: string): number | null {
  try {
    return native.connect(path.join(routesDir(paths.dir), routeName(python, cwd, file)));
  } catch {
    return null;
  }
}
