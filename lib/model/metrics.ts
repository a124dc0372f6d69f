/**
 * Binary-classification metrics for scored holdouts, the threshold policy, and per-slice metrics.
 *
 * Conventions (docs/adr/0027-metric-definitions-slices-and-report.md, 0028):
 * - A row is predicted positive when `p >= threshold` (see predictLabel); serving uses the same rule.
 * - ROC AUC gives tied scores half credit (the Mann-Whitney statistic with average ranks, equal
 *   to the trapezoid under the ROC curve built from distinct scores).
 * - PR AUC is *average precision*, sum over distinct thresholds of (R_k - R_{k-1}) * P_k, the step
 *   interpolation scikit-learn's average_precision_score uses; not the trapezoid under the PR
 *   curve, which is optimistic.
 * - KS is max |TPR - FPR| over distinct thresholds.
 * - Logloss clips probabilities to [LOGLOSS_EPS, 1 - LOGLOSS_EPS] so one confident mistake costs
 *   about 34.5 nats instead of Infinity.
 * - ECE uses equal-width bins on [0, 1] (10 by default), bin i = [i/B, (i+1)/B), the last bin closed;
 *   ECE = sum over bins of (count / n) * |mean predicted - fraction positive|.
 * - With a single class, auc, prAuc and ks are NaN (undefined, not zero); JSON writes them as null.
 */

import { sortFloat64InPlace } from './sort-float64.ts';

export interface ReliabilityBin {
  lower: number;
  upper: number;
  meanPredicted: number;
  fractionPositive: number;
  count: number;
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface BinaryMetrics {
  n: number;
  positives: number;
  auc: number;
  prAuc: number;
  ks: number;
  brier: number;
  logloss: number;
  ece: number;
  /** Non-empty equal-width bins only, in increasing order of score. */
  reliability: ReliabilityBin[];
  threshold: number;
  confusion: Confusion;
  precision: number;
  recall: number;
  f1: number;
}

export type ThresholdPolicy =
  | { kind: 'max-f1' }
  | { kind: 'cost'; falseNegativeCost: number; falsePositiveCost: number }
  | { kind: 'fixed'; value: number };

export const LOGLOSS_EPS = 1e-15;
export const DEFAULT_RELIABILITY_BINS = 10;
/** Slices smaller than this get a note instead of metrics: their AUC would be noise. */
export const DEFAULT_MIN_SLICE_ROWS = 30;

/** The one decision rule: positive when the probability reaches the threshold. */
export function predictLabel(probability: number, threshold: number): 0 | 1 {
  return probability >= threshold ? 1 : 0;
}

/**
 * Scores sorted from highest to lowest, grouped by distinct value: after group k, everything with
 * score >= scores[k] is predicted positive, and tp[k] / fp[k] are the cumulative counts.
 */
interface OperatingPoints {
  scores: Float64Array;
  tp: Float64Array;
  fp: Float64Array;
  positives: number;
  negatives: number;
}

function validate(y: ArrayLike<number>, p: ArrayLike<number>): void {
  if (y.length !== p.length) {
    throw new RangeError(`labels and scores differ in length: ${y.length} labels, ${p.length} scores`);
  }
  for (let i = 0; i < y.length; i++) {
    const label = y[i];
    if (label !== 0 && label !== 1) throw new RangeError(`label at row ${i} is ${label}, expected 0 or 1`);
    const score = p[i];
    if (!(score >= 0 && score <= 1))
      throw new RangeError(`score at row ${i} is ${score}, expected a probability in [0, 1]`);
  }
}

/**
 * The operating points last computed for each score array, with copies of the labels and scores
 * they came from. A training run asks for the same split's points again and again (the threshold,
 * then the metrics, on validation; the metrics on test, then the credit views and the report's ROC
 * and PR curves; for the model and the baseline: 7 of the run's 11 calls on a whole split repeat
 * one, ~0.2 s each on the 1.5M test rows of a 10M-row table). A call with the same array object
 * whose labels and scores still equal the copies gets the same points back (nothing mutates them);
 * entries go with their score arrays.
 */
const pointsCache = new WeakMap<object, { labels: Uint8Array; scores: Float64Array; op: OperatingPoints }>();

/** a[i] === b[i] for every i, +0 and -0 told apart; a and b of the same length. */
function sameNumbers(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (x !== b[i] || (x === 0 && 1 / x !== 1 / b[i])) return false;
  }
  return true;
}

