import type { FeatureStore } from '#lib/ports/feature-store.ts';

/**
 * Synthetic traffic for local canaries: a few concurrent clients POSTing /predict with real
 * customer ids to the local server, for as long as a canary is watched. Every answer is counted
 * by the version that gave it (x-model-version); a request that gets no HTTP answer at all (a
 * refused or dropped connection) is a failure of the serving path, the thing that must never
 * happen while aliases move.
 */
export interface VersionCounts {
  ok: number;
  /** Non-200 answers, by status code. */
  statuses: Record<string, number>;
}

export interface TrafficStats {
  requests: number;
  ok: number;
  byVersion: Record<string, VersionCounts>;
  /** Requests that got no HTTP answer, with the error. */
  failures: { at: string; error: string }[];
}

export interface RunningTraffic {
  stats(): TrafficStats;
  stop(): Promise<TrafficStats>;
}

/** First customer id of the Kueski data set and of the generator (lib/data/generate.ts). */
export const FIRST_CUSTOMER_ID = 5008804;

/**
 * Customer ids the online store knows, found by probing ids upwards from the first one (the
 * FeatureStore port has no listing, on purpose: the serving path only ever reads one row).
 */
export async function knownCustomerIds(
  featureStore: FeatureStore,
  want = 200,
  maxProbes = 50_000,
): Promise<string[]> {
  const found: string[] = [];
  const batch = 64;
  for (
    let next = FIRST_CUSTOMER_ID;
    found.length < want && next < FIRST_CUSTOMER_ID + maxProbes;
    next += batch
  ) {
    const ids = Array.from({ length: batch }, (_, i) => String(next + i));
    const rows = await Promise.all(ids.map((id) => featureStore.get(id)));
    rows.forEach((row, i) => {
      if (row && found.length < want) found.push(ids[i]);
    });
  }
  return found;
}

export function startTraffic(options: {
  url: string;
  ids: readonly string[];
  concurrency?: number;
}): RunningTraffic {
  if (options.ids.length === 0) throw new Error('synthetic traffic needs at least one known customer id');
  const stats: TrafficStats = { requests: 0, ok: 0, byVersion: {}, failures: [] };
  let running = true;
  let pick = 0;
  const endpoint = new URL('/predict', options.url).toString();

  async function client(): Promise<void> {
    while (running) {
      const id = options.ids[pick++ % options.ids.length];
      stats.requests++;
      try {
        const res = await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id }),
        });
        await res.arrayBuffer();
        const version = res.headers.get('x-model-version') ?? 'none';
        const counts = (stats.byVersion[version] ??= { ok: 0, statuses: {} });
        if (res.status === 200) {
          counts.ok++;
          stats.ok++;
        } else counts.statuses[res.status] = (counts.statuses[res.status] ?? 0) + 1;
      } catch (e) {
        stats.failures.push({
          at: new Date().toISOString(),
          error: (e as Error).cause ? String((e as Error).cause) : (e as Error).message,
        });
      }
    }
  }

  const clients = Array.from({ length: options.concurrency ?? 4 }, () => client());
  return {
    stats: () => structuredClone(stats),
    async stop() {
      running = false;
      await Promise.all(clients);
      return structuredClone(stats);
    },
  };
}
