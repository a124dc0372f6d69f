/**
 * Exact path-dependent TreeSHAP (Lundberg et al. 2018, "Consistent Individualized Feature
 * Attribution for Tree Ensembles", Algorithm 2; Nature MI 2020) for the GBDT's trees, with the
 * trees' own covers (training rows reaching each node) as the path weights.
 *
 * The value function is E[f(x) | x_S] estimated by cover-weighted traversal: at a split on a
 * feature in S the row's own branch is followed, at a split on a feature outside S both branches
 * are, weighted by child cover / node cover. Per leaf l that is v_l * prod_j (j in S ? o_j : z_j)
 * over the unique features j on the leaf's path, where z_j is the product of the cover ratios of
 * the splits on j along the path and o_j (0 or 1) says whether x satisfies every one of them. The
 * Shapley values of that leaf game, summed over leaves and trees, are the SHAP values.
 *
 * How a row is explained (docs/adr/0125-exact-treeshap-with-precomputed-leaf-tables.md):
 * - Leaf tables (Fast TreeSHAP v2, Yang 2021): o_j is 0 or 1, so a leaf's Shapley values depend
 *   on x only through the set H of its path features x satisfies. With
 *   G(K) = v * sum_{S subset of K} w_d(|S|) prod_{j in P \ S} z_j, w_d(s) = s!(d-s-1)!/d!,
 *   a feature i outside H gets -G(H) and a feature i in H gets (1 - z_i) / z_i * G(H \ {i}).
 *   G is precomputed at load for every subset of the path (2^d numbers per leaf), so a row costs
 *   one comparison per internal node and d table reads per leaf.
 * - Leaves whose path has more than maxTableDepth unique features (or past the table budget) use
 *   Algorithm 2's EXTEND / UNWOUND-SUM arithmetic on the leaf's path instead: O(d^2) per leaf.
 * Both are exact; the tests check each against brute-force Shapley values over feature subsets.
 *
 * Routing is the model's (lib/model/gbdt/tree.ts): NaN goes left when missingLeft, else x < t goes
 * left, t a float32 threshold. Trees are relabelled in preorder at load so one forward pass over
 * the nodes meets every parent before its children: the set H of each node is its parent's, with
 * the split's feature bit set or cleared by the direction x takes.
 */

/** One tree as the explainer needs it (lib/model/gbdt/tree.ts `Tree` has these fields and more). */
export interface ExplainableTree {
  /** Feature index of the split; < 0 for leaves. */
  feature: ArrayLike<number>;
  /** float32 split thresholds: x < threshold goes left. */
  threshold: ArrayLike<number>;
  /** 1 when a missing value (NaN) goes left. */
  missingLeft: ArrayLike<number>;
  /** Children; left[node] < 0 marks a leaf. */
  left: ArrayLike<number>;
  right: ArrayLike<number>;
  /** Leaf outputs (what the tree adds to the raw score); internal nodes are ignored. */
  value: ArrayLike<number>;
  /**
   * Cover: training rows reaching the node (> 0 on every node, and an internal node's cover is the
   * sum of its children's: what row counts are, what the reference implementations assume, and what
   * keeps Algorithm 2's unwinding well-conditioned, every cover ratio being <= 1).
   */
  count: ArrayLike<number>;
}

export interface ExplainableModel {
  numFeatures: number;
  /** Raw score before any tree (log-odds). */
  baseScore: number;
  trees: readonly ExplainableTree[];
}

export interface TreeShapOptions {
  /**
   * Leaves with at most this many unique features on their path get a precomputed table of 2^d
   * numbers; deeper ones are explained by Algorithm 2 on their path. 0 disables the tables.
   */
  maxTableDepth?: number;
  /** Upper bound on table entries (8 bytes each) over all leaves; leaves past it use Algorithm 2. */
  maxTableEntries?: number;
}