/** operatingPoints, reused for the same labels and scores (see pointsCache); y must be 0/1 (validated). */
function cachedOperatingPoints(y: ArrayLike<number>, p: ArrayLike<number>): OperatingPoints {
  const hit = pointsCache.get(p);
  if (hit && sameNumbers(hit.labels, y) && sameNumbers(hit.scores, p)) return hit.op;
  const op = operatingPoints(y, p);
  pointsCache.set(p, { labels: Uint8Array.from(y), scores: Float64Array.from(p), op });
  return op;
}

/**
 * The scores of the positives and of the negatives, each in ascending order (sortFloat64InPlace:
 * the native numeric sort's order; see operatingPoints). Merging them from the top walks the
 * scores from the riskiest down (credit-views.ts, operatingPoints).
 */
export function scoresByClass(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
): { pos: Float64Array; neg: Float64Array } {
  const n = y.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i] === 1 ? 1 : 0;
  const pos = new Float64Array(positives);
  const neg = new Float64Array(n - positives);
  for (let i = 0, a = 0, b = 0; i < n; i++) {
    if (y[i] === 1) pos[a++] = p[i];
    else neg[b++] = p[i];
  }
  sortFloat64InPlace(pos);
  sortFloat64InPlace(neg);
  return { pos, neg };
}

/**
 * Cumulative true and false positives at each distinct score, from the highest score down. The
 * scores of positives and of negatives are sorted apart by value (sortFloat64InPlace, no
 * comparator: a comparator sort of row indices was ~0.1 s per call on 116k rows, and a training
 * run makes a dozen calls), then merged from the top; equal scores form one operating point.
 * Scores are probabilities (validate() ran), so there is no NaN to order.
 */
function operatingPoints(y: ArrayLike<number>, p: ArrayLike<number>): OperatingPoints {
  const n = y.length;
  const { pos, neg } = scoresByClass(y, p);
  const scores = new Float64Array(n);
  const tp = new Float64Array(n);
  const fp = new Float64Array(n);
  let points = 0;
  let i = pos.length - 1;
  let j = neg.length - 1;
  let cumTp = 0;
  let cumFp = 0;
  while (i >= 0 || j >= 0) {
    const score = i < 0 ? neg[j] : j < 0 ? pos[i] : Math.max(pos[i], neg[j]);
    while (i >= 0 && pos[i] === score) {
      cumTp++;
      i--;
    }
    while (j >= 0 && neg[j] === score) {
      cumFp++;
      j--;
    }
    scores[points] = score;
    tp[points] = cumTp;
    fp[points] = cumFp;
    points++;
  }
  return {
    scores: scores.slice(0, points),
    tp: tp.slice(0, points),
    fp: fp.slice(0, points),
    positives: cumTp,
    negatives: cumFp,
  };
}

function rocAuc(op: OperatingPoints): number {
  if (op.positives === 0 || op.negatives === 0) return Number.NaN;
  let area = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let k = 0; k < op.scores.length; k++) {
    // Trapezoid over one group of tied scores: ties get half credit.
    area += (op.fp[k] - prevFp) * (op.tp[k] + prevTp);
    prevTp = op.tp[k];
    prevFp = op.fp[k];
  }
  return area / (2 * op.positives * op.negatives);
}

