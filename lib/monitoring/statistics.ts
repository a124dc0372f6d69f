import { binOf, MISSING_BIN } from '#lib/model/gbdt/binning.ts';

/**
 * Drift statistics over the trainer's own bins (lib/model/gbdt/binning.ts): bin 0 holds missing
 * values (NaN), value bin k = 1 + #{edges e <= x}, and values are rounded to float32 first, as the
 * trainer and the ONNX model see them. The model card stores the training rows' counts per bin
 * (lib/model/card.ts FeatureReference), so a new sample binned with the same edges is compared
 * bin for bin, with no raw training values needed.
 */

/** Shares of 0 are replaced by this before the logarithm of PSI (a bin empty on one side would be infinite). */
export const PSI_EPSILON = 1e-4;

/** PSI is computed over about this many value groups (plus the missing bin); see psiGroups. */
export const PSI_VALUE_GROUPS = 10;

/** KS is reported only for features with at least this many value bins (fewer: a flag or a small count). */
export const KS_MIN_VALUE_BINS = 10;

/** Counts per bin of `values` with the reference's edges: [missing, value bin 1, ..., value bin edges.length + 1]. */
export function binCounts(values: ArrayLike<number>, edges: Float32Array | readonly number[]): Float64Array {
  const e = edges instanceof Float32Array ? edges : Float32Array.from(edges);
  const counts = new Float64Array(e.length + 2);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    counts[Number.isNaN(v) ? MISSING_BIN : binOf(Math.fround(v), e)]++;
  }
  return counts;
}

/**
 * Population Stability Index of `actual` against `expected` (counts over the same bins):
 *
 *   PSI = sum_i (a_i - e_i) ln(a_i / e_i),   a_i, e_i = shares of each side, floored at epsilon
 *
 * A bin empty on both sides adds nothing; a bin empty on one side uses epsilon for that side
 * (so it adds a large but finite term). 0 for identical shares. Either side without any row:
 * NaN (nothing to compare).
 */
export function psi(expected: ArrayLike<number>, actual: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  if (expected.length !== actual.length)
    throw new RangeError(`psi: ${expected.length} expected bins vs ${actual.length} actual bins`);
  const te = total(expected);
  const ta = total(actual);
  if (te === 0 || ta === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] === 0 && actual[i] === 0) continue;
    const e = Math.max(expected[i] / te, epsilon);
    const a = Math.max(actual[i] / ta, epsilon);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/**
 * Which PSI group each bin falls in: the missing bin alone (group 0), then the value bins merged,
 * in order, into runs of about equal REFERENCE mass: a run closes once it holds 1/groups of the
 * non-missing reference rows, and a bin holding at least 1/groups of the rows on its own (a
 * spike such as 0 previous loans) starts a run of its own, so a spike is never mixed with its
 * rare neighbours. About `groups` runs (a little more with spikes); fewer value bins stay as they are.
 *
 * Why merge: the model keeps up to 255 bins per feature, and PSI over 255 bins of a few thousand
 * recent rows is mostly sampling noise (about (bins - 1) x (1/n + 1/m) for two samples of one
 * distribution), whereas 10 groups keep it near 0.02 for 1,000 rows. Group edges are a subset of
 * the model's edges, so the binning stays the model's.
 */
export function psiGroups(referenceCounts: ArrayLike<number>, groups = PSI_VALUE_GROUPS): Int32Array {
  const bins = referenceCounts.length;
  const map = new Int32Array(bins);
  let nonMissing = 0;
  for (let k = 1; k < bins; k++) nonMissing += referenceCounts[k];
  const share = nonMissing / groups;
  let group = 1;
  let groupMass = 0;
  for (let k = 1; k < bins; k++) {
    const c = referenceCounts[k];
    if (groupMass > 0 && c >= share && nonMissing > 0) {
      group++;
      groupMass = 0;
    }
    map[k] = group;
    groupMass += c;
    if (k < bins - 1 && groupMass > 0 && groupMass >= share) {
      group++;
      groupMass = 0;
    }
  }
  return map;
}

/** Sums counts into groups (see psiGroups). */
export function groupCounts(counts: ArrayLike<number>, map: Int32Array): Float64Array {
  let size = 0;
  for (let k = 0; k < map.length; k++) size = Math.max(size, map[k] + 1);
  const out = new Float64Array(size);
  for (let k = 0; k < counts.length; k++) out[map[k]] += counts[k];
  return out;
}

export interface KsResult {
  /** Largest gap between the two cumulative shares of non-missing values, at the bins' upper edges. */
  d: number;
  /** Asymptotic two-sample p-value (Kolmogorov distribution, effective n = n m / (n + m)). */
  pValue: number;
  /** Non-missing rows on each side. */
  n: number;
  m: number;
}

/**
 * Two-sample Kolmogorov-Smirnov on binned data (missing bin 0 left out). The empirical CDFs can
 * only be compared at the bin edges, so D is a lower bound of the D the raw values would give,
 * and ties make the p-value conservative. undefined when a side has no non-missing value.
 */
export function ksFromCounts(expected: ArrayLike<number>, actual: ArrayLike<number>): KsResult | undefined {
  if (expected.length !== actual.length)
    throw new RangeError(`ks: ${expected.length} expected bins vs ${actual.length} actual bins`);
  let n = 0;
  let m = 0;
  for (let k = 1; k < expected.length; k++) {
    n += expected[k];
    m += actual[k];
  }
  if (n === 0 || m === 0) return undefined;
  let fe = 0;
  let fa = 0;
  let d = 0;
  for (let k = 1; k < expected.length; k++) {
    fe += expected[k] / n;
    fa += actual[k] / m;
    d = Math.max(d, Math.abs(fe - fa));
  }
  return { d, pValue: ksPValue(d, (n * m) / (n + m)), n, m };
}

/** P(D > d) for effective sample size ne, with the small-sample correction of Stephens (1970). */
export function ksPValue(d: number, ne: number): number {
  if (d <= 0) return 1;
  const sq = Math.sqrt(ne);
  const lambda = (sq + 0.12 + 0.11 / sq) * d;
  if (lambda < 0.2) return 1;
  let sum = 0;
  for (let j = 1; j <= 100; j++) {
    const term = 2 * (j % 2 === 1 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12) break;
  }
  return Math.min(1, Math.max(0, sum));
}

function total(counts: ArrayLike<number>): number {
  let t = 0;
  for (let i = 0; i < counts.length; i++) t += counts[i];
  return t;
}
