import { Prng } from '#lib/model/gbdt/prng.ts';
import type { ExplainableModel, ExplainableTree } from '#lib/model/shap.ts';

/**
 * The independent check of TreeSHAP: Shapley values by enumerating every subset of features,
 * with the value function path-dependent TreeSHAP uses. v(S) = E[f(x) | x_S] by cover-weighted
 * traversal: at a split on a feature in S follow x (the model's routing), at a split on a feature
 * outside S take both children weighted by their covers over the node's cover. No shared code
 * with lib/model/shap.ts: only the model's routing rule, written out again.
 */
function goesLeft(t: ExplainableTree, node: number, x: Float32Array): boolean {
  const v = x[t.feature[node]];
  return Number.isNaN(v) ? t.missingLeft[node] === 1 : v < t.threshold[node];
}

function treeValue(t: ExplainableTree, node: number, x: Float32Array, inS: (f: number) => boolean): number {
  if (t.left[node] < 0) return t.value[node];
  const l = t.left[node];
  const r = t.right[node];
  if (inS(t.feature[node])) return treeValue(t, goesLeft(t, node, x) ? l : r, x, inS);
  return (t.count[l] * treeValue(t, l, x, inS) + t.count[r] * treeValue(t, r, x, inS)) / t.count[node];
}

export function valueOfCoalition(model: ExplainableModel, x: Float32Array, mask: number): number {
  let sum = model.baseScore;
  for (const t of model.trees) sum += treeValue(t, 0, x, (f) => ((mask >>> f) & 1) === 1);
  return sum;
}

/** [phi_0 .. phi_{F-1}, bias] by enumeration of the 2^F coalitions (F <= 16). */
export function bruteForceShap(model: ExplainableModel, x: Float32Array): Float64Array {
  const F = model.numFeatures;
  if (F > 16) throw new RangeError('brute force is for small models');
  const size = 1 << F;
  const v = new Float64Array(size);
  for (let mask = 0; mask < size; mask++) v[mask] = valueOfCoalition(model, x, mask);
  const factorial = [1];
  for (let i = 1; i <= F; i++) factorial[i] = factorial[i - 1] * i;
  const out = new Float64Array(F + 1);
  for (let i = 0; i < F; i++) {
    let phi = 0;
    for (let mask = 0; mask < size; mask++) {
      if ((mask >>> i) & 1) continue;
      let s = 0;
      for (let m = mask; m !== 0; m &= m - 1) s++;
      phi += ((factorial[s] * factorial[F - s - 1]) / factorial[F]) * (v[mask | (1 << i)] - v[mask]);
    }
    out[i] = phi;
  }
  out[F] = v[0];
  return out;
}

/** The raw score by plain routing (what the GBDT predicts). */
export function rawScore(model: ExplainableModel, x: Float32Array): number {
  let sum = model.baseScore;
  for (const t of model.trees) {
    let node = 0;
    while (t.left[node] >= 0) node = goesLeft(t, node, x) ? t.left[node] : t.right[node];
    sum += t.value[node];
  }
  return sum;
}

/** Threshold values random trees split on; rows draw from them too, so ties x = t occur. */
export const GRID = [-2.5, -1, 0, 0.5, 1, 1.5, 3, 7.25];

/**
 * A random binary tree with `leaves` leaves on `numFeatures` features: repeated features on a
 * path, NaN routed both ways, thresholds from GRID (float32-exact), leaf values in [-1, 1).
 * consistentCovers: every internal cover is the sum of its children's (as a trainer makes them);
 * otherwise every node draws its own cover (the value function must not rely on the sums).
 */
export function randomTree(
  prng: Prng,
  numFeatures: number,
  leaves: number,
  consistentCovers = true,
): ExplainableTree & { numNodes: number } {
  const n = 2 * leaves - 1;
  const feature = new Int32Array(n).fill(-1);
  const threshold = new Float32Array(n);
  const missingLeft = new Uint8Array(n);
  const left = new Int32Array(n).fill(-1);
  const right = new Int32Array(n).fill(-1);
  const value = new Float64Array(n);
  const count = new Float64Array(n);
  let used = 1;
  const open = [0];
  while (used < n) {
    // Splitting a random open leaf makes both bushy and deep, chain-like trees.
    const at = prng.nextInt(open.length);
    const node = open[at];
    open.splice(at, 1);
    feature[node] = prng.nextInt(numFeatures);
    threshold[node] = GRID[prng.nextInt(GRID.length)];
    missingLeft[node] = prng.next() < 0.5 ? 1 : 0;
    left[node] = used;
    right[node] = used + 1;
    open.push(used, used + 1);
    used += 2;
  }
  for (let i = 0; i < n; i++) {
    if (left[i] < 0) value[i] = Math.fround(prng.next() * 2 - 1);
  }
  const fill = (node: number): number => {
    if (left[node] < 0) count[node] = 1 + prng.nextInt(50);
    else {
      const c = fill(left[node]) + fill(right[node]);
      count[node] = consistentCovers ? c : 1 + prng.nextInt(100);
    }
    return count[node];
  };
  fill(0);
  return { numNodes: n, feature, threshold, missingLeft, left, right, value, count };
}

export function randomModel(
  seed: number,
  numFeatures: number,
  trees: number,
  maxLeaves: number,
  consistentCovers = true,
): ExplainableModel {
  const prng = new Prng(seed);
  return {
    numFeatures,
    baseScore: Math.fround(prng.next() - 0.5),
    trees: Array.from({ length: trees }, () =>
      randomTree(prng, numFeatures, 1 + prng.nextInt(maxLeaves), consistentCovers),
    ),
  };
}

/** Random rows over GRID values, their midpoints, NaN and the infinities. */
export function randomRows(seed: number, numFeatures: number, rows: number): Float32Array {
  const prng = new Prng(seed);
  const out = new Float32Array(rows * numFeatures);
  for (let i = 0; i < out.length; i++) {
    const u = prng.next();
    if (u < 0.1) out[i] = Number.NaN;
    else if (u < 0.13) out[i] = prng.next() < 0.5 ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
    else if (u < 0.5) out[i] = GRID[prng.nextInt(GRID.length)];
    else out[i] = -3 + prng.next() * 11;
  }
  return out;
}