/** 12 unique features: 4,096 entries (32 KiB) per leaf at most. */
export const DEFAULT_MAX_TABLE_DEPTH = 12;
/** 8 Mi entries: 64 MiB of tables at most. */
export const DEFAULT_MAX_TABLE_ENTRIES = 1 << 23;
/** Bits of the per-node hot-feature set (an int32); tables never need more. */
const TRACKED_BITS = 30;
/** Rows a batch call explains together, tree by tree (ShapScratch.block). */
export const SHAP_BLOCK_ROWS = 32;
/** Largest tree accepted (the GBDT grows at most 4,096 leaves). */
export const MAX_TREE_NODES = 2 * 4096 - 1;

/**
 * The precomputed explainer as flat typed arrays: what a row's pass reads, and all a worker
 * thread needs (lib/model/shap-pool.ts sends it across as is).
 */
export interface ShapKernelModel {
  numFeatures: number;
  /** baseScore + the cover-weighted mean output of every tree: E[f] under the path-dependent game. */
  bias: number;
  numTrees: number;
  /**
   * Nodes of tree t: internal ones treeStart[t] .. leafStart[t] (in preorder: parents first), then
   * its leaves .. treeStart[t + 1]. Two tight loops, no leaf-or-not branch per node.
   */
  treeStart: Int32Array;
  leafStart: Int32Array;
  maxTreeNodes: number;
  /** Largest number of unique features on one leaf's path. */
  maxPathFeatures: number;
  feature: Int32Array;
  threshold: Float32Array;
  missingLeft: Uint8Array;
  /** Children as indices local to the tree (node - treeStart[t]). */
  left: Int32Array;
  right: Int32Array;
  /** The split feature's bit in the path's hot set (0 when untracked), and that bit again when the split is its first on the path. */
  bit: Int32Array;
  setBit: Int32Array;
  /** Leaves: output, first path element, number of path elements, table offset (-1: Algorithm 2). */
  leafValue: Float64Array;
  leafPathStart: Int32Array;
  leafPathLength: Int32Array;
  leafTable: Int32Array;
  /** Path elements (unique features of a leaf's path): feature, z, (1 - z) / z. */
  pathFeature: Int32Array;
  pathZero: Float64Array;
  pathCoefficient: Float64Array;
  /** Algorithm 2 leaves: their ancestors (local node, path element, 1 when the path goes left). */
  leafAncestorStart: Int32Array;
  leafAncestorCount: Int32Array;
  ancestorNode: Int32Array;
  ancestorElement: Int32Array;
  ancestorLeft: Uint8Array;
  tables: Float64Array;
}

export interface ShapScratch {
  /** Rows explained together, tree by tree (see shapKernel). */
  block: number;
  /** Per row of a block: each node's hot-feature mask, and 1 when x goes left (block x maxTreeNodes). */
  hot: Int32Array;
  goLeft: Uint8Array;
  ones: Float64Array;
  weights: Float64Array;
}

export interface TreeShapStats {
  trees: number;
  leaves: number;
  tableLeaves: number;
  pathLeaves: number;
  tableEntries: number;
  maxPathFeatures: number;
  /** Leaves by number of unique features on their path (index = count). */
  pathFeatureHistogram: number[];
}

interface PathElement {
  feature: number;
  zero: number;
  /** Ancestors (local preorder node, went left) whose splits are on this feature. */
  splits: { node: number; left: boolean }[];
}

interface LeafPath {
  node: number;
  value: number;
  elements: PathElement[];
}

/** s!(d-s-1)!/d! for s = 0 .. d-1: the Shapley weight of a coalition of s among d players. */
function shapleyWeights(d: number): Float64Array {
  const w = new Float64Array(Math.max(1, d));
  if (d === 0) return w;
  w[0] = 1 / d;
  for (let s = 0; s + 1 < d; s++) w[s + 1] = (w[s] * (s + 1)) / (d - 1 - s);
  return w;
}

/**
 * Fills out[0 .. 2^d) with G(K) for every subset K of the path (bit k = element k). G(full) is
 * never read (a feature outside H exists whenever G(H) is read) and is left 0.
 */
