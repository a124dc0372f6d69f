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
 * How a row is explained (docs/adr/0125-exact-treeshap-with-precomputed-leaf-tables.md,
 * docs/adr/0192-treeshap-contribution-tables-per-subtree.md):
 * - Leaf tables (Fast TreeSHAP v2, Yang 2021): o_j is 0 or 1, so a leaf's Shapley values depend
 *   on x only through the set H of its path features x satisfies. With
 *   G(K) = v * sum_{S subset of K} w_d(|S|) prod_{j in P \ S} z_j, w_d(s) = s!(d-s-1)!/d!,
 *   a feature i outside H gets -G(H) and a feature i in H gets (1 - z_i) / z_i * G(H \ {i}).
 *   G is computed at load for every subset of the path (2^d numbers per leaf).
 * - Contribution tables per subtree: the leaves of a small subtree (up to maxGroupSplits splits)
 *   depend on x only through the hot set of the subtree's root and the directions x takes at its
 *   splits, so their summed contributions are stored for each such index (root hot set, then one
 *   bit per split in preorder), one row of numbers per index, one number per feature of the
 *   subtree. A leaf that is not under such a subtree gets a table of its own (index: its hot
 *   set). A row then costs one comparison per split and, per table, one row read and added.
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
   * Leaves with at most this many unique features on their path get a precomputed table (2^d rows
   * of d numbers, or a share of a subtree's); deeper ones are explained by Algorithm 2 on their
   * path. 0 disables the tables.
   */
  maxTableDepth?: number;
  /**
   * Upper bound on table entries (8 bytes each) over all tables; past it a subtree's table is
   * split into its leaves' tables, and leaves that still do not fit use Algorithm 2.
   */
  maxTableEntries?: number;
  /**
   * A subtree with at most this many splits shares one table among its leaves, indexed by its
   * root's hot set and its splits' directions: one read for all its leaves. 0: one table per leaf.
   */
  maxGroupSplits?: number;
  /** ... when that index has at most this many bits (and at most maxTableDepth). */
  maxGroupIndexBits?: number;
}

/** 12 unique features: 4,096 rows of 12 numbers (384 KiB) per leaf at most. */
export const DEFAULT_MAX_TABLE_DEPTH = 12;
/** 8 Mi entries: 64 MiB of tables at most. */
export const DEFAULT_MAX_TABLE_ENTRIES = 1 << 23;
/** Subtrees of up to 3 levels (7 splits, 8 leaves) under a 10-bit index: 1,024 rows a table at most. */
export const DEFAULT_MAX_GROUP_SPLITS = 7;
export const DEFAULT_MAX_GROUP_INDEX_BITS = 10;
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
   * Nodes of tree t are treeStart[t] .. treeStart[t + 1], numbered locally from 0 (the root). The
   * first ones, treeStart[t] .. upperEnd[t], are the internal nodes above every table group, in
   * preorder (parents first): the forward pass visits only those. The rest (group splits, leaves)
   * keep a local number only so the forward pass can write their hot set.
   */
  treeStart: Int32Array;
  upperEnd: Int32Array;
  maxTreeNodes: number;
  /** Largest number of unique features on one leaf's path. */
  maxPathFeatures: number;
  feature: Int32Array;
  threshold: Float32Array;
  missingLeft: Uint8Array;
  /** Children as local node numbers. */
  left: Int32Array;
  right: Int32Array;
  /** The split feature's bit in the path's hot set (0 when untracked), and that bit again when the split is its first on the path. */
  bit: Int32Array;
  setBit: Int32Array;
  /**
   * Groups of tree t: groupStart[t] .. groupStart[t + 1]. A table group is a subtree (or one leaf)
   * whose leaves' contributions are tabulated together: its index is the hot set of its root
   * (groupRoot, a local node) followed by one bit per split inside it (1 = x goes left, in
   * preorder), and its row of the table holds groupWidth numbers to add to the features
   * groupFeature[groupFeatureStart ..]. groupTable < 0 marks a leaf explained by Algorithm 2: then
   * groupFeature/groupZero hold its path elements and groupValue its output.
   */
  groupStart: Int32Array;
  groupRoot: Int32Array;
  groupTable: Int32Array;
  groupWidth: Int32Array;
  groupFeatureStart: Int32Array;
  groupSplitStart: Int32Array;
  groupSplitCount: Int32Array;
  groupValue: Float64Array;
  groupAncestorStart: Int32Array;
  groupAncestorCount: Int32Array;
  groupFeature: Int32Array;
  groupZero: Float64Array;
  /** Splits inside table groups, group by group in preorder. */
  splitFeature: Int32Array;
  splitThreshold: Float32Array;
  splitMissingLeft: Uint8Array;
  /** Algorithm 2 leaves: their ancestors (local node, path element, 1 when the path goes left). */
  ancestorNode: Int32Array;
  ancestorElement: Int32Array;
  ancestorLeft: Uint8Array;
  /** Contributions: per table group, 2^(index bits) rows of groupWidth numbers. */
  tables: Float64Array;
}