function averagePrecision(op: OperatingPoints): number {
  if (op.positives === 0 || op.negatives === 0) return Number.NaN;
  let ap = 0;
  let prevRecall = 0;
  for (let k = 0; k < op.scores.length; k++) {
    const recall = op.tp[k] / op.positives;
    const precision = op.tp[k] / (op.tp[k] + op.fp[k]);
    ap += (recall - prevRecall) * precision;
    prevRecall = recall;
  }
  return ap;
}

function kolmogorovSmirnov(op: OperatingPoints): number {
  if (op.positives === 0 || op.negatives === 0) return Number.NaN;
  let ks = 0;
  for (let k = 0; k < op.scores.length; k++) {
    ks = Math.max(ks, Math.abs(op.tp[k] / op.positives - op.fp[k] / op.negatives));
  }
  return ks;
}

export function reliabilityBins(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  bins = DEFAULT_RELIABILITY_BINS,
): ReliabilityBin[] {
  if (!Number.isInteger(bins) || bins < 1)
    throw new RangeError(`bins must be a positive integer, got ${bins}`);
  const count = new Float64Array(bins);
  const sumP = new Float64Array(bins);
  const sumY = new Float64Array(bins);
  for (let i = 0; i < y.length; i++) {
    const b = Math.min(bins - 1, Math.floor(p[i] * bins));
    count[b]++;
    sumP[b] += p[i];
    sumY[b] += y[i];
  }
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    if (count[b] === 0) continue;
    out.push({
      lower: b / bins,
      upper: (b + 1) / bins,
      meanPredicted: sumP[b] / count[b],
      fractionPositive: sumY[b] / count[b],
      count: count[b],
    });
  }
  return out;
}

export function confusionAt(y: ArrayLike<number>, p: ArrayLike<number>, threshold: number): Confusion {
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < y.length; i++) {
    const predicted = predictLabel(p[i], threshold);
    if (predicted === 1) {
      if (y[i] === 1) c.tp++;
      else c.fp++;
    } else if (y[i] === 1) c.fn++;
    else c.tn++;
  }
  return c;
}

/** Precision with no predicted positives is 0 (scikit-learn's zero_division=0), likewise recall and F1. */
function ratio(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}

export function binaryMetrics(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  threshold: number,
  opts: {
    bins?: number;
    /**
     * false for score arrays made for this one call (a slice's, a month's, a shuffled feature's):
     * their operating points are computed without being kept, and without the copies of labels
     * and scores pointsCache keeps to check a later call against (see pointsCache).
     */
    reuse?: boolean;
  } = {},
): BinaryMetrics {
  validate(y, p);
  const n = y.length;
  if (n === 0) throw new RangeError('cannot compute metrics on zero rows');
  let brier = 0;
  let logloss = 0;
  for (let i = 0; i < n; i++) {
    const d = p[i] - y[i];
    brier += d * d;
    logloss -= logLikelihood(y[i], p[i]);
  }
  const op = opts.reuse === false ? operatingPoints(y, p) : cachedOperatingPoints(y, p);
  return metricsFrom(y, p, threshold, opts.bins, op, brier, logloss);
}

/** log(q) for a positive, log(1 - q) for a negative, q the score clamped to [eps, 1 - eps]. */
function logLikelihood(label: number, score: number): number {
  const q = Math.min(1 - LOGLOSS_EPS, Math.max(LOGLOSS_EPS, score));
  return label === 1 ? Math.log(q) : Math.log(1 - q);
}

/** binaryMetrics from validated rows, their operating points and their summed squared errors and log losses. */
function metricsFrom(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  threshold: number,
  bins: number | undefined,
  op: OperatingPoints,
  brier: number,
  logloss: number,
): BinaryMetrics {
  const n = y.length;
  const reliability = reliabilityBins(y, p, bins ?? DEFAULT_RELIABILITY_BINS);
  let ece = 0;
  for (const bin of reliability) ece += (bin.count / n) * Math.abs(bin.meanPredicted - bin.fractionPositive);
  const confusion = confusionAt(y, p, threshold);
  const precision = ratio(confusion.tp, confusion.tp + confusion.fp);
  const recall = ratio(confusion.tp, confusion.tp + confusion.fn);
  return {
    n,
    positives: op.positives,
    auc: rocAuc(op),
    prAuc: averagePrecision(op),
    ks: kolmogorovSmirnov(op),
    brier: brier / n,
    logloss: logloss / n,
    ece,
    reliability,
    threshold,
    confusion,
    precision,
    recall,
    f1: ratio(2 * precision * recall, precision + recall),
  };
}

