import { InputError } from '#lib/errors.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import type { ModelRegistry } from '#lib/registry/registry.ts';
import { readMatchedOutcomes, type MatchedOutcome } from './outcomes.ts';

/**
 * Realized performance: what the served probabilities were worth once the loans' outcomes came
 * in (lib/monitoring/outcomes.ts), per model version and per ISO week of the decision, beside the
 * offline test AUC of the version's card. AUC, KS and ECE are lib/model/metrics.ts's, the very
 * numbers training reports (ECE over its 10 equal-width bins), so "realized minus offline" compares
 * like with like. A metric that needs both classes is null while a group has only one.
 */
export type PerformanceReport = {
  versions: Array<{
    modelVersion: string;
    rows: number;
    positives: number;
    realizedAuc: number | null;
    offlineAuc: number | null;
    ks: number | null;
    ece: number | null;
    weeks: Array<{ week: string; rows: number; positives: number; realizedAuc: number | null }>;
    deciles: Array<{ decile: number; rows: number; badRate: number | null }>;
  }>;
};

export type VersionPerformance = PerformanceReport['versions'][number];

/** ISO 8601 week of a UTC date, `YYYY-Www` (the week's Thursday decides the year). */
export function isoWeek(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function metricsOf(rows: readonly MatchedOutcome[]): {
  auc: number | null;
  ks: number | null;
  ece: number | null;
} {
  if (rows.length === 0) return { auc: null, ks: null, ece: null };
  const y = new Float64Array(rows.length);
  const p = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    y[i] = rows[i].status;
    p[i] = rows[i].probability;
  }
  const m = binaryMetrics(y, p, rows[0].threshold);
  return { auc: finite(m.auc), ks: finite(m.ks), ece: finite(m.ece) };
}

/**
 * Bad rate by score decile: the rows sorted by probability (ties by id, so the split is
 * reproducible) and cut into ten groups of equal count, decile 1 the lowest scores, 10 the
 * highest. A group with no rows (fewer than 10 outcomes) has badRate null.
 */
export function scoreDeciles(rows: readonly MatchedOutcome[]): VersionPerformance['deciles'] {
  const sorted = [...rows].sort(
    (a, b) => a.probability - b.probability || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const n = sorted.length;
  const out: VersionPerformance['deciles'] = [];
  for (let d = 0; d < 10; d++) {
    const from = Math.floor((d * n) / 10);
    const to = Math.floor(((d + 1) * n) / 10);
    let bad = 0;
    for (let i = from; i < to; i++) bad += sorted[i].status;
    out.push({ decile: d + 1, rows: to - from, badRate: to > from ? bad / (to - from) : null });
  }
  return out;
}

/**
 * The report over matched outcomes; `offlineAuc` answers a version's card test AUC (null when the
 * version or its card is unknown). Versions in order of their first decision.
 */
export function realizedPerformance(
  outcomes: readonly MatchedOutcome[],
  offlineAuc: ReadonlyMap<string, number | null>,
): PerformanceReport {
  const byVersion = new Map<string, MatchedOutcome[]>();
  const firstTime = new Map<string, string>();
  for (const o of outcomes) {
    const list = byVersion.get(o.modelVersion) ?? [];
    list.push(o);
    byVersion.set(o.modelVersion, list);
    const t = firstTime.get(o.modelVersion);
    if (t === undefined || o.time < t) firstTime.set(o.modelVersion, o.time);
  }
  const versions = [...byVersion.keys()].sort((a, b) =>
    firstTime.get(a)! < firstTime.get(b)! ? -1 : firstTime.get(a)! > firstTime.get(b)! ? 1 : a < b ? -1 : 1,
  );
  return {
    versions: versions.map((modelVersion) => {
      const rows = byVersion.get(modelVersion)!;
      const m = metricsOf(rows);
      const byWeek = new Map<string, MatchedOutcome[]>();
      for (const r of rows) {
        const w = isoWeek(r.decisionDate);
        const list = byWeek.get(w) ?? [];
        list.push(r);
        byWeek.set(w, list);
      }
      return {
        modelVersion,
        rows: rows.length,
        positives: rows.reduce((s, r) => s + r.status, 0),
        realizedAuc: m.auc,
        offlineAuc: offlineAuc.get(modelVersion) ?? null,
        ks: m.ks,
        ece: m.ece,
        weeks: [...byWeek.keys()].sort().map((week) => {
          const w = byWeek.get(week)!;
          return {
            week,
            rows: w.length,
            positives: w.reduce((s, r) => s + r.status, 0),
            realizedAuc: metricsOf(w).auc,
          };
        }),
        deciles: scoreDeciles(rows),
      };
    }),
  };
}

/** offline - realized, when both are known: the number the realizedAucGap alarm watches. */
export function realizedAucGap(v: Pick<VersionPerformance, 'realizedAuc' | 'offlineAuc'>): number | null {
  return v.realizedAuc === null || v.offlineAuc === null ? null : v.offlineAuc - v.realizedAuc;
}

/** What loadPerformance reads: the features store (outcomes) and the registry (cards). */
export interface PerformanceSources {
  featuresStore: ObjectStore;
  registry: Pick<ModelRegistry, 'card'>;
}

/**
 * The report over everything ingested so far, each version next to its card's test AUC (null for
 * a version the registry does not know: one served from another registry, or since deleted).
 */
export async function loadPerformance(
  sources: PerformanceSources,
): Promise<PerformanceReport & { ingests: number }> {
  const { outcomes, ingests } = await readMatchedOutcomes(sources.featuresStore);
  const offline = new Map<string, number | null>();
  for (const v of new Set(outcomes.map((o) => o.modelVersion))) {
    try {
      const { card } = await sources.registry.card(v);
      const auc = (card as { metrics?: { test?: { auc?: unknown } } }).metrics?.test?.auc;
      offline.set(v, typeof auc === 'number' && Number.isFinite(auc) ? auc : null);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      offline.set(v, null);
    }
  }
  return { ...realizedPerformance(outcomes, offline), ingests: ingests.length };
}

export interface PerformanceMetrics {
  /** One data point per version with a realized AUC (dimension modelVersion). */
  perVersion: Array<{ modelVersion: string; realizedAuc: number; realizedAucGap: number | null }>;
  /**
   * The champion's, without the modelVersion dimension: what the realizedAucGap alarm watches
   * (an alarm names fixed dimensions; a retired version's old gap must not hold it in ALARM).
   * null when the champion has no realized AUC yet.
   */
  champion: { modelVersion: string; realizedAuc: number; realizedAucGap: number | null } | null;
}

/** The daily job's data points (functions/realized-performance). */
export function performanceMetrics(
  report: PerformanceReport,
  championVersion: string | undefined,
): PerformanceMetrics {
  const perVersion = report.versions
    .filter((v) => v.realizedAuc !== null)
    .map((v) => ({
      modelVersion: v.modelVersion,
      realizedAuc: v.realizedAuc!,
      realizedAucGap: realizedAucGap(v),
    }));
  return { perVersion, champion: perVersion.find((v) => v.modelVersion === championVersion) ?? null };
}