export interface ShapScratch {
  /** Rows explained together, tree by tree (see shapKernel). */
  block: number;
  /** One row's hot-feature mask per local node, and 1 when x goes left (maxTreeNodes each). */
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
  /** Tables: the table reads a row costs (a table covers one leaf or a small subtree). */
  tableGroups: number;
  /** Of those, the tables shared by the leaves of a subtree. */
  subtreeTables: number;
  /** Numbers stored in the contribution tables (8 bytes each). */
  tableEntries: number;
  maxPathFeatures: number;
  /** Leaves by number of unique features on their path (index = count). */
  pathFeatureHistogram: number[];
}

/** A candidate table group: a subtree rooted at `root` (a leaf when it has no splits). */
interface GroupPlan {
  tree: number;
  root: number;
  /** Internal nodes of the subtree, preorder (local numbers of the first relabelling). */
  splits: number[];
  /** Leaves of the subtree (indices into the model's leaf list). */
  leaves: number[];
  features: number[];
  bits: number;
  entries: number;
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
  zero: Float64Array,
  value: number,
  out: Float64Array,
  scratch: { prodIn: Float64Array; sym: Float64Array; weights: Float64Array[] },
): void {
  const { prodIn, sym } = scratch;
  const d = zero.length;
  const size = 1 << d;
  const full = size - 1;
  const stride = d + 1;
  const w = (scratch.weights[d] ??= shapleyWeights(d));
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
    out[mask] = value * prodIn[full ^ mask] * sum;
  }
  out[full] = 0;
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

/** One tree checked and relabelled (internal nodes in preorder, then leaves), with its paths. */
interface TreeInfo extends Pick<
  ShapKernelModel,
  'feature' | 'threshold' | 'missingLeft' | 'left' | 'right' | 'bit' | 'setBit'
> {
  /** Unique features on the splits above each node (its hot set's bits). */
  pathLength: Int32Array;
  /** -1 for the root. */
  parent: Int32Array;
  /** Internal nodes in each node's subtree (itself included). */
  splitsUnder: Int32Array;
  /** Index in the model's leaf list of each leaf (-1 for internal nodes). */
  leafIndex: Int32Array;
}

interface LeafPath {
  tree: number;
  node: number;
  value: number;
  /** The path's unique features in order of first split (element k is hot-set bit k), and z of each. */
  features: Int32Array;
  zeros: Float64Array;
}

