import type { RetentionPeriods } from './personal-data.ts';

/**
 * `credit-risk data retention`: which files under the local home are past the retention period of
 * their store (personal-data.ts), the local twin of the S3 lifecycle rules
 * (infra/resources/storage.yml; docs/adr/0151-retention-as-lifecycle-rules-and-a-local-sweep.md).
 *
 * Pure: it plans over a listing (path relative to the home, modification time, size) and the
 * pointers the caller read; local/commands/data.ts lists, reads and deletes. A unit is what goes
 * as a whole: a file, or a folder whose files belong together (a snapshot, a batch run, a
 * candidate, a staging prefix). Its age is that of its newest file, as an S3 object's age is
 * that of its last write.
 *
 * Never deleted, whatever their age (S3 lifecycle rules cannot see pointers; this sweep can):
 * the snapshot features/CURRENT names, the snapshot each champion or canary model was trained on
 * (followed through erasure tombstones by the caller), the snapshot and the batch run each
 * predictions/<model>/CURRENT names.
 */

export interface HomeEntry {
  /** Relative to the home, '/'-separated. */
  path: string;
  mtimeMs: number;
  size: number;
}

/** Units kept past their period, and why ("CURRENT names it"). */
export interface Protections {
  snapshots: Map<string, string>;
  /** Batch-run folders (`store/predictions/<model>/<version>/snapshot=<id>/`). */
  predictionRuns: Map<string, string>;
}

export type RetentionStore =
  | 'raw'
  | 'generated-raw'
  | 'snapshot'
  | 'quarantine'
  | 'staging'
  | 'predictions'
  | 'prediction-log'
  | 'monitoring'
  | 'candidates'
  | 'logs'
  | 'scratch';

export interface RetentionUnit {
  /** A file, or a folder ending in '/'. */
  unit: string;
  store: RetentionStore;
  files: string[];
  bytes: number;
  ageDays: number;
  periodDays: number;
  /** Set when the unit is past its period but kept. */
  keptBecause?: string;
}

export interface RetentionPlan {
  now: string;
  periods: RetentionPeriods & { scratchDays: number };
  /** Past the period: what --apply deletes. */
  expired: RetentionUnit[];
  /** Past the period, kept: a pointer names it. */
  protected: RetentionUnit[];
  /** Within the period. */
  withinPeriod: { units: number; files: number; bytes: number };
  /** Files no rule applies to (registry, runs, builds, PGlite, audit logs): no personal rows. */
  notCovered: { files: number; bytes: number };
}

/** Scratch files (DuckDB spills, downloads) older than this are left over from a crash. */
export const SCRATCH_DAYS = 1;

interface Rule {
  store: RetentionStore;
  match: RegExp;
  /** The unit a matching path belongs to: the match's first group, or the path itself. */
  period: (p: RetentionPeriods) => number;
  snapshotOf?: (unit: string) => string | undefined;
}

const RULES: Rule[] = [
  { store: 'raw', match: /^(store\/raw\/.+)$/, period: (p) => p.rawDays },
  // The generator's summary (`<file>.json`) goes with its file (local/sfn/raw-data.ts).
  { store: 'generated-raw', match: /^(data\/[^/]+?)(?:\.json)?$/, period: (p) => p.rawDays },
  {
    store: 'snapshot',
    match: /^(store\/features\/snapshot=[^/]+\/)/,
    period: (p) => p.snapshotDays,
    snapshotOf: (u) => /snapshot=([^/]+)\/$/.exec(u)?.[1],
  },
  { store: 'quarantine', match: /^(store\/quarantine\/snapshot=[^/]+\/)/, period: (p) => p.quarantineDays },
  { store: 'staging', match: /^(store\/staging\/[^/]+\/)/, period: (p) => p.stagingDays },
  {
    store: 'predictions',
    match: /^(store\/predictions\/[^/]+\/[^/]+\/snapshot=[^/]+\/)/,
    period: (p) => p.predictionsDays,
  },
  { store: 'prediction-log', match: /^(store\/predictions-log\/.+)$/, period: (p) => p.predictionLogDays },
  { store: 'monitoring', match: /^(store\/monitoring\/.+)$/, period: (p) => p.monitoringDays },
  { store: 'candidates', match: /^(store\/candidates\/[^/]+\/)/, period: (p) => p.candidatesDays },
  { store: 'logs', match: /^((?:logs|metrics)\/.+)$/, period: (p) => p.logDays },
  { store: 'scratch', match: /^(tmp\/.+)$/, period: () => SCRATCH_DAYS },
];