export interface RocCurve {
  /** Starts at (0, 0) and ends at (1, 1). */
  fpr: Float64Array;
  tpr: Float64Array;
  /** thresholds[k] produces point k; the first point uses a threshold above every score. */
  thresholds: Float64Array;
}

/**
 * Typed arrays, not number[]: a curve has a point per distinct score (1.5M on the test split of a
 * 10M-row table), and the report builds four of them (ADR 0202).
 */
export function rocCurve(y: ArrayLike<number>, p: ArrayLike<number>): RocCurve {
  validate(y, p);
  const op = cachedOperatingPoints(y, p);
  const m = op.scores.length;
  const fpr = new Float64Array(m + 1);
  const tpr = new Float64Array(m + 1);
  const thresholds = new Float64Array(m + 1);
  thresholds[0] = m > 0 ? nextUp(op.scores[0]) : 1;
  for (let k = 0; k < m; k++) {
    fpr[k + 1] = ratio(op.fp[k], op.negatives);
    tpr[k + 1] = ratio(op.tp[k], op.positives);
    thresholds[k + 1] = op.scores[k];
  }
  return { fpr, tpr, thresholds };
}

export interface PrCurve {
  /** In order of decreasing threshold: recall rises from its first point to 1. */
  precision: Float64Array;
  recall: Float64Array;
  thresholds: Float64Array;
}

export function prCurve(y: ArrayLike<number>, p: ArrayLike<number>): PrCurve {
  validate(y, p);
  const op = cachedOperatingPoints(y, p);
  const m = op.scores.length;
  const precision = new Float64Array(m);
  const recall = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    precision[k] = ratio(op.tp[k], op.tp[k] + op.fp[k]);
    recall[k] = ratio(op.tp[k], op.positives);
  }
  return { precision, recall, thresholds: op.scores.slice(0, m) };
}

/**
 * The threshold a policy picks on a scored split (the validation split by default: choosing it on
 * test would leak the test labels into the reported test metrics). Candidates are the distinct
 * scores plus one just above the highest score (predict nobody positive).
 * - max-f1: the highest threshold reaching the maximum F1.
 * - cost: the highest threshold minimising FN * falseNegativeCost + FP * falsePositiveCost.
 * - fixed: the value itself.
 */
export function chooseThreshold(y: ArrayLike<number>, p: ArrayLike<number>, policy: ThresholdPolicy): number {
  if (policy.kind === 'fixed') {
    if (!(policy.value >= 0 && policy.value <= 1))
      throw new RangeError(`fixed threshold must be in [0, 1], got ${policy.value}`);
    return policy.value;
  }
  validate(y, p);
  if (y.length === 0) throw new RangeError('cannot choose a threshold on zero rows');
  const op = cachedOperatingPoints(y, p);
  const candidates = op.scores.length;
  // Candidate -1 is "above every score": tp = fp = 0.
  const tpAt = (k: number) => (k < 0 ? 0 : op.tp[k]);
  const fpAt = (k: number) => (k < 0 ? 0 : op.fp[k]);
  const thresholdAt = (k: number) => (k < 0 ? nextUp(op.scores[0]) : op.scores[k]);
  let best = -1;
  if (policy.kind === 'max-f1') {
    let bestF1 = -1;
    for (let k = -1; k < candidates; k++) {
      const tp = tpAt(k);
      const f1 = ratio(2 * tp, tp + fpAt(k) + op.positives);
      if (f1 > bestF1) {
        bestF1 = f1;
        best = k;
      }
    }
    return thresholdAt(best);
  }
  const { falseNegativeCost, falsePositiveCost } = policy;
  if (!(falseNegativeCost >= 0 && falsePositiveCost >= 0) || falseNegativeCost + falsePositiveCost === 0) {
    throw new RangeError(
      `costs must be >= 0 and not both 0, got FN ${falseNegativeCost}, FP ${falsePositiveCost}`,
    );
  }
  let bestCost = Number.POSITIVE_INFINITY;
  for (let k = -1; k < candidates; k++) {
    const cost = (op.positives - tpAt(k)) * falseNegativeCost + fpAt(k) * falsePositiveCost;
    if (cost < bestCost) {
      bestCost = cost;
      best = k;
    }
  }
  return thresholdAt(best);
}