function readTree(
  tree: ExplainableTree,
  t: number,
  F: number,
  leaves: LeafPath[],
): { info: TreeInfo; expectation: number } {
  const n = tree.left.length;
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
  const { order } = nodeOrder(tree, n, t);
  const local = new Int32Array(n);
  for (let i = 0; i < n; i++) local[order[i]] = i;
  const info: TreeInfo = {
    feature: new Int32Array(n).fill(-1),
    threshold: new Float32Array(n),
    missingLeft: new Uint8Array(n),
    left: new Int32Array(n).fill(-1),
    right: new Int32Array(n).fill(-1),
    bit: new Int32Array(n),
    setBit: new Int32Array(n),
    pathLength: new Int32Array(n),
    parent: new Int32Array(n).fill(-1),
    splitsUnder: new Int32Array(n),
    leafIndex: new Int32Array(n).fill(-1),
  };
  const value = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const old = order[i];
    const c = tree.count[old];
    if (!(c > 0 && Number.isFinite(c))) throw structureError(t, `node ${old} has cover ${c} (must be > 0)`);
    if (tree.left[old] >= 0) {
      const f = tree.feature[old];
      if (!Number.isInteger(f) || f < 0 || f >= F)
        throw structureError(t, `node ${old} splits on feature ${f}, outside 0..${F - 1}`);
      const thr = tree.threshold[old];
      if (Number.isNaN(thr) || Math.fround(thr) !== thr)
        throw structureError(t, `node ${old} has threshold ${thr}, not a float32 number`);
      info.feature[i] = f;
      info.threshold[i] = thr;
      info.missingLeft[i] = tree.missingLeft[old] ? 1 : 0;
      info.left[i] = local[tree.left[old]];
      info.right[i] = local[tree.right[old]];
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
      value[i] = v;
    }
  }
  let expectation = 0;
  // Path elements per node, walking the relabelled tree (children after parents) with one
  // mutable path: a leaf copies it, and z_j is the product of the ratios in path order.
  const pathFeature: number[] = [];
  const pathZero: number[] = [];
  const walk = (node: number, weight: number): void => {
    const len = pathFeature.length;
    info.pathLength[node] = len;
    if (info.left[node] < 0) {
      info.leafIndex[node] = leaves.length;
      leaves.push({
        tree: t,
        node,
        value: value[node],
        features: Int32Array.from(pathFeature),
        zeros: Float64Array.from(pathZero),
      });
      expectation += weight * value[node];
      return;
    }
    const f = info.feature[node];
    let k = pathFeature.indexOf(f);
    const first = k < 0;
    if (first) k = len;
    info.bit[node] = k < TRACKED_BITS ? 1 << k : 0;
    info.setBit[node] = first ? info.bit[node] : 0;
    const cover = tree.count[order[node]];
    const before = first ? 1 : pathZero[k];
    for (const child of [info.left[node], info.right[node]]) {
      info.parent[child] = node;
      const ratio = tree.count[order[child]] / cover;
      pathFeature[k] = f;
      pathZero[k] = before * ratio;
      walk(child, weight * ratio);
    }
    if (first) {
      pathFeature.pop();
      pathZero.pop();
    } else pathZero[k] = before;
  };
  walk(0, 1);
  // Children come after their parent in this numbering.
  for (let i = n - 1; i >= 0; i--) {
    if (info.left[i] >= 0)
      info.splitsUnder[i] = 1 + info.splitsUnder[info.left[i]] + info.splitsUnder[info.right[i]];
  }
  return { info, expectation };
}

/** The table group of one leaf: indexed by the leaf's own hot set, one number per path feature. */
function leafGroup(leaf: LeafPath, index: number): GroupPlan {
  const d = leaf.features.length;
  return {
    tree: leaf.tree,
    root: leaf.node,
    splits: [],
    leaves: [index],
    features: Array.from(leaf.features),
    bits: d,
    entries: d * 2 ** d,
  };
}

/**
 * Candidate groups of one tree, top down: the first node whose subtree has at most maxSplits
 * splits and an index of at most maxBits bits becomes one group; leaves not under such a node
 * become groups of their own when their path fits maxTableDepth, else Algorithm 2 leaves.
 */
function planTree(
  info: TreeInfo,
  leaves: readonly LeafPath[],
  maxSplits: number,
  maxBits: number,
  maxTableDepth: number,
  plans: GroupPlan[],
  pathLeaves: number[],
): void {
  const visit = (node: number): void => {
    const li = info.leafIndex[node];
    if (li >= 0) {
      const d = leaves[li].features.length;
      // A one-leaf tree adds its value to the bias and nothing to any feature.
      if (d === 0) return;
      if (d <= maxTableDepth) plans.push(leafGroup(leaves[li], li));
      else pathLeaves.push(li);
      return;
    }
    const m = maxSplits > 0 ? info.splitsUnder[node] : Infinity;
    const rootBits = info.pathLength[node];
    if (m <= maxSplits && rootBits + m <= maxBits) {
      const splits: number[] = [];
      const groupLeaves: number[] = [];
      const stack = [node];
      while (stack.length > 0) {
        const g = stack.pop() as number;
        if (info.left[g] < 0) {
          groupLeaves.push(info.leafIndex[g]);
          continue;
        }
        splits.push(g);
        stack.push(info.right[g], info.left[g]);
      }
      const features: number[] = [];
      for (const l of groupLeaves)
        for (const f of leaves[l].features) if (!features.includes(f)) features.push(f);
      const bits = rootBits + m;
      plans.push({
        tree: leaves[groupLeaves[0]].tree,
        root: node,
        splits,
        leaves: groupLeaves,
        features,
        bits,
        entries: features.length * 2 ** bits,
      });
      return;
    }
    visit(info.left[node]);
    visit(info.right[node]);
  };
  visit(0);
}

