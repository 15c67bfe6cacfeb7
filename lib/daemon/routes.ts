// Runs in the daemon: publishing routes, how a client (native or Node) finds a script's zygote
// without asking the daemon. After a run of a script, the daemon links `<runtime dir>/r/<name>`
// (lib/shared/route-name.ts) to the lane socket of the zygote that ran it. The client connects
// there and the zygote's spare checks the request itself (key, script, freshness), declining
// anything it is not sure of; a route is only a hint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { familyRouteName, packageRouteName, routeName, routesDir } from '../shared/route-name';
import { log } from './log';

/** Routes kept, most recently published last; older ones are removed. */
const MAX_ROUTES = 4096;

export class Routes {
  readonly dir: string;
  private readonly targets = new Map<string, string>();

  constructor(runtimeDir: string) {
    this.dir = routesDir(runtimeDir);
  }

  /** Starts empty: routes of an earlier daemon lead to zygotes that are gone. */
  reset(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    fs.mkdirSync(this.dir, { mode: 0o700 });
    this.targets.clear();
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.targets.clear();
  }

  /** The next runs of this script may go straight to `lane`; returns the route's name if it is new. */
  publish(python: string, cwd: string, file: string, lane: string, session?: number): string | null {
    return this.link(routeName(python, cwd, file, session), lane);
  }

  /**
   * A zygote's family route, and a mark per package of its family (a link to its lane too,
   * so that it goes with it): the runner sends a script that has no route yet to the lane of
   * the family its imports name (native/runner/guess.h).
   */
  publishFamily(python: string, family: readonly string[], lane: string, session?: number): void {
    for (const name of family) this.link(packageRouteName(python, name), lane);
    this.link(familyRouteName(python, family, session), lane);
  }

  private link(name: string, lane: string): string | null {
    if (this.targets.get(name) === lane) return null;
    const link = path.join(this.dir, name);
    const temporary = `${link}.${process.pid}.tmp`;
    try {
      fs.rmSync(temporary, { force: true });
      fs.symlinkSync(lane, temporary);
      fs.renameSync(temporary, link); // atomic: a client sees the old route or the new one
    } catch (err) {
      log(`could not publish a route to ${lane}: ${(err as Error).message}`);
      return null;
    }
    this.targets.delete(name);
    this.targets.set(name, lane);
    if (this.targets.size > MAX_ROUTES) {
      const oldest = this.targets.keys().next().value!;
      this.targets.delete(oldest);
      fs.rmSync(path.join(this.dir, oldest), { force: true });
    }
    return name;
  }

  /** A zygote ended: its routes go (a client would find nothing there and ask the daemon). */
  forget(lane: string): void {
    for (const [name, target] of this.targets) {
      if (target !== lane) continue;
      this.targets.delete(name);
      fs.rmSync(path.join(this.dir, name), { force: true });
    }
  }
}