function fillLeafTable(
  zero: readonly number[],
  value: number,
  out: Float64Array,
  offset: number,
  prodIn: Float64Array,
  sym: Float64Array,
): void {
  const d = zero.length;
  const size = 1 << d;
  const full = size - 1;
  const stride = d + 1;
  const w = shapleyWeights(d);
  // prodIn[K] = prod_{j in K} z_j; sym[K * stride + m] = e_m({z_j : j in K}) (elementary symmetric).
  prodIn[0] = 1;
  sym.fill(0, 0, size * stride);
  sym[0] = 1;
  for (let mask = 1; mask < size; mask++) {
    const low = mask & -mask;
    const b = 31 - Math.clz32(low);
    const prev = mask ^ low;
    const z = zero[b];
    prodIn[mask] = prodIn[prev] * z;
    const o = mask * stride;
    const p = prev * stride;
    sym[o] = 1;
    for (let m = 1; m <= d; m++) sym[o + m] = sym[p + m] + z * sym[p + m - 1];
  }
  for (let mask = 0; mask < full; mask++) {
    const c = popcount(mask);
    const o = mask * stride;
    // sum over S subset of K with |S| = s of prod_{j in K \ S} z_j is e_{|K| - s}(z_K).
    let sum = 0;
    for (let s = 0; s <= c; s++) sum += w[s] * sym[o + c - s];
    out[offset + mask] = value * prodIn[full ^ mask] * sum;
  }
  out[offset + full] = 0;
}

function popcount(x: number): number {
  let n = 0;
  while (x !== 0) {
    x &= x - 1;
    n++;
  }
  return n;
}

function structureError(tree: number, message: string): RangeError {
  return new RangeError(`tree ${tree}: ${message}`);
}

/**
 * The tree's internal nodes in preorder, then its leaves in preorder, checking that it is one
 * binary tree rooted at node 0 (every node reached exactly once, children in range).
 */
function nodeOrder(
  t: ExplainableTree,
  numNodes: number,
  index: number,
): { order: Int32Array; internal: number } {
  const order = new Int32Array(numNodes);
  const seen = new Uint8Array(numNodes);
  const stack = [0];
  let k = 0;
  while (stack.length > 0) {
    const n = stack.pop() as number;
    if (seen[n]) throw structureError(index, `node ${n} is reached twice`);
    seen[n] = 1;
    order[k++] = n;
    if (t.left[n] >= 0) {
      const l = t.left[n];
      const r = t.right[n];
      if (!Number.isInteger(l) || !Number.isInteger(r) || l >= numNodes || r < 0 || r >= numNodes) {
        throw structureError(index, `node ${n} has children ${l}, ${r} outside 0..${numNodes - 1}`);
      }
      stack.push(r, l);
    }
  }
  if (k !== numNodes) throw structureError(index, `${numNodes - k} nodes are not reachable from the root`);
  const internal = order.filter((n) => t.left[n] >= 0);
  const out = new Int32Array(numNodes);
  out.set(internal);
  out.set(
    order.filter((n) => t.left[n] < 0),
    internal.length,
  );
  return { order: out, internal: internal.length };
}