interface TableScratch {
  g: Float64Array;
  prodIn: Float64Array;
  sym: Float64Array;
  /** Shapley weights by path length. */
  weights: Float64Array[];
  /** Where the subtables of a group's nodes below its root are built, stack-like. */
  arena: Float64Array;
  leftColumns: Int32Array;
  rightColumns: Int32Array;
}

/** Numbers in the table of `node` inside a group of `width` columns: a leaf's has only its own. */
function subtableSize(node: number, info: TreeInfo, width: number): number {
  const bits = info.pathLength[node];
  return info.left[node] < 0 ? bits * 2 ** bits : width * 2 ** (bits + info.splitsUnder[node]);
}

/** Numbers in the subtables below `node` (what subtreeTable needs in the arena for a group there). */
function arenaNeed(node: number, info: TreeInfo, width: number): number {
  if (info.left[node] < 0) return 0;
  const l = info.left[node];
  const r = info.right[node];
  const lSize = subtableSize(l, info, width);
  const rSize = subtableSize(r, info, width);
  return Math.max(lSize + arenaNeed(l, info, width), lSize + rSize + arenaNeed(r, info, width));
}

/** A leaf's own table into out[offset ..]: row h (its hot set) holds its d contributions, path order. */
function leafTable(leaf: LeafPath, scratch: TableScratch, out: Float64Array, offset: number): void {
  const { features, zeros, value } = leaf;
  const d = features.length;
  const { g } = scratch;
  fillLeafTable(zeros, value, g, scratch);
  for (let k = 0; k < d; k++) {
    const c = (1 - zeros[k]) / zeros[k];
    const kb = 1 << k;
    // What Fast TreeSHAP v2 adds for feature k with hot set h (module comment).
    for (let h = 0, at = offset + k; h < 1 << d; h++, at += d) out[at] = h & kb ? c * g[h ^ kb] : -g[h];
  }
}

/**
 * out[row ..+ width] = the left child's row at arena[a ..] + the right child's at arena[b ..]; a
 * leaf child's row has only its own columns (lCol / rCol, null for a full row). A small function
 * of its own: the JIT optimizes it after a few calls, which matters at load (it runs once, cold).
 */
function addRows(
  out: Float64Array,
  row: number,
  width: number,
  arena: Float64Array,
  a: number,
  lCol: Int32Array | null,
  lw: number,
  b: number,
  rCol: Int32Array | null,
  rw: number,
): void {
  if (lCol === null) for (let j = 0; j < width; j++) out[row + j] = arena[a + j];
  else {
    for (let j = 0; j < width; j++) out[row + j] = 0;
    for (let k = 0; k < lw; k++) out[row + lCol[k]] += arena[a + k];
  }
  if (rCol === null) for (let j = 0; j < width; j++) out[row + j] += arena[b + j];
  else for (let k = 0; k < rw; k++) out[row + rCol[k]] += arena[b + k];
}

/**
 * The contributions table of the subtree at internal node `node`, as a group rooted there holds
 * it, written into out[offset ..]: row (hot set of node, one direction bit per split below it in
 * preorder, 1 = left) holds the `width` numbers to add (slot[feature] is a feature's column).
 * Built bottom up: a node's row is its left child's row plus its right child's, each found from
 * the node's hot set and direction, so the work is about the table's size whatever the number of
 * leaves. Subtables go to scratch.arena from `free` on (a leaf's with its own columns only).
 * Returns the number of splits in the subtree.
 */
