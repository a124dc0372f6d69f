import type { FeatureReference } from '#lib/model/card.ts';
import { DRIFT_PSI_MAX } from './alarm-thresholds.ts';
import type { ScoreDrift } from './score-drift.ts';
import {
  binCounts,
  groupCounts,
  ksFromCounts,
  KS_MIN_VALUE_BINS,
  psi,
  PSI_EPSILON,
  PSI_VALUE_GROUPS,
  psiGroups,
  type KsResult,
} from './statistics.ts';

/**
 * A drift report: the newest rows of the current feature snapshot against the champion's
 * reference, feature by feature, and what to do about it.
 *
 * Rules (docs/adr/0087-drift-statistics-psi-on-model-bins.md, 0088):
 * - Bins: the champion card's `reference` edges (the model's own bins). PSI over those bins merged
 *   into PSI_VALUE_GROUPS reference-quantile groups plus the missing bin (statistics.ts); KS on the
 *   full bins where the feature has enough of them.
 * - Baseline: the SAME window (newest days of a snapshot) taken on the snapshot the champion was
 *   trained on, binned with those edges. The card's counts describe the out-of-time TRAIN split,
 *   the oldest rows; features that accumulate history (nb_previous_loans) differ between the oldest
 *   and the newest rows of one and the same snapshot (measured PSI 1.9 on generated data), so
 *   comparing the newest rows with them would flag every snapshot. PSI against the training rows
 *   is still reported (`psiTrainingRows`), and is the baseline when the training snapshot is gone.
 * - status: `stable` below min(WARN_PSI, threshold), `shifting` up to the threshold, `drifted` above
 *   it (strictly, as the CloudWatch alarm's GreaterThanThreshold), `absent` when the snapshot lacks
 *   the column, `no-reference` when the card's reference is unusable.
 * - the decision retrains when the largest PSI is above the threshold. An absent column is a
 *   note, not a retrain: a model trained on such a snapshot would silently lose the feature, which
 *   a person should decide.
 */
/** 2: the `score` section (score-drift.ts). */
export const DRIFT_REPORT_VERSION = 2;
export const DEFAULT_PSI_THRESHOLD = DRIFT_PSI_MAX;
/** The conventional "some shift" level of PSI. */
export const WARN_PSI = 0.1;

export type FeatureStatus = 'stable' | 'shifting' | 'drifted' | 'absent' | 'no-reference';

export interface FeatureDrift {
  feature: string;
  status: FeatureStatus;
  /** Against the baseline (see the module comment); null when not computed (absent column, unusable reference). */
  psi: number | null;
  /** Against the card's training-row counts (informational unless that is the baseline). */
  psiTrainingRows: number | null;
  ks?: KsResult;
  rows: number;
  missingShare: number | null;
  referenceMissingShare: number;
  mean: number | null;
  referenceMean: number | null;
  /**
   * The two histograms PSI compared: row counts per PSI group (group 0 = missing values), baseline
   * and current, with each group's value range. Absent when PSI was not computed, and in reports
   * written before the dashboard drew them.
   */
  groups?: PsiGroups;
}

export interface PsiGroups {
  labels: string[];
  baseline: number[];
  current: number[];
}

/** Each PSI group's value range from the model's bin edges (bin 0 = missing, bin k: up to edge k-1). */
function groupLabels(edges: ArrayLike<number>, map: Int32Array): string[] {
  const size = map.reduce((m, g) => Math.max(m, g + 1), 0);
  const bounds: Array<[number, number]> = Array.from({ length: size }, () => [Infinity, -Infinity]);
  for (let k = 1; k < map.length; k++) {
    const lo = k === 1 ? -Infinity : edges[k - 2];
    const hi = k - 1 < edges.length ? edges[k - 1] : Infinity;
    const b = bounds[map[k]];
    b[0] = Math.min(b[0], lo);
    b[1] = Math.max(b[1], hi);
  }
  const num = (x: number) =>
    Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : x > 0 ? '+inf' : '-inf';
  return bounds.map((b, g) => (g === 0 ? 'missing' : `${num(b[0])} .. ${num(b[1])}`));
}

