// Runs in the Node client (CLI, Node API caller) and the daemon: the name of a script's route.
// After a run of a script, the daemon links `<runtime dir>/r/<name>` to the lane socket of the
// zygote that ran it (lib/daemon/routes.ts), where the name is a hash of what a client knows
// before it connects (interpreter, cwd, file as typed); the client connects there
// (lib/client/lane.ts) and the zygote's spare checks the request itself.
import * as path from 'node:path';

/** The directory of routes in a runtime directory. */
export function routesDir(runtimeDir: string): string {
  return path.join(runtimeDir, 'r');
}

/**
 * FNV-1a (64 bits) of `python \0 cwd \0 file` (then `\0 sid` for a terminal session's client) in UTF-8, as 16 hex digits; native/runner/route.cc
 * computes the same. Not a secret: only the user can reach the directory. In two 32-bit halves
 * (a client computes it on every run; BigInt arithmetic is seven times slower).
 */
export function routeName(python: string, cwd: string, file: string, session?: number): string {
  // A terminal session's clients have routes of their own, to their session's zygotes.
  const sessionPart = session !== undefined ? `\0${session}` : '';
  return fnv1a64(`${python}\0${cwd}\0${file}${sessionPart}`);
}

/**
 * A family's route, `f-` and the FNV-1a of `python \0\0 family` (its packages sorted, joined by
 * commas; "" for the base zygote), then `\0 sid` as routeName: where the runner sends a script that
 * has no route of its own, its family guessed from its imports (native/runner/guess.h). The two
 * NULs keep it apart from any script's key (a cwd is never empty).
 */
export function familyRouteName(python: string, family: readonly string[], session?: number): string {
  const sessionPart = session !== undefined ? `\0${session}` : '';
  return `f-${fnv1a64(`${python}\0\0${family.join(',')}${sessionPart}`)}`;
}

/** A package's mark, `p-` and the FNV-1a of `python \0\0\0 name`: some zygote of this python has it in its family. */
export function packageRouteName(python: string, name: string): string {
  return `p-${fnv1a64(`${python}\0\0\0${name}`)}`;
}

function fnv1a64(key: string): string {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const byte of Buffer.from(key)) {
    lo = (lo ^ byte) >>> 0;
    // times 0x100000001b3 = 2^40 + 0x1b3, modulo 2^64
    const low = lo * 0x1b3; // exact: below 2^41
    hi = (Math.imul(hi, 0x1b3) + Math.floor(low / 0x100000000) + (lo << 8)) >>> 0;
    lo = low >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}