export interface SliceNote {
  n: number;
  positives: number;
  note: string;
}

export function isSliceNote(m: BinaryMetrics | SliceNote): m is SliceNote {
  return 'note' in m;
}

/**
 * Metrics per value of each slicing column, e.g. { gender: ['M', 'F', ...], ageBand: [...] }.
 * A group with fewer than minRows rows, or with one class only, gets a note instead of metrics
 * (its AUC would be undefined or noise). Groups are sorted by value.
 */
export function sliceMetrics(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  threshold: number,
  slices: Record<string, ArrayLike<string>>,
  opts: { minRows?: number; bins?: number } = {},
): Record<string, Record<string, BinaryMetrics | SliceNote>> {
  validate(y, p);
  const minRows = opts.minRows ?? DEFAULT_MIN_SLICE_ROWS;
  const out: Record<string, Record<string, BinaryMetrics | SliceNote>> = {};
  // Each row's terms once, not once per slice column, and each group's operating points without
  // pointsCache (its arrays are made here): in a profile over 1.5M rows and six columns, the
  // groups' own loops (a log a row) were a quarter of sliceMetrics' time, the cache's copies and a
  // second validation another 7%.
  const columns = Object.keys(slices).length;
  const squaredError = new Float64Array(columns > 0 ? y.length : 0);
  const likelihood = new Float64Array(squaredError.length);
  for (let i = 0; i < squaredError.length; i++) {
    const d = p[i] - y[i];
    squaredError[i] = d * d;
    likelihood[i] = logLikelihood(y[i], p[i]);
  }
  for (const [column, values] of Object.entries(slices)) {
    if (values.length !== y.length) {
      throw new RangeError(`slice column ${column} has ${values.length} values for ${y.length} rows`);
    }
    const groups = rowsByGroup(values);
    const byValue: Record<string, BinaryMetrics | SliceNote> = {};
    for (const key of [...groups.keys()].sort()) {
      const rows = groups.get(key) ?? new Uint32Array(0);
      const gy = new Float64Array(rows.length);
      const gp = new Float64Array(rows.length);
      let positives = 0;
      // Summed in the group's row order, as binaryMetrics would over gy and gp: the same numbers.
      let brier = 0;
      let logloss = 0;
      for (let j = 0; j < rows.length; j++) {
        const r = rows[j];
        gy[j] = y[r];
        gp[j] = p[r];
        positives += y[r];
        brier += squaredError[r];
        logloss -= likelihood[r];
      }
      if (rows.length < minRows) {
        byValue[key] = {
          n: rows.length,
          positives,
          note: `only ${rows.length} rows (fewer than ${minRows}): metrics omitted`,
        };
      } else if (positives === 0 || positives === rows.length) {
        byValue[key] = {
          n: rows.length,
          positives,
          note: `single class (all ${positives === 0 ? 0 : 1}): AUC, PR AUC and KS are undefined`,
        };
      } else {
        byValue[key] = metricsFrom(gy, gp, threshold, opts.bins, operatingPoints(gy, gp), brier, logloss);
      }
    }
    out[column] = byValue;
  }
  return out;
}