export interface SnapshotWindow {
  snapshotId: string;
  /** Inclusive loan_date range of the rows compared (YYYY-MM-DD), null when there are none. */
  from: string | null;
  to: string | null;
  /** The window asked for, in days ending at the snapshot's newest loan_date. */
  windowDays: number;
  /** true when the window held fewer than minRows rows and the newest minRows rows were taken instead. */
  extended: boolean;
  rows: number;
  rowsInSnapshot: number;
}

export type Baseline =
  { kind: 'training-snapshot-window'; window: SnapshotWindow } | { kind: 'training-rows'; why: string };

export interface DriftDecision {
  retrain: boolean;
  reasons: string[];
}

export interface DriftReport {
  reportVersion: typeof DRIFT_REPORT_VERSION;
  checkedAt: string;
  model: { name: string; version: string; trainedOnSnapshot: string | null };
  snapshot: SnapshotWindow;
  baseline: Baseline;
  threshold: number;
  method: { psiGroups: number; epsilon: number; ksMinValueBins: number };
  features: FeatureDrift[];
  maxPsi: number;
  maxPsiFeature: string | null;
  /**
   * Score drift: the champion's first complete batch-scoring run against its latest (score-drift.ts),
   * or why it is absent. Reported (and emitted as scorePsi), never a retrain reason.
   */
  score: ScoreDrift;
  decision: DriftDecision;
  notes: string[];
}

export interface CompareOptions {
  threshold?: number;
  groups?: number;
  epsilon?: number;
}

/**
 * One feature's drift. `values` NaN = missing, undefined = the snapshot lacks the column;
 * `baseline` = the baseline window's values (absent: the card's training-row counts are the baseline).
 */
export function featureDrift(
  reference: FeatureReference,
  values: ArrayLike<number> | undefined,
  baseline?: ArrayLike<number>,
  options: CompareOptions = {},
): FeatureDrift {
  const threshold = options.threshold ?? DEFAULT_PSI_THRESHOLD;
  const base = {
    feature: reference.feature,
    referenceMissingShare: reference.missingShare,
    referenceMean: reference.mean,
    psiTrainingRows: null,
  };
  if (values === undefined)
    return { ...base, status: 'absent', psi: null, rows: 0, missingShare: null, mean: null };
  const { mean, missing } = summary(values);
  const described = {
    ...base,
    rows: values.length,
    missingShare: values.length > 0 ? missing / values.length : null,
    mean,
  };
  if (
    !Array.isArray(reference.edges) ||
    !Array.isArray(reference.counts) ||
    reference.counts.length !== reference.edges.length + 2
  ) {
    return { ...described, status: 'no-reference', psi: null };
  }
  const epsilon = options.epsilon ?? PSI_EPSILON;
  const current = binCounts(values, reference.edges);
  const expected = baseline ? binCounts(baseline, reference.edges) : reference.counts;
  const map = psiGroups(reference.counts, options.groups ?? PSI_VALUE_GROUPS);
  const expectedGroups = groupCounts(expected, map);
  const currentGroups = groupCounts(current, map);
  const value = psi(expectedGroups, currentGroups, epsilon);
  const vsTraining = psi(groupCounts(reference.counts, map), groupCounts(current, map), epsilon);
  if (!Number.isFinite(value)) return { ...described, status: 'no-reference', psi: null };
  const ks = reference.edges.length + 1 >= KS_MIN_VALUE_BINS ? ksFromCounts(expected, current) : undefined;
  return {
    ...described,
    psi: value,
    psiTrainingRows: Number.isFinite(vsTraining) ? vsTraining : null,
    ...(ks ? { ks } : {}),
    status: statusOf(value, threshold),
    groups: {
      labels: groupLabels(reference.edges, map),
      baseline: Array.from(expectedGroups),
      current: Array.from(currentGroups),
    },
  };
}

export function statusOf(value: number, threshold: number): FeatureStatus {
  if (value > threshold) return 'drifted';
  if (value >= Math.min(WARN_PSI, threshold)) return 'shifting';
  return 'stable';
}

