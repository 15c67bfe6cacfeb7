// Runs in the CLI: `pynwheel status` as text.
import type { WorkerRecord } from '../cluster/worker-directory';

/** Decline reasons shown per zygote, newest last. */
const RECENT_DECLINES_SHOWN = 3;

export function formatStatus(reply: Record<string, unknown>): string {
  const lines = [
    `daemon: pid ${String(reply.pid)}, pynwheel ${String(reply.version)}, up ${duration(Date.now() - Number(reply.startedAt))}, ` +
      `${String(reply.runs)} runs served, ${String(reply.active)} running`,
  ];
  const mib = (kib: unknown) => (typeof kib === 'number' ? `${(kib / 1024).toFixed(1)} MiB` : '?');
  const daemonMemory = reply.memory as { pssKiB?: number; ownKiB?: number } | undefined;
  if (daemonMemory) lines.push(`  memory: PSS ${mib(daemonMemory.pssKiB)}, ${mib(daemonMemory.ownKiB)} own`);
  const zygotes = (reply.zygotes as Array<Record<string, unknown>>) ?? [];
  if (!zygotes.length) lines.push('no zygotes');
  for (const z of zygotes) {
    const family = ((z.key as { family?: string[] } | undefined)?.family ?? []);
    lines.push(`zygote: pid ${String(z.pid)}  ${String(z.python)}  (Python ${String(z.version).split(' ')[0]})` +
      `  ${family.length ? `family: ${family.join(', ')}` : 'base: standard library only'}`);
    const key = z.key as { realPython?: string; env?: Record<string, string>; session?: number } | undefined;
    const keyEnv = Object.entries(key?.env ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`  key: ${String(key?.realPython)}${keyEnv ? ` with ${keyEnv}` : ''}` +
      `${key?.session !== undefined ? `; for the clients of terminal session ${key.session}` : ''}`);
    lines.push(`  memory: RSS ${mib(z.rssKiB)}, PSS ${mib(z.pssKiB)}; watching ${String(z.watchedDirectories ?? 0)} directories for changes` +
      `${typeof z.staleCheckNs === 'number' ? ` (${(z.staleCheckNs / 1000).toFixed(1)} us a check)` : ''}`);
    // What each part costs: a spare's own pages are those it copied ahead, a run's those it wrote.
    // A client's, the pages of its own process (the native runner, or node) for a run in progress.
    const parts = z.memory as Record<'zygote' | 'spares' | 'runs' | 'clients', { count: number; pssKiB: number; ownKiB: number }> | null | undefined;
    if (parts) {
      const each = (p: { count: number; ownKiB: number }) => (p.count ? `, ${mib(p.ownKiB / p.count)} own each` : '');
      lines.push(`  memory by part: zygote PSS ${mib(parts.zygote.pssKiB)}, ${mib(parts.zygote.ownKiB)} own; ` +
        `${parts.spares.count} spares waiting, PSS ${mib(parts.spares.pssKiB)}${each(parts.spares)}; ` +
        `${parts.runs.count} runs, PSS ${mib(parts.runs.pssKiB)}${each(parts.runs)}; ` +
        `${parts.clients.count} clients, PSS ${mib(parts.clients.pssKiB)}${each(parts.clients)}`);
      const total = parts.zygote.pssKiB + parts.spares.pssKiB + parts.runs.pssKiB + parts.clients.pssKiB;
      lines.push(`  memory in all: PSS ${mib(total)} (these parts; the daemon's is above)`);
    }
    const forks = (z.forks as { spare?: number; onDemand?: number } | undefined) ?? {};
    const lane = (z.lane as { served?: number; path?: string | null } | undefined) ?? {};
    lines.push(`  up ${duration(Date.now() - Number(z.startedAt))}, ${String(z.runs)} runs served (${forks.spare ?? 0} by a pre-forked child, ` +
      `${lane.served ?? 0} of them straight from their client), ${String(z.active)} running`);
    lines.push(...pathLines(z));
    const preloaded = (z.preloaded as string[]) ?? [];
    lines.push(`  preloaded: ${preloaded.length ? preloaded.join(', ') : '(none yet)'}`);
    if (typeof z.importing === 'string') lines.push(`  importing: ${z.importing}`);
    // What it was warmed for ahead of runs: `pynwheel warm`, or a cold run python ran itself.
    const warmed = (z.warmedFor as Array<{ why: string; target: string; at: number; ms: number }> | undefined) ?? [];
    for (const w of warmed) lines.push(`  warmed for: ${w.target} (${w.why}, ${w.ms} ms, ${duration(Date.now() - w.at)} ago)`);
    const unfit = Object.entries((z.unfit as Record<string, string>) ?? {});
    if (unfit.length) lines.push(`  kept out of the zygote: ${unfit.map(([m, why]) => `${m} (it ${why})`).join('; ')}`);
    const failed = Object.entries((z.failed as Record<string, string>) ?? {});
    if (failed.length) lines.push(`  failed to import: ${failed.map(([m, why]) => `${m} (${why})`).join('; ')}`);
    const notShared = Object.entries((z.notShared as Record<string, string>) ?? {});
    if (notShared.length) lines.push(`  run by the script itself: ${notShared.map(([m, why]) => `${m} (${why})`).join('; ')}`);
    const learned = (z.learned as string[] | undefined) ?? [];
    if (learned.length) lines.push(`  learned from its runs: ${learned.join(', ')}`);
    const notLearned = Object.entries((z.notLearned as Record<string, string>) ?? {});
    if (notLearned.length) lines.push(`  not learned: ${notLearned.map(([m, why]) => `${m} (${why})`).join('; ')}`);
  }
  // Python programs' cluster Executors the daemon submits for (lib/daemon/cluster-session.ts).
  for (const c of (reply.clusterSessions as Array<Record<string, unknown>> | undefined) ?? []) {
    lines.push(`cluster session: pid ${String(c.pid)}  ${String(c.url)}  queue ${String(c.queue)}  ${String(c.inFlight)} jobs in flight, ` +
      `${String(c.submitted)} submitted, up ${duration(Date.now() - Number(c.startedAt))}`);
  }
  return lines.join('\n');
}