/**
 * The rows of each distinct value, groups in the order their values first appear, each group's
 * rows ascending (subarrays of one Uint32Array). sliceMetrics and fairnessByAttribute group the
 * 1.5M test rows of a 10M-row table by several columns; a number[] per group grown a push a row
 * was most of their own time.
 */
export function rowsByGroup(values: ArrayLike<string>): Map<string, Uint32Array> {
  const n = values.length;
  const idOf = new Map<string, number>();
  const ids = new Uint32Array(n);
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const key = values[i];
    let id = idOf.get(key);
    if (id === undefined) {
      id = counts.length;
      idOf.set(key, id);
      counts.push(0);
    }
    ids[i] = id;
    counts[id]++;
  }
  const starts = new Uint32Array(counts.length + 1);
  for (let g = 0; g < counts.length; g++) starts[g + 1] = starts[g] + counts[g];
  const next = starts.slice(0, counts.length);
  const rows = new Uint32Array(n);
  for (let i = 0; i < n; i++) rows[next[ids[i]]++] = i;
  const out = new Map<string, Uint32Array>();
  for (const [key, g] of idOf) out.set(key, rows.subarray(starts[g], starts[g + 1]));
  return out;
}

/** The ROC AUC alone (NaN with a single class): binaryMetrics(y, p, t).auc without the rest. */
export function rocAucOf(y: ArrayLike<number>, p: ArrayLike<number>): number {
  validate(y, p);
  return rocAuc(operatingPoints(y, p));
}

/** The smallest double greater than x (x finite): a threshold that excludes a score equal to x. */
function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return x;
  if (x === 0) return Number.MIN_VALUE;
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const bits = buf.getBigUint64(0);
  buf.setBigUint64(0, x > 0 ? bits + 1n : bits - 1n);
  return buf.getFloat64(0);
}

/**
 * Reliability over equal-COUNT bins (score quantiles). With a few percent positives nearly every
 * score falls in the first equal-width bin, so the report draws this curve; ECE stays on the
 * documented equal-width bins.
 */
export function reliabilityByQuantile(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  bins = 20,
): ReliabilityBin[] {
  validate(y, p);
  const n = y.length;
  // The scores in ascending order (sortFloat64InPlace, by value: a comparator sort of row indices
  // took ~0.6 s on 1.5M rows). A bin never splits tied scores, so its rows are exactly those scoring
  // in [its lowest, its highest]: its positives are counted along the positives' sorted scores,
  // and its scores summed in ascending order, as over the rows sorted by score then index. Only
  // the sign of a zero bound depends on that index order (+0 and -0 tie): it is the first and
  // last zero row's.
  const sorted = sortFloat64InPlace(Float64Array.from(p));
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i];
  const pos = new Float64Array(positives);
  let firstZero = -1;
  let lastZero = -1;
  for (let i = 0, j = 0; i < n; i++) {
    if (y[i] === 1) pos[j++] = p[i];
    if (p[i] === 0) {
      if (firstZero < 0) firstZero = i;
      lastZero = i;
    }
  }
  sortFloat64InPlace(pos);
  const out: ReliabilityBin[] = [];
  let start = 0;
  let j = 0;
  for (let b = 1; b <= bins && start < n; b++) {
    let end = Math.round((b * n) / bins);
    // Never split a run of tied scores across two bins.
    while (end < n && end > start && sorted[end] === sorted[end - 1]) end++;
    if (end <= start) continue;
    let sumP = 0;
    for (let k = start; k < end; k++) sumP += sorted[k];
    const upper = sorted[end - 1];
    const before = j;
    while (j < positives && pos[j] <= upper) j++;
    const count = end - start;
    out.push({
      lower: sorted[start] === 0 ? p[firstZero] : sorted[start],
      upper: upper === 0 ? p[lastZero] : upper,
      meanPredicted: sumP / count,
      fractionPositive: (j - before) / count,
      count,
    });
    start = end;
  }
  return out;
}
