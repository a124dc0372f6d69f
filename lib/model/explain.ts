import type { GbdtModel } from './gbdt/booster.ts';

/**
 * Why the model says what it says.
 * - Importance: per feature, the total loss reduction of its splits (gain) and how many splits
 *   use it, over the kept trees.
 * - Contributions (Saabas, path-based): walking a row down each tree, every split moves the
 *   expected output from the parent's value to the child's; that difference is credited to the
 *   split's feature. bias + sum(contributions) = the raw score (log-odds), exactly up to rounding.
 *   Cheap and faithful to the path, though not the game-theoretic SHAP attribution: they are not
 *   consistent (a feature can matter more to the model and be credited less), so reasons and
 *   explanations come from lib/model/shap.ts (exact TreeSHAP); these stay for comparison only.
 */
export interface FeatureImportance {
  feature: string;
  gain: number;
  splits: number;
}

export function featureImportance(model: GbdtModel, featureNames: readonly string[]): FeatureImportance[] {
  const gain = new Float64Array(model.numFeatures);
  const splits = new Float64Array(model.numFeatures);
  for (const t of model.trees) {
    for (let node = 0; node < t.numNodes; node++) {
      if (t.left[node] < 0) continue;
      gain[t.feature[node]] += t.gain[node];
      splits[t.feature[node]]++;
    }
  }
  return featureNames
    .map((feature, f) => ({ feature, gain: gain[f], splits: splits[f] }))
    .sort((a, b) => b.gain - a.gain || a.feature.localeCompare(b.feature));
}

export interface Contributions {
  /** The base score plus every tree's root value: the raw score before any split. */
  bias: number;
  /** Per feature (model order), in log-odds. */
  contributions: Float64Array;
  /** bias + sum(contributions). */
  rawScore: number;
}

/** Contributions for one row of float32 values (NaN = missing), routed exactly as the model. */
export function contributions(model: GbdtModel, row: Float32Array): Contributions {
  const out = new Float64Array(model.numFeatures);
  let bias = model.baseScore;
  for (const t of model.trees) {
    let node = 0;
    bias += t.value[0];
    while (t.left[node] >= 0) {
      const x = row[t.feature[node]];
      const goLeft = x !== x ? t.missingLeft[node] === 1 : x < t.threshold[node];
      const child = goLeft ? t.left[node] : t.right[node];
      out[t.feature[node]] += t.value[child] - t.value[node];
      node = child;
    }
  }
  let raw = bias;
  for (let f = 0; f < out.length; f++) raw += out[f];
  return { bias, contributions: out, rawScore: raw };
}
