// Runs in the CLI: `pynwheel status` as text.

export function formatStatus(reply: Record<string, unknown>): string {
  const lines = [
    `daemon: pid ${String(reply.pid)}, pynwheel ${String(reply.version)}, up ${duration(Date.now() - Number(reply.startedAt))}, ` +
      `${String(reply.runs)} runs served, ${String(reply.active)} running`,
  ];
  const zygotes = (reply.zygotes as Array<Record<string, unknown>>) ?? [];
  if (!zygotes.length) lines.push('no zygotes');
  for (const z of zygotes) {
    const family = ((z.key as { family?: string[] } | undefined)?.family ?? []);
    lines.push(`zygote: pid ${String(z.pid)}  ${String(z.python)}  (Python ${String(z.version).split(' ')[0]})` +
      `  ${family.length ? `family: ${family.join(', ')}` : 'base: standard library only'}`);
    const key = z.key as { realPython?: string; env?: Record<string, string> } | undefined;
    const keyEnv = Object.entries(key?.env ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`  key: ${String(key?.realPython)}${keyEnv ? ` with ${keyEnv}` : ''}`);
    const mib = (kib: unknown) => (typeof kib === 'number' ? `${(kib / 1024).toFixed(1)} MiB` : '?');
    lines.push(`  memory: RSS ${mib(z.rssKiB)}, PSS ${mib(z.pssKiB)}; watching ${String(z.watchedDirectories ?? 0)} directories for changes` +
      `${typeof z.staleCheckNs === 'number' ? ` (${(z.staleCheckNs / 1000).toFixed(1)} us a check)` : ''}`);
    const forks = (z.forks as { spare?: number; onDemand?: number } | undefined) ?? {};
    const lane = (z.lane as { served?: number; path?: string | null } | undefined) ?? {};
    lines.push(`  up ${duration(Date.now() - Number(z.startedAt))}, ${String(z.runs)} runs served (${forks.spare ?? 0} by a pre-forked child, ` +
      `${lane.served ?? 0} of them straight from their client), ${String(z.active)} running`);
    const preloaded = (z.preloaded as string[]) ?? [];
    lines.push(`  preloaded: ${preloaded.length ? preloaded.join(', ') : '(none yet)'}`);
    const unfit = Object.entries((z.unfit as Record<string, string>) ?? {});
    if (unfit.length) lines.push(`  kept out of the zygote: ${unfit.map(([m, why]) => `${m} (it ${why})`).join('; ')}`);
    const failed = Object.entries((z.failed as Record<string, string>) ?? {});
    if (failed.length) lines.push(`  failed to import: ${failed.map(([m, why]) => `${m} (${why})`).join('; ')}`);
    const notShared = Object.entries((z.notShared as Record<string, string>) ?? {});
    if (notShared.length) lines.push(`  run by the script itself: ${notShared.map(([m, why]) => `${m} (${why})`).join('; ')}`);
  }
  return lines.join('\n');
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}
