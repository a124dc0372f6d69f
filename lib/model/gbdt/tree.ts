/**
 * One regression tree as parallel typed arrays (node 0 is the root; a node is a leaf when
 * left[node] < 0). Internal nodes keep both their routing forms:
 * - by bin (training): bin 0 (missing) goes left when missingLeft, else bin <= binThreshold goes left;
 * - by value (the exported model): NaN goes left when missingLeft, else x < threshold goes left,
 *   threshold being a float32 bin edge. The two agree for every float32 x (see binning.ts).
 */
export interface Tree {
  numNodes: number;
  /** Feature index of the split; -1 for leaves. */
  feature: Int32Array;
  binThreshold: Int32Array;
  threshold: Float32Array;
  missingLeft: Uint8Array;
  left: Int32Array;
  right: Int32Array;
  /**
   * Leaves: the float32-rounded amount the tree adds to the raw score (the exact number exported).
   * Internal nodes: the output the node would have had as a leaf (for path contributions).
   */
  value: Float64Array;
  /** Loss reduction of the split (0 for leaves). */
  gain: Float64Array;
  /** Training rows (of the bag) that reached the node. */
  count: Float64Array;
  depth: Int32Array;
}

export function allocateTree(maxLeaves: number): Tree {
  const m = 2 * maxLeaves - 1;
  return {
    numNodes: 0,
    feature: new Int32Array(m).fill(-1),
    binThreshold: new Int32Array(m),
    threshold: new Float32Array(m),
    missingLeft: new Uint8Array(m),
    left: new Int32Array(m).fill(-1),
    right: new Int32Array(m).fill(-1),
    value: new Float64Array(m),
    gain: new Float64Array(m),
    count: new Float64Array(m),
    depth: new Int32Array(m),
  };
}

/** The same tree with its arrays cut to numNodes (what the model keeps). */
export function compactTree(t: Tree): Tree {
  const n = t.numNodes;
  return {
    numNodes: n,
    feature: t.feature.slice(0, n),
    binThreshold: t.binThreshold.slice(0, n),
    threshold: t.threshold.slice(0, n),
    missingLeft: t.missingLeft.slice(0, n),
    left: t.left.slice(0, n),
    right: t.right.slice(0, n),
    value: t.value.slice(0, n),
    gain: t.gain.slice(0, n),
    count: t.count.slice(0, n),
    depth: t.depth.slice(0, n),
  };
}

export function numLeaves(t: Tree): number {
  let leaves = 0;
  for (let i = 0; i < t.numNodes; i++) if (t.left[i] < 0) leaves++;
  return leaves;
}

/** The leaf a row reaches, routing by bins (bins[f][row]). */
export function leafByBins(t: Tree, bins: Uint8Array[], row: number): number {
  let node = 0;
  while (t.left[node] >= 0) {
    const b = bins[t.feature[node]][row];
    const goLeft = b === 0 ? t.missingLeft[node] === 1 : b <= t.binThreshold[node];
    node = goLeft ? t.left[node] : t.right[node];
  }
  return node;
}

/** The leaf a row reaches, routing by float32 values (row-major matrix, row starts at offset). */
export function leafByValues(t: Tree, values: Float32Array, offset: number): number {
  let node = 0;
  while (t.left[node] >= 0) {
    const x = values[offset + t.feature[node]];
    const goLeft = x !== x ? t.missingLeft[node] === 1 : x < t.threshold[node];
    node = goLeft ? t.left[node] : t.right[node];
  }
  return node;
}