function subtreeTable(
  node: number,
  info: TreeInfo,
  leaves: readonly LeafPath[],
  width: number,
  slot: Int32Array,
  scratch: TableScratch,
  out: Float64Array,
  offset: number,
  free: number,
): number {
  const arena = scratch.arena;
  const left = info.left[node];
  const right = info.right[node];
  // Each child's table, then the tables below it (arenaNeed counts the same layout).
  const lAt = free;
  const rAt = lAt + subtableSize(left, info, width);
  const free2 = rAt + subtableSize(right, info, width);
  const leftLeaf = info.leafIndex[left];
  const rightLeaf = info.leafIndex[right];
  const ls = leftLeaf >= 0 ? 0 : subtreeTable(left, info, leaves, width, slot, scratch, arena, lAt, rAt);
  const rs = rightLeaf >= 0 ? 0 : subtreeTable(right, info, leaves, width, slot, scratch, arena, rAt, free2);
  // A leaf's columns in the group's row (its table is written after the recursion: one scratch each).
  const lCol = scratch.leftColumns;
  const rCol = scratch.rightColumns;
  let lw = width;
  let rw = width;
  if (leftLeaf >= 0) {
    leafTable(leaves[leftLeaf], scratch, arena, lAt);
    lw = leaves[leftLeaf].features.length;
    for (let k = 0; k < lw; k++) lCol[k] = slot[leaves[leftLeaf].features[k]];
  }
  if (rightLeaf >= 0) {
    leafTable(leaves[rightLeaf], scratch, arena, rAt);
    rw = leaves[rightLeaf].features.length;
    for (let k = 0; k < rw; k++) rCol[k] = slot[leaves[rightLeaf].features[k]];
  }
  const nl = 1 << ls;
  const nr = 1 << rs;
  const bit = info.bit[node];
  const setBit = info.setBit[node];
  const rootBits = info.pathLength[node];
  let row = offset;
  // Rows in index order: h, then this split's bit, then the left subtree's bits, then the right's.
  for (let h = 0; h < 1 << rootBits; h++) {
    const onPath = h | setBit;
    const offPath = h & ~bit;
    for (let dir = 0; dir < 2; dir++) {
      // 1: x goes left, so the left child's path is the satisfied one.
      const hl = dir ? onPath : offPath;
      const hr = dir ? offPath : onPath;
      for (let dl = 0; dl < nl; dl++) {
        const a = lAt + (hl * nl + dl) * lw;
        for (let dr = 0; dr < nr; dr++) {
          const b = rAt + (hr * nr + dr) * rw;
          addRows(
            out,
            row,
            width,
            arena,
            a,
            leftLeaf >= 0 ? lCol : null,
            lw,
            b,
            rightLeaf >= 0 ? rCol : null,
            rw,
          );
          row += width;
        }
      }
    }
  }
  return 1 + ls + rs;
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
  const maxGroupSplits = options.maxGroupSplits ?? DEFAULT_MAX_GROUP_SPLITS;
  const maxGroupBits = Math.min(options.maxGroupIndexBits ?? DEFAULT_MAX_GROUP_INDEX_BITS, maxTableDepth);
  let entriesLeft = options.maxTableEntries ?? DEFAULT_MAX_TABLE_ENTRIES;

  const T = model.trees.length;
  const treeStart = new Int32Array(T + 1);
  for (let t = 0; t < T; t++) {
    const n = model.trees[t].left.length;
    if (n < 1 || n > MAX_TREE_NODES) throw structureError(t, `has ${n} nodes (1..${MAX_TREE_NODES})`);
    treeStart[t + 1] = treeStart[t] + n;
  }
  const leaves: LeafPath[] = [];
  const infos: TreeInfo[] = [];
  const plans: GroupPlan[] = [];
  const pathLeaves: number[] = [];
  let bias = model.baseScore;
  let maxTreeNodes = 0;
  for (let t = 0; t < T; t++) {
    const { info, expectation } = readTree(model.trees[t], t, F, leaves);
    infos.push(info);
    bias += expectation;
    maxTreeNodes = Math.max(maxTreeNodes, model.trees[t].left.length);
    planTree(info, leaves, maxGroupSplits, maxGroupBits, maxTableDepth, plans, pathLeaves);
  }

  // The table budget: smallest groups first; a group that does not fit is tried leaf by leaf,
  // and a leaf that does not fit is explained by Algorithm 2.
  const accepted: GroupPlan[] = [];
  const retry: GroupPlan[] = [];
  for (const p of [...plans].sort((a, b) => a.entries - b.entries)) {
    if (p.entries <= entriesLeft) {
      entriesLeft -= p.entries;
      accepted.push(p);
    } else if (p.splits.length > 0) {
      for (const li of p.leaves) retry.push(leafGroup(leaves[li], li));
    } else pathLeaves.push(p.leaves[0]);
  }
  for (const p of retry.sort((a, b) => a.entries - b.entries)) {
    if (p.entries <= entriesLeft) {
      entriesLeft -= p.entries;
      accepted.push(p);
    } else pathLeaves.push(p.leaves[0]);
  }

  // Relabel each tree: the splits outside every group first (preorder), then the rest.
  const perTree: { root: number; plan?: GroupPlan; leaf?: number }[][] = infos.map(() => []);
  const inGroup = infos.map((info) => new Uint8Array(info.left.length));
  for (const p of accepted) {
    perTree[p.tree].push({ root: p.root, plan: p });
    for (const s of p.splits) inGroup[p.tree][s] = 1;
  }
  for (const li of pathLeaves) perTree[leaves[li].tree].push({ root: leaves[li].node, leaf: li });
  const total = treeStart[T];
  const upperEnd = new Int32Array(T);
  const feature = new Int32Array(total).fill(-1);
  const threshold = new Float32Array(total);
  const missingLeft = new Uint8Array(total);
  const left = new Int32Array(total).fill(-1);
  const right = new Int32Array(total).fill(-1);
  const bit = new Int32Array(total);
  const setBit = new Int32Array(total);
  const relabel: Int32Array[] = [];
  for (let t = 0; t < T; t++) {
    const info = infos[t];
    const n = info.left.length;
    const upper: number[] = [];
    const rest: number[] = [];
    for (let i = 0; i < n; i++) (info.left[i] >= 0 && !inGroup[t][i] ? upper : rest).push(i);
    const next = new Int32Array(n);
    [...upper, ...rest].forEach((old, i) => (next[old] = i));
    relabel.push(next);
    const base = treeStart[t];
    upperEnd[t] = base + upper.length;
    upper.forEach((old, i) => {
      const g = base + i;
      feature[g] = info.feature[old];
      threshold[g] = info.threshold[old];
      missingLeft[g] = info.missingLeft[old];
      left[g] = next[info.left[old]];
      right[g] = next[info.right[old]];
      bit[g] = info.bit[old];
      setBit[g] = info.setBit[old];
    });
    perTree[t].sort((a, b) => a.root - b.root);
  }

  const numGroups = accepted.length + pathLeaves.length;
  const groupStart = new Int32Array(T + 1);
  const groupRoot = new Int32Array(numGroups);
  const groupTable = new Int32Array(numGroups).fill(-1);
  const groupWidth = new Int32Array(numGroups);
  const groupFeatureStart = new Int32Array(numGroups);
  const groupSplitStart = new Int32Array(numGroups);
  const groupSplitCount = new Int32Array(numGroups);
  const groupValue = new Float64Array(numGroups);
  const groupAncestorStart = new Int32Array(numGroups);
  const groupAncestorCount = new Int32Array(numGroups);
  let featureTotal = 0;
  let splitTotal = 0;
  let ancestorTotal = 0;
  let tableEntries = 0;
  let maxBits = 0;
  for (const p of accepted) {
    featureTotal += p.features.length;
    splitTotal += p.splits.length;
    tableEntries += p.entries;
    for (const li of p.leaves) maxBits = Math.max(maxBits, leaves[li].features.length);
  }
  for (const li of pathLeaves) {
    const { tree, node } = leaves[li];
    featureTotal += leaves[li].features.length;
    for (let p = infos[tree].parent[node]; p >= 0; p = infos[tree].parent[p]) ancestorTotal++;
  }
  const groupFeature = new Int32Array(featureTotal);
  const groupZero = new Float64Array(featureTotal);
  const splitFeature = new Int32Array(splitTotal);
  const splitThreshold = new Float32Array(splitTotal);
  const splitMissingLeft = new Uint8Array(splitTotal);
  const ancestorNode = new Int32Array(ancestorTotal);
  const ancestorElement = new Int32Array(ancestorTotal);
  const ancestorLeft = new Uint8Array(ancestorTotal);
  const tables = new Float64Array(tableEntries);
  let arena = 0;
  for (const p of accepted) arena = Math.max(arena, arenaNeed(p.root, infos[p.tree], p.features.length));
  const scratch: TableScratch = {
    arena: new Float64Array(arena),
    weights: [],
    leftColumns: new Int32Array(maxBits),
    rightColumns: new Int32Array(maxBits),
    g: new Float64Array(2 ** maxBits),
    prodIn: new Float64Array(2 ** maxBits),
    sym: new Float64Array(2 ** maxBits * (maxBits + 1)),
  };
  const slot = new Int32Array(F);
  let q = 0;
  let fAt = 0;
  let sAt = 0;
  let aAt = 0;
  let tableAt = 0;
  for (let t = 0; t < T; t++) {
    const info = infos[t];
    const next = relabel[t];
    groupStart[t] = q;
    for (const { root, plan, leaf } of perTree[t]) {
      groupRoot[q] = next[root];
      groupFeatureStart[q] = fAt;
      if (plan) {
        groupTable[q] = tableAt;
        groupWidth[q] = plan.features.length;
        for (const f of plan.features) groupFeature[fAt++] = f;
        groupSplitStart[q] = sAt;
        groupSplitCount[q] = plan.splits.length;
        for (const s of plan.splits) {
          splitFeature[sAt] = info.feature[s];
          splitThreshold[sAt] = info.threshold[s];
          splitMissingLeft[sAt] = info.missingLeft[s];
          sAt++;
        }
        if (plan.splits.length === 0) leafTable(leaves[plan.leaves[0]], scratch, tables, tableAt);
        else {
          plan.features.forEach((f, j) => (slot[f] = j));
          subtreeTable(plan.root, info, leaves, plan.features.length, slot, scratch, tables, tableAt, 0);
        }
        tableAt += plan.entries;
      } else {
        const { value, features, zeros, node } = leaves[leaf as number];
        groupWidth[q] = features.length;
        groupValue[q] = value;
        groupAncestorStart[q] = aAt;
        for (let k = 0; k < features.length; k++) {
          groupFeature[fAt] = features[k];
          groupZero[fAt] = zeros[k];
          fAt++;
        }
        for (let c = node, p = info.parent[node]; p >= 0; c = p, p = info.parent[p]) {
          ancestorNode[aAt] = next[p];
          ancestorElement[aAt] = features.indexOf(info.feature[p]);
          ancestorLeft[aAt] = info.left[p] === c ? 1 : 0;
          aAt++;
        }
        groupAncestorCount[q] = aAt - groupAncestorStart[q];
      }
      q++;
    }
  }
  groupStart[T] = q;

  let maxPathFeatures = 0;
  const histogram: number[] = [];
  for (const leaf of leaves) {
    const d = leaf.features.length;
    maxPathFeatures = Math.max(maxPathFeatures, d);
    histogram[d] = (histogram[d] ?? 0) + 1;
  }
  for (let d = 0; d < histogram.length; d++) histogram[d] ??= 0;
  return {
    kernel: {
      numFeatures: F,
      bias,
      numTrees: T,
      treeStart,
      upperEnd,
      maxTreeNodes,
      maxPathFeatures,
      feature,
      threshold,
      missingLeft,
      left,
      right,
      bit,
      setBit,
      groupStart,
      groupRoot,
      groupTable,
      groupWidth,
      groupFeatureStart,
      groupSplitStart,
      groupSplitCount,
      groupValue,
      groupAncestorStart,
      groupAncestorCount,
      groupFeature,
      groupZero,
      splitFeature,
      splitThreshold,
      splitMissingLeft,
      ancestorNode,
      ancestorElement,
      ancestorLeft,
      tables,
    },
    stats: {
      trees: T,
      leaves: leaves.length,
      tableLeaves: leaves.length - pathLeaves.length,
      pathLeaves: pathLeaves.length,
      tableGroups: accepted.length,
      subtreeTables: accepted.filter((p) => p.splits.length > 0).length,
      tableEntries,
      maxPathFeatures,
      pathFeatureHistogram: histogram,
    },
  };
}

