import type { AuditEntry } from '#lib/registry/audit.ts';
import type { ModelRegistry } from '#lib/registry/registry.ts';

/**
 * How long the current champion has served: days since the audit entry that last made it the
 * champion (a promotion, or a rollback that put it back). Emitted daily as `championAgeDays`
 * (functions/drift-check/handler.ts) and alarmed above CHAMPION_AGE_DAYS_MAX; the local dashboard
 * shows the same figure.
 */
export interface ChampionAge {
  version: string;
  since: string;
  days: number;
}

const DAY_MS = 86_400_000;

/** Pure: the entries in sequence order, the time to count to. Undefined without a champion. */
export function championAgeFromHistory(entries: readonly AuditEntry[], now: Date): ChampionAge | undefined {
  const sorted = [...entries].sort((a, b) => a.seq - b.seq);
  const last = sorted.at(-1);
  const champion = last?.aliases.champion ?? null;
  if (champion === null) return undefined;
  // Walk back to the first entry of the run of entries that have had this champion.
  let since = last!.at;
  for (let i = sorted.length - 1; i >= 0; i--) {
    if (sorted[i].aliases.champion !== champion) break;
    since = sorted[i].at;
  }
  const days = Math.max(0, (now.getTime() - Date.parse(since)) / DAY_MS);
  return { version: champion, since, days };
}

export async function championAge(registry: ModelRegistry, now: Date): Promise<ChampionAge | undefined> {
  return championAgeFromHistory(await registry.history(), now);
}