const DAY_MS = 86_400_000;

export function planRetention(
  entries: readonly HomeEntry[],
  periods: RetentionPeriods,
  protections: Protections,
  now: Date,
): RetentionPlan {
  const units = new Map<string, RetentionUnit & { newest: number }>();
  const notCovered = { files: 0, bytes: 0 };
  for (const e of entries) {
    const rule = RULES.find((r) => r.match.test(e.path));
    if (!rule) {
      notCovered.files++;
      notCovered.bytes += e.size;
      continue;
    }
    const unit = rule.match.exec(e.path)![1];
    let u = units.get(unit);
    if (!u) {
      u = {
        unit,
        store: rule.store,
        files: [],
        bytes: 0,
        ageDays: 0,
        periodDays: rule.period(periods),
        newest: 0,
      };
      units.set(unit, u);
    }
    u.files.push(e.path);
    u.bytes += e.size;
    u.newest = Math.max(u.newest, e.mtimeMs);
  }
  const plan: RetentionPlan = {
    now: now.toISOString(),
    periods: { ...periods, scratchDays: SCRATCH_DAYS },
    expired: [],
    protected: [],
    withinPeriod: { units: 0, files: 0, bytes: 0 },
    notCovered,
  };
  for (const { newest, ...u } of [...units.values()].sort((a, b) => a.unit.localeCompare(b.unit))) {
    u.files.sort();
    u.ageDays = Math.floor((now.getTime() - newest) / DAY_MS);
    if (u.ageDays <= u.periodDays) {
      plan.withinPeriod.units++;
      plan.withinPeriod.files += u.files.length;
      plan.withinPeriod.bytes += u.bytes;
      continue;
    }
    const why = keptBecause(u, protections);
    if (why) plan.protected.push({ ...u, keptBecause: why });
    else plan.expired.push(u);
  }
  return plan;
}

function keptBecause(u: RetentionUnit, protections: Protections): string | undefined {
  if (u.store === 'snapshot') {
    const id = RULES.find((r) => r.store === 'snapshot')!.snapshotOf!(u.unit);
    return id === undefined ? undefined : protections.snapshots.get(id);
  }
  if (u.store === 'predictions') return protections.predictionRuns.get(u.unit.replace(/^store\//, ''));
  return undefined;
}

/**
 * The order to delete a unit's files in: a snapshot's or a batch run's manifest first, so an
 * interrupted sweep leaves a folder readers already ignore (a folder without its manifest is not a
 * snapshot, nor a complete run), never one that looks whole and is not.
 */
export function deletionOrder(unit: RetentionUnit): string[] {
  return [...unit.files].sort(
    (a, b) => Number(b.endsWith('/manifest.json')) - Number(a.endsWith('/manifest.json')),
  );
}

/** `raw=30` -> { rawDays: 30 }; an InputError-worthy message otherwise (the caller wraps it). */
export function parsePeriodOverride(text: string, periods: RetentionPeriods): RetentionPeriods | string {
  const m = /^([a-zA-Z]+)=(\d{1,5})$/.exec(text);
  const key = m ? (`${m[1]}Days` as keyof RetentionPeriods) : undefined;
  if (!m || key === undefined || !(key in periods))
    return `--period takes STORE=DAYS with STORE one of ${Object.keys(periods)
      .map((k) => k.replace(/Days$/, ''))
      .join(', ')}; got ${JSON.stringify(text)}`;
  return { ...periods, [key]: Number(m[2]) };
}