/** The precomputed explainer of a model (see the module comment). Throws RangeError on a malformed tree. */
export function buildShapKernel(
  model: ExplainableModel,
  options: TreeShapOptions = {},
): { kernel: ShapKernelModel; stats: TreeShapStats } {
  const F = model.numFeatures;
  if (!Number.isInteger(F) || F < 1) throw new RangeError(`numFeatures must be an integer >= 1, got ${F}`);
  if (!Number.isFinite(model.baseScore))
    throw new RangeError(`baseScore must be finite, got ${model.baseScore}`);
  const maxTableDepth = Math.min(options.maxTableDepth ?? DEFAULT_MAX_TABLE_DEPTH, TRACKED_BITS);
  let entriesLeft = options.maxTableEntries ?? DEFAULT_MAX_TABLE_ENTRIES;

  const T = model.trees.length;
  const treeStart = new Int32Array(T + 1);
  const leafStart = new Int32Array(T);
  for (let t = 0; t < T; t++) {
    const n = model.trees[t].left.length;
    if (n < 1 || n > MAX_TREE_NODES) throw structureError(t, `has ${n} nodes (1..${MAX_TREE_NODES})`);
    treeStart[t + 1] = treeStart[t] + n;
  }
  const total = treeStart[T];
  const feature = new Int32Array(total);
  const threshold = new Float32Array(total);
  const missingLeft = new Uint8Array(total);
  const left = new Int32Array(total).fill(-1);
  const right = new Int32Array(total).fill(-1);
  const bit = new Int32Array(total);
  const setBit = new Int32Array(total);
  const leafValue = new Float64Array(total);
  const leafPathStart = new Int32Array(total);
  const leafPathLength = new Int32Array(total);
  const leafTable = new Int32Array(total).fill(-1);
  const leafAncestorStart = new Int32Array(total);
  const leafAncestorCount = new Int32Array(total);
  const leaves: LeafPath[] = [];
  const leafTree: number[] = [];
  let maxTreeNodes = 0;
  let bias = model.baseScore;

  for (let t = 0; t < T; t++) {
    const tree = model.trees[t];
    const n = tree.left.length;
    maxTreeNodes = Math.max(maxTreeNodes, n);
    for (const [name, arr] of [
      ['feature', tree.feature],
      ['threshold', tree.threshold],
      ['missingLeft', tree.missingLeft],
      ['right', tree.right],
      ['value', tree.value],
      ['count', tree.count],
    ] as const) {
      if (arr.length !== n) throw structureError(t, `${name} has ${arr.length} entries for ${n} nodes`);
    }
    const { order, internal } = nodeOrder(tree, n, t);
    const local = new Int32Array(n);
    for (let i = 0; i < n; i++) local[order[i]] = i;
    const base = treeStart[t];
    leafStart[t] = base + internal;
    for (let i = 0; i < n; i++) {
      const old = order[i];
      const g = base + i;
      const c = tree.count[old];
      if (!(c > 0 && Number.isFinite(c))) throw structureError(t, `node ${old} has cover ${c} (must be > 0)`);
      if (tree.left[old] >= 0) {
        const f = tree.feature[old];
        if (!Number.isInteger(f) || f < 0 || f >= F)
          throw structureError(t, `node ${old} splits on feature ${f}, outside 0..${F - 1}`);
        const thr = tree.threshold[old];
        if (Number.isNaN(thr) || Math.fround(thr) !== thr)
          throw structureError(t, `node ${old} has threshold ${thr}, not a float32 number`);
        feature[g] = f;
        threshold[g] = thr;
        missingLeft[g] = tree.missingLeft[old] ? 1 : 0;
        left[g] = local[tree.left[old]];
        right[g] = local[tree.right[old]];
        const sum = tree.count[tree.left[old]] + tree.count[tree.right[old]];
        if (!(Math.abs(sum - c) <= 1e-9 * c)) {
          throw structureError(
            t,
            `node ${old} has cover ${c} but its children ${sum}: covers must add up (rows reaching a node)`,
          );
        }
      } else {
        const v = tree.value[old];
        if (!Number.isFinite(v)) throw structureError(t, `leaf ${old} has value ${v}`);
        feature[g] = -1;
        leafValue[g] = v;
      }
    }
    // Path elements per leaf, walking the relabelled tree (children after parents).
    const walk = (node: number, elements: PathElement[], weight: number): void => {
      const g = base + node;
      if (feature[g] < 0) {
        leaves.push({ node: g, value: leafValue[g], elements });
        leafTree.push(t);
        bias += weight * leafValue[g];
        return;
      }
      const f = feature[g];
      let k = elements.findIndex((e) => e.feature === f);
      const first = k < 0;
      if (first) k = elements.length;
      bit[g] = k < TRACKED_BITS ? 1 << k : 0;
      setBit[g] = first ? bit[g] : 0;
      const cover = tree.count[order[node]];
      for (const [child, goesLeft] of [
        [left[g], true],
        [right[g], false],
      ] as const) {
        const ratio = tree.count[order[child]] / cover;
        const next = elements.map((e) => ({ ...e, splits: e.splits.slice() }));
        if (first) next.push({ feature: f, zero: 1, splits: [] });
        next[k].zero *= ratio;
        next[k].splits.push({ node, left: goesLeft });
        walk(child, next, weight * ratio);
      }
    };
    walk(0, [], 1);
  }

  // Tables for the shallow paths, deepest-fitting first within the budget (small ones always fit).
  const byDepth = leaves
    .map((_, i) => i)
    .sort((a, b) => leaves[a].elements.length - leaves[b].elements.length);
  const useTable = new Uint8Array(leaves.length);
  let tableEntries = 0;
  for (const i of byDepth) {
    const d = leaves[i].elements.length;
    if (d > maxTableDepth) continue;
    const size = 1 << d;
    if (size > entriesLeft) continue;
    entriesLeft -= size;
    tableEntries += size;
    useTable[i] = 1;
  }
  let pathCount = 0;
  let ancestorTotal = 0;
  let maxPathFeatures = 0;
  const histogram: number[] = [];
  for (let i = 0; i < leaves.length; i++) {
    const d = leaves[i].elements.length;
    pathCount += d;
    maxPathFeatures = Math.max(maxPathFeatures, d);
    histogram[d] = (histogram[d] ?? 0) + 1;
    if (!useTable[i]) for (const e of leaves[i].elements) ancestorTotal += e.splits.length;
  }
  const pathFeature = new Int32Array(pathCount);
  const pathZero = new Float64Array(pathCount);
  const pathCoefficient = new Float64Array(pathCount);
  const ancestorNode = new Int32Array(ancestorTotal);
  const ancestorElement = new Int32Array(ancestorTotal);
  const ancestorLeft = new Uint8Array(ancestorTotal);
  const tables = new Float64Array(tableEntries);
  const maxD = Math.min(maxPathFeatures, maxTableDepth);
  const prodIn = new Float64Array(1 << maxD);
  const sym = new Float64Array((1 << maxD) * (maxD + 1));
  let p = 0;
  let a = 0;
  let tableAt = 0;
  for (let i = 0; i < leaves.length; i++) {
    const { node, value, elements } = leaves[i];
    leafPathStart[node] = p;
    leafPathLength[node] = elements.length;
    for (const e of elements) {
      pathFeature[p] = e.feature;
      pathZero[p] = e.zero;
      pathCoefficient[p] = (1 - e.zero) / e.zero;
      p++;
    }
    if (useTable[i]) {
      leafTable[node] = tableAt;
      fillLeafTable(
        elements.map((e) => e.zero),
        value,
        tables,
        tableAt,
        prodIn,
        sym,
      );
      tableAt += 1 << elements.length;
    } else {
      leafAncestorStart[node] = a;
      elements.forEach((e, k) => {
        for (const s of e.splits) {
          ancestorNode[a] = s.node;
          ancestorElement[a] = k;
          ancestorLeft[a] = s.left ? 1 : 0;
          a++;
        }
      });
      leafAncestorCount[node] = a - leafAncestorStart[node];
    }
  }
  for (let d = 0; d < histogram.length; d++) histogram[d] ??= 0;
  const tableLeaves = useTable.reduce((s, u) => s + u, 0);
  return {
    kernel: {
      numFeatures: F,
      bias,
      numTrees: T,
      treeStart,
      leafStart,
      maxTreeNodes,
      maxPathFeatures,
      feature,
      threshold,
      missingLeft,
      left,
      right,
      bit,
      setBit,
      leafValue,
      leafPathStart,
      leafPathLength,
      leafTable,
      pathFeature,
      pathZero,
      pathCoefficient,
      leafAncestorStart,
      leafAncestorCount,
      ancestorNode,
      ancestorElement,
      ancestorLeft,
      tables,
    },
    stats: {
      trees: T,
      leaves: leaves.length,
      tableLeaves,
      pathLeaves: leaves.length - tableLeaves,
      tableEntries,
      maxPathFeatures,
      pathFeatureHistogram: histogram,
    },
  };
}