export function allocateShapScratch(m: ShapKernelModel, block = SHAP_BLOCK_ROWS): ShapScratch {
  const nodes = Math.max(1, m.maxTreeNodes);
  return {
    block,
    hot: new Int32Array(nodes),
    goLeft: new Uint8Array(nodes),
    ones: new Float64Array(m.maxPathFeatures + 1),
    weights: new Float64Array(m.maxPathFeatures + 2),
  };
}

/**
 * SHAP values of rows rowStart .. rowEnd of a row-major float32 matrix ([rows, F], NaN = missing)
 * into out ([rows, F + 1], the bias last, as LightGBM's pred_contrib). Allocates nothing.
 *
 * Rows go in blocks of s.block, and within a block tree by tree: one tree's nodes and tables stay
 * in the cache for all the block's rows instead of being fetched again for every row. Each row's
 * numbers are added in the same order whatever the block, so one row alone and the same row in a
 * batch give identical results.
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
  const { treeStart, upperEnd, feature, threshold, missingLeft, left, right, bit, setBit } = m;
  const { groupStart, groupRoot, groupTable, groupWidth, groupFeatureStart, groupFeature, tables } = m;
  const { groupSplitStart, groupSplitCount, splitFeature, splitThreshold, splitMissingLeft } = m;
  const { groupValue, groupZero, groupAncestorStart, groupAncestorCount } = m;
  const { ancestorNode, ancestorElement, ancestorLeft } = m;
  const numTrees = m.numTrees;
  const bias = m.bias;
  const hot = s.hot;
  const goLeft = s.goLeft;
  const ones = s.ones;
  const pw = s.weights;
  for (let r0 = rowStart; r0 < rowEnd; r0 += s.block) {
    const r1 = Math.min(rowEnd, r0 + s.block);
    for (let r = r0; r < r1; r++) {
      const oo = r * W;
      for (let f = 0; f < F; f++) out[oo + f] = 0;
      out[oo + F] = bias;
    }
    for (let t = 0; t < numTrees; t++) {
      const base = treeStart[t];
      const mid = upperEnd[t];
      const gs = groupStart[t];
      const ge = groupStart[t + 1];
      for (let r = r0; r < r1; r++) {
        const xo = r * F;
        const oo = r * W;
        hot[0] = 0;
        for (let g = base; g < mid; g++) {
          const v = x[xo + feature[g]];
          // 1 when x goes left (NaN < t is false, so NaN goes left exactly when missingLeft), as
          // integers and masks: the direction is data, and a branch on it mispredicts half the time.
          const gl = +(v < threshold[g]) | (+(v !== v) & missingLeft[g]);
          const n = g - base;
          goLeft[n] = gl;
          const h = hot[n];
          const onPath = h | setBit[g];
          const offPath = h & ~bit[g];
          const sel = -gl;
          hot[left[g]] = (onPath & sel) | (offPath & ~sel);
          hot[right[g]] = (offPath & sel) | (onPath & ~sel);
        }
        for (let q = gs; q < ge; q++) {
          const tab = groupTable[q];
          const w = groupWidth[q];
          const fs = groupFeatureStart[q];
          if (tab >= 0) {
            let index = hot[groupRoot[q]];
            for (let i = groupSplitStart[q], e = i + groupSplitCount[q]; i < e; i++) {
              const v = x[xo + splitFeature[i]];
              index = (index << 1) | +(v < splitThreshold[i]) | (+(v !== v) & splitMissingLeft[i]);
            }
            const row = tab + index * w;
            for (let j = 0; j < w; j++) out[oo + groupFeature[fs + j]] += tables[row + j];
            continue;
          }
          // Algorithm 2 on this leaf's path: element 0 is the root's dummy (z = o = 1).
          const d = w;
          const value = groupValue[q];
          const as = groupAncestorStart[q];
          const ae = as + groupAncestorCount[q];
          for (let k = 0; k < d; k++) ones[k] = 1;
          for (let i = as; i < ae; i++)
            if (goLeft[ancestorNode[i]] !== ancestorLeft[i]) ones[ancestorElement[i]] = 0;
          pw[0] = 1;
          for (let depth = 1; depth <= d; depth++) {
            const z = groupZero[fs + depth - 1];
            const o = ones[depth - 1];
            pw[depth] = 0;
            for (let j = depth - 1; j >= 0; j--) {
              pw[j + 1] += (o * pw[j] * (j + 1)) / (depth + 1);
              pw[j] = (z * pw[j] * (depth - j)) / (depth + 1);
            }
          }
          for (let i = 1; i <= d; i++) {
            const z = groupZero[fs + i - 1];
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
            out[oo + groupFeature[fs + i - 1]] += total * (d + 1) * (o - z) * value;
          }
        }
      }
    }
  }
}

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