export interface BuildReportInput {
  checkedAt: string;
  model: DriftReport['model'];
  reference: readonly FeatureReference[];
  snapshot: SnapshotWindow;
  /** The window's values per column (NaN = missing); a feature absent here is `absent`. */
  columns: ReadonlyMap<string, ArrayLike<number>>;
  /** The baseline window and its values; absent: the card's training-row counts. */
  baseline?: { window: SnapshotWindow; columns: ReadonlyMap<string, ArrayLike<number>> } | { why: string };
  options?: CompareOptions;
  /** Absent: the report says score drift was not checked. */
  score?: ScoreDrift;
  notes?: string[];
}

/** The report with its decision (before any cooldown: see retrain.ts). */
export function buildDriftReport(input: BuildReportInput): DriftReport {
  const threshold = input.options?.threshold ?? DEFAULT_PSI_THRESHOLD;
  const windowBaseline = input.baseline && 'window' in input.baseline ? input.baseline : undefined;
  const features = input.reference.map((r) =>
    featureDrift(r, input.columns.get(r.feature), windowBaseline?.columns.get(r.feature), {
      ...input.options,
      threshold,
    }),
  );
  let maxPsi = 0;
  let maxPsiFeature: string | null = null;
  for (const f of features) {
    if (f.psi !== null && (maxPsiFeature === null || f.psi > maxPsi)) {
      maxPsi = f.psi;
      maxPsiFeature = f.feature;
    }
  }
  const drifted = features.filter((f) => f.status === 'drifted').sort((a, b) => (b.psi ?? 0) - (a.psi ?? 0));
  const reasons = drifted.map((f) => `${f.feature}: PSI ${fmt(f.psi)} > ${threshold}`);
  const notes = [...(input.notes ?? [])];
  for (const f of features) {
    if (f.status === 'absent')
      notes.push(
        `${f.feature}: the snapshot has no such column (the champion needs it; not a retrain reason, a person decides)`,
      );
    if (f.status === 'no-reference')
      notes.push(`${f.feature}: the card's reference bins are unusable, PSI not computed`);
  }
  if (input.reference.length === 0)
    notes.push('the champion card has no feature reference: nothing to compare');
  const score: ScoreDrift = input.score ?? {
    available: false,
    reason: 'not checked',
    modelVersion: input.model.version,
    completeRuns: 0,
  };
  if (!score.available) notes.push(`score drift: ${score.reason}`);
  else if (score.status === 'drifted') {
    notes.push(
      `score PSI ${fmt(score.psi)} > ${threshold} (batch run ${score.currentRun.snapshotId} against the first, ${score.referenceRun.snapshotId}): ` +
        'the scores moved; not a retrain reason by itself (the feature rule decides), look at the population',
    );
  }
  return {
    reportVersion: DRIFT_REPORT_VERSION,
    checkedAt: input.checkedAt,
    model: input.model,
    snapshot: input.snapshot,
    baseline: windowBaseline
      ? { kind: 'training-snapshot-window', window: windowBaseline.window }
      : {
          kind: 'training-rows',
          why: input.baseline && 'why' in input.baseline ? input.baseline.why : 'no baseline window given',
        },
    threshold,
    method: {
      psiGroups: input.options?.groups ?? PSI_VALUE_GROUPS,
      epsilon: input.options?.epsilon ?? PSI_EPSILON,
      ksMinValueBins: KS_MIN_VALUE_BINS,
    },
    features,
    maxPsi,
    maxPsiFeature,
    score,
    decision: {
      retrain: drifted.length > 0,
      reasons:
        drifted.length > 0
          ? reasons
          : [
              `no feature PSI above ${threshold} (max ${fmt(maxPsi)}${maxPsiFeature ? `, ${maxPsiFeature}` : ''})`,
            ],
    },
    notes,
  };
}

function summary(values: ArrayLike<number>): { mean: number | null; missing: number } {
  let sum = 0;
  let n = 0;
  let missing = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) missing++;
    else {
      sum += v;
      n++;
    }
  }
  return { mean: n > 0 ? sum / n : null, missing };
}

export function fmt(x: number | null): string {
  return x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(4);
}