/** How many runs took each path to the zygote, and why its lane declined the last few. */
function pathLines(z: Record<string, unknown>): string[] {
  const paths = (z.paths as { lane?: number; daemon?: number; routed?: number; stale?: number } | undefined) ?? {};
  const moved = `${paths.routed ?? 0} routed here for their family, ${paths.stale ?? 0} after a stale zygote`;
  const taken = [
    ...(typeof paths.lane === 'number' ? [`${paths.lane} from the lane`] : []),
    ...(typeof paths.daemon === 'number' ? [`${paths.daemon} through the daemon (${moved})`] : [moved]),
  ];
  const lines = [`  paths: ${taken.join(', ')}`];
  const declines = Object.entries((z.declines as Record<string, number> | undefined) ?? {});
  if (declines.length) {
    lines.push(`  lane declines: ${declines.sort(([, a], [, b]) => b - a).map(([code, n]) => `${code} ${n}`).join(', ')}`);
  }
  const recent = ((z.recentDeclines as Array<[string, string, number]> | undefined) ?? []).slice(-RECENT_DECLINES_SHOWN);
  if (recent.length) {
    lines.push(`  last declines: ${recent.map(([code, message, at]) => `${code} (${message}) ${duration(Date.now() - at * 1000)} ago`).join('; ')}`);
  }
  return lines;
}

/** The cluster workers of this machine (their records in the runtime directory). */
export function formatWorkers(workers: WorkerRecord[]): string[] {
  return workers.map((w) => `worker: pid ${w.pid} on ${w.redis} queue ${w.queue}, concurrency ${w.concurrency}, ${w.threadsPerJob ? `${w.threadsPerJob} threads per job` : 'threads per job not set'}, ` +
    `running ${w.running}, served ${w.served}, up ${duration(Date.now() - w.startedAt)}${w.python ? `, python ${w.python}` : ''}`);
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}