export function allocateShapScratch(m: ShapKernelModel, block = SHAP_BLOCK_ROWS): ShapScratch {
  const stride = Math.max(1, m.maxTreeNodes);
  return {
    block,
    hot: new Int32Array(block * stride),
    goLeft: new Uint8Array(block * stride),
    ones: new Float64Array(m.maxPathFeatures + 1),
    weights: new Float64Array(m.maxPathFeatures + 2),
  };
}

/**
 * SHAP values of rows rowStart .. rowEnd of a row-major float32 matrix ([rows, F], NaN = missing)
 * into out ([rows, F + 1], the bias last, as LightGBM's pred_contrib). Allocates nothing.
 *
 * Rows go in blocks of s.block, and within a block tree by tree: one tree's nodes and leaf tables
 * stay in the L1 cache for all the block's rows instead of being fetched again for every row
 * (on a 300-tree model the tables are megabytes).
 *
 * Self-contained on purpose (no reference outside its arguments): lib/model/shap-pool.ts runs its
 * source text in worker threads.
 */
export function shapKernel(
  m: ShapKernelModel,
  x: Float32Array,
  rowStart: number,
  rowEnd: number,
  out: Float64Array,
  s: ShapScratch,
): void {
  const F = m.numFeatures;
  const W = F + 1;
  const { treeStart, leafStart, feature, threshold, missingLeft, left, right, bit, setBit, leafValue } = m;
  const { leafPathStart, leafPathLength, leafTable, pathFeature, pathZero, pathCoefficient, tables } = m;
  const { leafAncestorStart, leafAncestorCount, ancestorNode, ancestorElement, ancestorLeft } = m;
  const numTrees = m.numTrees;
  const bias = m.bias;
  const stride = Math.max(1, m.maxTreeNodes);
  const hot = s.hot;
  const goLeft = s.goLeft;
  const ones = s.ones;
  const pw = s.weights;
  for (let r0 = rowStart; r0 < rowEnd; r0 += s.block) {
    const nb = Math.min(s.block, rowEnd - r0);
    for (let b = 0; b < nb; b++) {
      const oo = (r0 + b) * W;
      for (let f = 0; f < F; f++) out[oo + f] = 0;
      out[oo + F] = bias;
    }
    for (let t = 0; t < numTrees; t++) {
      const base = treeStart[t];
      const mid = leafStart[t];
      const end = treeStart[t + 1];
      for (let b = 0; b < nb; b++) {
        const xo = (r0 + b) * F;
        const hb = b * stride;
        hot[hb] = 0;
        for (let g = base; g < mid; g++) {
          const v = x[xo + feature[g]];
          // 1 when x goes left (NaN < t is false, so NaN goes left exactly when missingLeft), as
          // integers and masks: the direction is data, and a branch on it mispredicts half the time.
          const gl = +(v < threshold[g]) | (+(v !== v) & missingLeft[g]);
          const n = hb + g - base;
          goLeft[n] = gl;
          const h = hot[n];
          const onPath = h | setBit[g];
          const offPath = h & ~bit[g];
          const sel = -gl;
          hot[hb + left[g]] = (onPath & sel) | (offPath & ~sel);
          hot[hb + right[g]] = (offPath & sel) | (onPath & ~sel);
        }
      }
      for (let g = mid; g < end; g++) {
        const d = leafPathLength[g];
        if (d === 0) continue;
        const ps = leafPathStart[g];
        const tab = leafTable[g];
        const local = g - base;
        if (tab >= 0) {
          for (let k = 0; k < d; k++) {
            const f = r0 * W + pathFeature[ps + k];
            const c = pathCoefficient[ps + k];
            const kb = 1 << k;
            for (let b = 0, hi = local, o = f; b < nb; b++, hi += stride, o += W) {
              const h = hot[hi];
              const on = (h >>> k) & 1;
              out[o] += on * c * tables[tab + (h ^ kb)] - (1 - on) * tables[tab + h];
            }
          }
          continue;
        }
        // Algorithm 2 on this leaf's path: element 0 is the root's dummy (z = o = 1).
        const value = leafValue[g];
        const as = leafAncestorStart[g];
        const ae = as + leafAncestorCount[g];
        for (let b = 0; b < nb; b++) {
          const hb = b * stride;
          const oo = (r0 + b) * W;
          for (let k = 0; k < d; k++) ones[k] = 1;
          for (let i = as; i < ae; i++)
            if (goLeft[hb + ancestorNode[i]] !== ancestorLeft[i]) ones[ancestorElement[i]] = 0;
          pw[0] = 1;
          for (let depth = 1; depth <= d; depth++) {
            const z = pathZero[ps + depth - 1];
            const o = ones[depth - 1];
            pw[depth] = 0;
            for (let j = depth - 1; j >= 0; j--) {
              pw[j + 1] += (o * pw[j] * (j + 1)) / (depth + 1);
              pw[j] = (z * pw[j] * (depth - j)) / (depth + 1);
            }
          }
          for (let i = 1; i <= d; i++) {
            const z = pathZero[ps + i - 1];
            const o = ones[i - 1];
            let total = 0;
            if (o !== 0) {
              let next = pw[d];
              for (let j = d - 1; j >= 0; j--) {
                const tmp = next / ((j + 1) * o);
                total += tmp;
                next = pw[j] - tmp * z * (d - j);
              }
            } else {
              for (let j = d - 1; j >= 0; j--) total += pw[j] / (z * (d - j));
            }
            out[oo + pathFeature[ps + i - 1]] += total * (d + 1) * (o - z) * value;
          }
        }
      }
    }
  }
}

