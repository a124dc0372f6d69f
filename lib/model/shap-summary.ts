/**
 * Global SHAP summary of a set of rows (the trainer uses the test split): mean |SHAP| per feature
 * (the global importance the card lists beside gain), and for the top features a sample of
 * (SHAP value, feature value) points, the data of a beeswarm or a dependence plot. Pure functions
 * over the explainer's output ([rows, F + 1], the bias last).
 */
export interface ShapImportance {
  feature: string;
  /** Mean |SHAP| over the rows, in log-odds. */
  meanAbsShap: number;
  /** meanAbsShap over the sum of every feature's: the feature's part of the total. */
  share: number;
  /** Mean SHAP (signed): where the feature pushes on average (the mean of all features' sums to mean margin - bias). */
  meanShap: number;
}

export interface ShapPoint {
  shap: number;
  /** The feature's value in the row; null when missing. */
  value: number | null;
  /** The value's rank among the sampled rows' non-missing values, 0 (lowest) .. 1; null when missing. */
  rank: number | null;
}

export interface ShapSummary {
  rows: number;
  /** E[f]: the explainer's bias (log-odds). */
  bias: number;
  /** Every feature, largest mean |SHAP| first. */
  importance: ShapImportance[];
  /** The top features (importance order), each with its sampled points (the same rows for every feature). */
  points: { feature: string; points: ShapPoint[] }[];
}

export interface ShapSummaryOptions {
  /** Features with points (default 6). */
  topFeatures?: number;
  /** Rows sampled for the points, evenly spaced over the input (default 400). */
  sampleRows?: number;
}

export function shapSummary(
  contributions: Float64Array,
  matrix: Float32Array,
  rows: number,
  featureNames: readonly string[],
  options: ShapSummaryOptions = {},
): ShapSummary {
  const F = featureNames.length;
  const W = F + 1;
  if (contributions.length !== rows * W)
    throw new RangeError(`contributions have ${contributions.length} values, expected ${rows} x ${W}`);
  if (matrix.length !== rows * F)
    throw new RangeError(`matrix has ${matrix.length} values, expected ${rows} x ${F}`);
  const absSum = new Float64Array(F);
  const sum = new Float64Array(F);
  for (let r = 0; r < rows; r++) {
    const o = r * W;
    for (let f = 0; f < F; f++) {
      const v = contributions[o + f];
      absSum[f] += Math.abs(v);
      sum[f] += v;
    }
  }
  const n = Math.max(1, rows);
  const total = absSum.reduce((s, v) => s + v, 0);
  const importance = featureNames
    .map((feature, f) => ({
      feature,
      meanAbsShap: absSum[f] / n,
      share: total > 0 ? absSum[f] / total : 0,
      meanShap: sum[f] / n,
    }))
    .sort((a, b) => b.meanAbsShap - a.meanAbsShap || a.feature.localeCompare(b.feature));

  const sampleRows = Math.min(rows, options.sampleRows ?? 400);
  const sample = Array.from({ length: sampleRows }, (_, i) => Math.floor((i * rows) / sampleRows));
  const top = importance.slice(0, Math.min(F, options.topFeatures ?? 6));
  const points = top.map(({ feature }) => {
    const f = featureNames.indexOf(feature);
    const values = sample.map((r) => matrix[r * F + f]);
    const present = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
    const rankOf = (v: number) => {
      if (present.length <= 1) return 0.5;
      // Mid-rank of ties, so a binary feature gets two colours, not a gradient.
      const lo = lowerBound(present, v);
      const hi = upperBound(present, v);
      return (lo + hi - 1) / 2 / (present.length - 1);
    };
    return {
      feature,
      points: sample.map((r, i) => {
        const v = values[i];
        const missing = Number.isNaN(v);
        return {
          shap: contributions[r * W + f],
          value: missing ? null : v,
          rank: missing ? null : rankOf(v),
        };
      }),
    };
  });
  return { rows, bias: rows > 0 ? contributions[F] : Number.NaN, importance, points };
}

function lowerBound(sorted: number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(sorted: number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