/**
 * A model's TreeSHAP explainer, precomputed once (at load) and reused for every row.
 * Not safe to call from two async contexts at once only in the sense that it has one scratch: JS
 * runs one call at a time, so any caller in one thread is fine.
 */
export class TreeShapExplainer {
  readonly numFeatures: number;
  /** E[f] of the path-dependent game plus the base score: the raw score when nothing is known. */
  readonly bias: number;
  private readonly scratch: ShapScratch;
  private readonly one: Float64Array;

  constructor(
    readonly kernel: ShapKernelModel,
    readonly stats: TreeShapStats,
    readonly featureNames?: readonly string[],
  ) {
    this.numFeatures = kernel.numFeatures;
    this.bias = kernel.bias;
    this.scratch = allocateShapScratch(kernel);
    this.one = new Float64Array(kernel.numFeatures + 1);
  }

  static fromModel(
    model: ExplainableModel,
    options: TreeShapOptions & { featureNames?: readonly string[] } = {},
  ): TreeShapExplainer {
    const { kernel, stats } = buildShapKernel(model, options);
    return new TreeShapExplainer(kernel, stats, options.featureNames);
  }

  /**
   * One row (F float32 values in model order, NaN = missing): [F contributions..., bias], in
   * log-odds; bias + sum(contributions) = the model's raw score. Writes into `out` when given
   * (length F + 1), else into a buffer the next call overwrites.
   */
  explainRow(row: Float32Array, out: Float64Array = this.one): Float64Array {
    if (row.length !== this.numFeatures)
      throw new RangeError(`row has ${row.length} values, expected ${this.numFeatures}`);
    if (out.length !== this.numFeatures + 1)
      throw new RangeError(`out has ${out.length} slots, expected ${this.numFeatures + 1}`);
    shapKernel(this.kernel, row, 0, 1, out, this.scratch);
    return out;
  }

  /** Rows of a row-major float32 matrix: Float64Array [rows, F + 1], the bias last. */
  explainRows(matrix: Float32Array, rows: number, out?: Float64Array): Float64Array {
    const W = this.numFeatures + 1;
    if (matrix.length !== rows * this.numFeatures)
      throw new RangeError(`matrix has ${matrix.length} values, expected ${rows} x ${this.numFeatures}`);
    const result = out ?? new Float64Array(rows * W);
    if (result.length !== rows * W)
      throw new RangeError(`out has ${result.length} slots, expected ${rows * W}`);
    shapKernel(this.kernel, matrix, 0, rows, result, this.scratch);
    return result;
  }
}
