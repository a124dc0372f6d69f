/**
 * The hot loops of training, as pure functions over typed arrays. They run on the main thread and
 * in worker threads; workers get them as source text (fn.toString()), so each function must be
 * self-contained: no imports, no calls to other module functions, no closures. A task is split
 * into numbered work items; whoever takes item k (any thread) writes only item k's outputs, and
 * results are combined in item order, so the outcome never depends on thread scheduling or count.
 */

/** Shared memory every thread sees (views on SharedArrayBuffers). */
export interface SharedViews {
  /** [generation | closed | joined workers, sleeping workers, next work item, main thread sleeping, a worker failed] (see pool.ts). */
  control: Int32Array;
  /** Parameters of the current task (see TASK_* and the P_* slots). */
  params: Float64Array;
  numRows: number;
  numFeatures: number;
  /** Column-major float32 feature values, [feature][row]; emptied after binning. */
  raw: Float32Array[];
  /** Bin edges of every feature, concatenated; edgeStart[f]..edgeStart[f+1]. */
  edges: Float32Array;
  edgeStart: Int32Array;
  /**
   * Where a value's bin search starts and ends, by the top 16 bits of its order key (see
   * binning.ts, fillBinIndex): feature f's 65,537 entries from f * 65,537. A value falls among at
   * most a few edges of its 16-bit prefix, so binning costs two table reads instead of an
   * eight-step binary search with unpredictable branches (about 7x fewer nanoseconds per value).
   */
  binIndex: Uint8Array;
  /** Column-major bin matrix, one Uint8Array per feature. */
  bins: Uint8Array[];
  /** Rows per bin, counted by each binning item (256 counts per item, in item order). */
  binCountParts: Int32Array;
  /**
   * The same bins row-major, for the root's histogram: row r's bins are the bytes of
   * packed[r * packedWords .. + packedWords) (feature f in byte f; padding bytes 0).
   */
  packed: Uint32Array;
  packedWords: number;
  /** Offset of feature f's bins in a histogram; numBins[f] = value bins + the missing bin. */
  binOffset: Int32Array;
  numBins: Int32Array;
  label: Uint8Array;
  /**
   * e^-score of every training row. Gradients need only the sigmoid 1 / (1 + e^-score), and
   * adding a leaf value v to a score multiplies this by e^-v: one Math.exp per leaf and tree
   * instead of one per row and tree (the relative rounding drift after thousands of products is
   * around 1e-13, far below what moves a split).
   */
  expNegScore: Float64Array;
  /**
   * Gradient and hessian of row r at [2r] and [2r + 1] (one cache line serves both), in float32
   * as LightGBM keeps them (its score_t): half the bytes for every pass that reads them, while
   * the histograms still sum them in float64.
   */
  gradHess: Float32Array;
  /** The working row order: each leaf owns a contiguous range. */
  rows: Uint32Array;
  /** gradHess gathered in `rows` order ([2i], [2i + 1]), so histogram passes read it sequentially. */
  orderedGradHess: Float32Array;
  /**
   * Partition scratch: work item k of a split writes the left rows of its block of `rows` to
   * partLeft and the right rows to partRight, both from the block's first index, and its left
   * count to partCount[k]; the caller then copies the blocks back in item order.
   */
  partLeft: Uint32Array;
  partRight: Uint32Array;
  partCount: Int32Array;
  /** The leaves of the last tree: rows[leafBegin[l], leafEnd[l]) get leafValue[l] added to their score. */
  leafBegin: Int32Array;
  leafEnd: Int32Array;
  /** e^-leafValue of each leaf (what expNegScore is multiplied by). */
  leafFactor: Float64Array;
  /** Features the current tree may use. */
  usedFeatures: Int32Array;
  /** Histogram slots (one per leaf) then per-item scratch; each bin is [sumGrad, sumHess, count]. */
  hist: Float64Array;
  /** The validation set (numRows 0 without one), scored after every tree for early stopping. */
  valid: ValidationSet;
  /**
   * The last tree, for routing the validation rows (validScoreKernel): per node the split feature
   * (0 for a leaf), bin threshold, 1 when missing values (bin 0) go left, and the node's value;
   * treeNext[2k] is where node k sends a row that goes left, treeNext[2k + 1] one that goes right,
   * and a leaf sends every row to itself.
   */
  treeFeature: Int32Array;
  treeBin: Int32Array;
  treeMissingLeft: Int32Array;
  treeNext: Int32Array;
  treeValue: Float64Array;
  /** Per node, what a row's expZ is multiplied by: [2k] e^value (label 0), [2k + 1] e^-value (label 1). */
  treeFactor: Float64Array;
}

/**
 * The validation rows. Binned once with the training edges, then each tree adds its leaf value to
 * every row's score by routing the row's bins: O(rows x depth) per tree, in the pool, never a
 * prediction from scratch.
 */
export interface ValidationSet {
  numRows: number;
  /** Float32 values [feature][row], as the model sees them; emptied after binning. */
  raw: Float32Array[];
  /** Bins, row-major: feature f of row r at r * numFeatures + f (a row is one cache line). */
  bins: Uint8Array;
  label: Uint8Array;
  /** Raw scores (log-odds) after the trees added so far. */
  score: Float64Array;
  /** Scores after the best tree so far, for early stopping (see validScoreKernel). */
  best: Float64Array;
  /**
   * e^z of each row under `score`, z = -score for label 1 and score for label 0: the row's
   * logloss is log(1 + e^z). Each tree multiplies it by e^(-/+ leaf value) (treeFactor), as
   * expNegScore is for the training rows, so that no row pays an exp and a log per tree.
   */
  expZ: Float64Array;
  /** The validation logloss summed over the rows of each work item of validScoreKernel. */
  lossSum: Float64Array;
}

export const TASK_BIN = 1;
export const TASK_GRADIENTS = 2;
export const TASK_HISTOGRAM = 3;
export const TASK_PARTITION = 4;
export const TASK_SCORE = 5;
export const TASK_COPY_BACK = 6;
export const TASK_MERGE = 7;
export const TASK_VALID_BIN = 8;
export const TASK_VALID_SCORE = 9;

// params slots
export const P_TASK = 0;
export const P_ITEMS = 1;
export const P_A = 2;
export const P_B = 3;
export const P_C = 4;
export const P_D = 5;
export const P_E = 6;
export const P_F = 7;
export const P_G = 8;

/**
 * One function per task kind, each self-contained (workers are built from their source text) and
 * each optimised by V8 on its own: a single function holding every task was first optimised
 * during binning, then deoptimised at each task kind it had not seen yet.
 */
export type Kernel = (s: SharedViews, item: number) => void;

export function binKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // Binning. Items are (feature, row chunk) pairs; A = rows per chunk, B = chunks per feature.
  const chunkRows = p[2] | 0;
  const chunks = p[3] | 0;
  const f = Math.floor(item / chunks);
  const from = (item % chunks) * chunkRows;
  const to = Math.min(s.numRows, from + chunkRows);
  const values = s.raw[f];
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = s.bins[f];
  const e0 = s.edgeStart[f];
  const edges = s.edges;
  const index = s.binIndex;
  const indexBase = f * ((index.length / s.numFeatures) | 0);
  // The row-major copy, viewed as bytes: feature f of row r at byte r * stride + f.
  const stride = (s.packedWords * 4) | 0;
  const rowMajor = new Uint8Array(s.packed.buffer, s.packed.byteOffset, s.packed.length * 4);
  const counts = s.binCountParts;
  const countBase = item * 256;
  for (let r = from; r < to; r++) {
    const x = values[r];
    let bin = 0;
    if (x === x) {
      // The top 16 bits of the order-preserving key (negatives flipped, others with the sign
      // bit set; -0 as +0). Edges with a lower prefix are below x, those with a higher one above.
      const b = bits[r];
      const k = b < 0x80000000 ? (b >>> 16) | 0x8000 : b === 0x80000000 ? 0x8000 : (~b >>> 16) & 0xffff;
      let lo = index[indexBase + k];
      let hi = index[indexBase + k + 1];
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (edges[e0 + mid] <= x) lo = mid + 1;
        else hi = mid;
      }
      bin = lo + 1;
    }
    out[r] = bin;
    rowMajor[r * stride + f] = bin;
    counts[countBase + bin]++;
  }
}

export function gradientKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // Logloss gradients. A = rows per chunk, B = weight of positive rows.
  const from = (item * p[2]) | 0;
  const to = Math.min(s.numRows, from + p[2]) | 0;
  const w1 = p[3];
  const expNegScore = s.expNegScore;
  const label = s.label;
  const gh = s.gradHess;
  for (let r = from; r < to; r++) {
    const prob = 1 / (1 + expNegScore[r]);
    if (label[r] === 1) {
      gh[2 * r] = (prob - 1) * w1;
      gh[2 * r + 1] = prob * (1 - prob) * w1;
    } else {
      gh[2 * r] = prob;
      gh[2 * r + 1] = prob * (1 - prob);
    }
  }
}

export function histogramKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // Histogram of rows[begin, end) over the used features. A = begin, B = end, C = rows per
  // item, D = 1 when rows[] is the identity (a tree's root without bagging), E = number of used
  // features, F = histogram slot offset (in bins) for item 0, G = scratch offset for item 1.
  // Item k > 0 writes to scratch slot k - 1; the caller adds the slots in item order. Below the
  // root, with every feature used and at most 8, one pass reads the row-major bins; otherwise
  // the item's gradients are first gathered in row order (a leaf's rows are scattered over the
  // table: later passes then read them sequentially), and up to four features share one pass
  // over the rows. Each bin still sums its rows in row order, so no path changes a sum.
  // (Indices from the Float64 params are made int32 with `| 0`: V8 then indexes typed arrays
  // without float-to-int checks in the loops.)
  const begin = p[2] | 0;
  const end = p[3] | 0;
  const from = (begin + item * p[4]) | 0;
  const to = Math.min(end, from + p[4]) | 0;
  const numUsed = p[6] | 0;
  const base = (item === 0 ? p[7] : p[8] + (item - 1) * (s.binOffset[s.numFeatures] + 1)) | 0;
  const hist = s.hist;
  const rows = s.rows;
  const identity = p[5] === 1;
  const numFeatures = s.numFeatures | 0;
  const words = s.packedWords | 0;
  if (identity) {
    // The root without bagging: rows are the identity, so gradients and the row-major bins are
    // read in sequence (4 features per 32-bit word, 8 per pass), and counts are not summed: they
    // are the bin counts of the whole table, which the caller fills in. Every feature is summed
    // (feature_fraction only narrows the split search); padding bytes go to the slot's spare bin.
    const packed = s.packed;
    const gh = s.gradHess;
    hist.fill(0, base * 3, (base + s.binOffset[numFeatures] + 1) * 3);
    const off = new Int32Array(8);
    for (let w = 0; w < words; w += 2) {
      const pair = w + 1 < words;
      for (let j = 0; j < 8; j++) {
        const f = 4 * w + j;
        off[j] = (base + s.binOffset[f < numFeatures ? f : numFeatures]) * 3;
      }
      const o1 = off[0];
      const o2 = off[1];
      const o3 = off[2];
      const o4 = off[3];
      const o5 = off[4];
      const o6 = off[5];
      const o7 = off[6];
      const o8 = off[7];
      // Features in the second word of the pair (1 to 4): the padding bytes of a last, partly
      // used word are not summed (with 7 features, that is one bin update in eight). The guards
      // are the same for every row, so they cost a predicted branch each.
      const inB = Math.min(4, numFeatures - 4 * w - 4) | 0;
      if (pair) {
        for (let r = from; r < to; r++) {
          const g = gh[2 * r];
          const h = gh[2 * r + 1];
          const a = packed[r * words + w];
          const b = packed[r * words + w + 1];
          let k = o1 + (a & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          k = o2 + ((a >>> 8) & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          k = o3 + ((a >>> 16) & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          k = o4 + (a >>> 24) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          k = o5 + (b & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          if (inB > 1) {
            k = o6 + ((b >>> 8) & 255) * 3;
            hist[k] += g;
            hist[k + 1] += h;
          }
          if (inB > 2) {
            k = o7 + ((b >>> 16) & 255) * 3;
            hist[k] += g;
            hist[k + 1] += h;
          }
          if (inB > 3) {
            k = o8 + (b >>> 24) * 3;
            hist[k] += g;
            hist[k + 1] += h;
          }
        }
      } else {
        for (let r = from; r < to; r++) {
          const g = gh[2 * r];
          const h = gh[2 * r + 1];
          const a = packed[r * words + w];
          let k = o1 + (a & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          k = o2 + ((a >>> 8) & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          k = o3 + ((a >>> 16) & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          k = o4 + (a >>> 24) * 3;
          hist[k] += g;
          hist[k + 1] += h;
        }
      }
    }
    return;
  }
  if (numUsed === numFeatures && words <= 2) {
    // Every feature used and at most 8 of them: one pass reads each row's bins from its
    // row-major copy (one cache line) and its gradients where they are, instead of a gather
    // pass and one column read per feature (a leaf's rows are scattered, so each column read
    // was a cache miss of its own). On the 545k-row table this halved the time of the
    // histograms below the root (ADR 0194). Padding bytes of a partly used second word are
    // skipped as at the root; those of a single word go to the slot's spare bin.
    const packed = s.packed;
    const gh = s.gradHess;
    hist.fill(0, base * 3, (base + s.binOffset[numFeatures] + 1) * 3);
    const off = new Int32Array(8);
    for (let j = 0; j < 8; j++) off[j] = (base + s.binOffset[j < numFeatures ? j : numFeatures]) * 3;
    const o1 = off[0];
    const o2 = off[1];
    const o3 = off[2];
    const o4 = off[3];
    const o5 = off[4];
    const o6 = off[5];
    const o7 = off[6];
    const o8 = off[7];
    if (words === 2) {
      const inB = Math.min(4, numFeatures - 4) | 0;
      for (let i = from; i < to; i++) {
        const r = rows[i];
        const g = gh[2 * r];
        const h = gh[2 * r + 1];
        const a = packed[2 * r];
        const b = packed[2 * r + 1];
        let k = o1 + (a & 255) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o2 + ((a >>> 8) & 255) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o3 + ((a >>> 16) & 255) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o4 + (a >>> 24) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o5 + (b & 255) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        if (inB > 1) {
          k = o6 + ((b >>> 8) & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          hist[k + 2] += 1;
        }
        if (inB > 2) {
          k = o7 + ((b >>> 16) & 255) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          hist[k + 2] += 1;
        }
        if (inB > 3) {
          k = o8 + (b >>> 24) * 3;
          hist[k] += g;
          hist[k + 1] += h;
          hist[k + 2] += 1;
        }
      }
    } else {
      for (let i = from; i < to; i++) {
        const r = rows[i];
        const g = gh[2 * r];
        const h = gh[2 * r + 1];
        const a = packed[r];
        let k = o1 + (a & 255) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o2 + ((a >>> 8) & 255) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o3 + ((a >>> 16) & 255) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o4 + (a >>> 24) * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
      }
    }
    return;
  }
  const ogh = s.orderedGradHess;
  const used = s.usedFeatures;
  const bins = s.bins;
  {
    const gh = s.gradHess;
    for (let i = from; i < to; i++) {
      const r = rows[i];
      ogh[2 * i] = gh[2 * r];
      ogh[2 * i + 1] = gh[2 * r + 1];
    }
  }
  for (let j = 0; j < numUsed; j++) {
    const f = used[j];
    const start = (base + s.binOffset[f]) * 3;
    hist.fill(0, start, start + s.numBins[f] * 3);
  }
  let j = 0;
  while (j < numUsed) {
    const left = numUsed - j;
    const f1 = used[j];
    const c1 = bins[f1];
    const o1 = (base + s.binOffset[f1]) * 3;
    if (left >= 4) {
      const f2 = used[j + 1];
      const f3 = used[j + 2];
      const f4 = used[j + 3];
      const c2 = bins[f2];
      const c3 = bins[f3];
      const c4 = bins[f4];
      const o2 = (base + s.binOffset[f2]) * 3;
      const o3 = (base + s.binOffset[f3]) * 3;
      const o4 = (base + s.binOffset[f4]) * 3;
      for (let i = from; i < to; i++) {
        const r = rows[i];
        const g = ogh[2 * i];
        const h = ogh[2 * i + 1];
        let k = o1 + c1[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o2 + c2[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o3 + c3[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o4 + c4[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
      }
      j += 4;
    } else if (left === 3) {
      const f2 = used[j + 1];
      const f3 = used[j + 2];
      const c2 = bins[f2];
      const c3 = bins[f3];
      const o2 = (base + s.binOffset[f2]) * 3;
      const o3 = (base + s.binOffset[f3]) * 3;
      for (let i = from; i < to; i++) {
        const r = rows[i];
        const g = ogh[2 * i];
        const h = ogh[2 * i + 1];
        let k = o1 + c1[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o2 + c2[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o3 + c3[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
      }
      j += 3;
    } else if (left === 2) {
      const f2 = used[j + 1];
      const c2 = bins[f2];
      const o2 = (base + s.binOffset[f2]) * 3;
      for (let i = from; i < to; i++) {
        const r = rows[i];
        const g = ogh[2 * i];
        const h = ogh[2 * i + 1];
        let k = o1 + c1[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
        k = o2 + c2[r] * 3;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
      }
      j += 2;
    } else {
      for (let i = from; i < to; i++) {
        const r = rows[i];
        const k = o1 + c1[r] * 3;
        hist[k] += ogh[2 * i];
        hist[k + 1] += ogh[2 * i + 1];
        hist[k + 2] += 1;
      }
      j += 1;
    }
  }
}

export function partitionKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // Stable partition of one block of rows[begin, end) by a split. A = begin, B = end, C = rows
  // per item, D = feature, E = threshold bin, F = 1 when missing values (bin 0) go left,
  // G = 1 when rows[] is to be taken as the identity (a tree's root without bagging: rows[] is
  // not reset for it, and the bins are read in sequence).
  const from = (p[2] + item * p[4]) | 0;
  const to = Math.min(p[3], from + p[4]) | 0;
  // Branch-free: which side a row goes to is unpredictable, so every row is written to both
  // outputs and only the side it belongs to advances (a table says, per bin, 1 = left).
  const col = s.bins[p[5] | 0];
  const thr = p[6] | 0;
  const goesLeft = new Int32Array(256);
  goesLeft[0] = p[7] === 1 ? 1 : 0;
  for (let b = 1; b <= thr && b < 256; b++) goesLeft[b] = 1;
  const rows = s.rows;
  const outLeft = s.partLeft;
  const outRight = s.partRight;
  const partCount = s.partCount;
  let nl = from;
  let nr = from;
  if (p[8] === 1) {
    for (let r = from; r < to; r++) {
      const left = goesLeft[col[r]];
      outLeft[nl] = r;
      outRight[nr] = r;
      nl += left;
      nr += 1 - left;
    }
    partCount[item] = nl - from;
    return;
  }
  for (let i = from; i < to; i++) {
    const r = rows[i];
    const left = goesLeft[col[r]];
    outLeft[nl] = r;
    outRight[nr] = r;
    nl += left;
    nr += 1 - left;
  }
  partCount[item] = nl - from;
}

export function scoreKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // Scores += leaf values (expNegScore *= e^-value), by row positions. A = number of leaves,
  // B = positions, C = positions per item. Every row is in one leaf: one update per row.
  const numLeaves = p[2] | 0;
  const from = (item * p[4]) | 0;
  const to = Math.min(p[3], from + p[4]) | 0;
  const rows = s.rows;
  const expNegScore = s.expNegScore;
  const { leafBegin, leafEnd, leafFactor } = s;
  for (let l = 0; l < numLeaves; l++) {
    const lo = Math.max(from, leafBegin[l]);
    const hi = Math.min(to, leafEnd[l]);
    const factor = leafFactor[l];
    for (let i = lo; i < hi; i++) expNegScore[rows[i]] *= factor;
  }
}

export function copyBackKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // The second half of a partition: block k's left rows go after the left rows of blocks
  // 0..k-1, its right rows after all left rows and the right rows of blocks 0..k-1 (the
  // sequential stable partition). A = begin, B = end, C = rows per block, D = blocks.
  const begin = p[2] | 0;
  const end = p[3] | 0;
  const per = p[4] | 0;
  const blocks = p[5] | 0;
  const partCount = s.partCount;
  let leftBefore = 0;
  let totalLeft = 0;
  for (let k = 0; k < blocks; k++) {
    if (k < item) leftBefore += partCount[k];
    totalLeft += partCount[k];
  }
  const from = (begin + item * per) | 0;
  const to = Math.min(end, from + per) | 0;
  const left = partCount[item];
  const right = to - from - left;
  const rightBefore = from - begin - leftBefore;
  s.rows.set(s.partLeft.subarray(from, from + left), begin + leftBefore);
  s.rows.set(s.partRight.subarray(from, from + right), begin + totalLeft + rightBefore);
}

export function mergeKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // The end of a histogram task, one used feature per item: the partial histograms of items
  // 1..n-1 of the histogram task are added to item 0's slot in item order, then (when E >= 0)
  // that slot is subtracted from slot E (the sibling: parent minus the smaller child). Each bin
  // gets exactly the adds of the sequential loop, in the same order, whatever thread runs it.
  // A = histogram items, B = the slot's offset (in bins), C = scratch offset of item 1,
  // D = bins per slot, E = offset of the slot to subtract from, or -1.
  const parts = p[2] | 0;
  const slot = p[3] | 0;
  const scratch = p[4] | 0;
  const stride = p[5] | 0;
  const minuend = p[6] | 0;
  const f = s.usedFeatures[item] | 0;
  const off = s.binOffset[f] | 0;
  const len = (s.numBins[f] * 3) | 0;
  const hist = s.hist;
  const dst = ((slot + off) * 3) | 0;
  for (let k = 1; k < parts; k++) {
    const src = ((scratch + (k - 1) * stride + off) * 3) | 0;
    for (let i = 0; i < len; i++) hist[dst + i] += hist[src + i];
  }
  if (minuend >= 0) {
    const big = ((minuend + off) * 3) | 0;
    for (let i = 0; i < len; i++) hist[big + i] -= hist[dst + i];
  }
}

export function validBinKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // Binning of the validation rows with the training edges, as binKernel bins the training rows.
  // Items are (feature, row chunk) pairs; A = rows per chunk, B = chunks per feature.
  const chunkRows = p[2] | 0;
  const chunks = p[3] | 0;
  const set = s.valid;
  const f = Math.floor(item / chunks);
  const from = (item % chunks) * chunkRows;
  const to = Math.min(set.numRows, from + chunkRows);
  const values = set.raw[f];
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = set.bins;
  const stride = s.numFeatures | 0;
  const e0 = s.edgeStart[f];
  const edges = s.edges;
  const index = s.binIndex;
  const indexBase = f * ((index.length / s.numFeatures) | 0);
  for (let r = from; r < to; r++) {
    const x = values[r];
    let bin = 0;
    if (x === x) {
      const b = bits[r];
      const k = b < 0x80000000 ? (b >>> 16) | 0x8000 : b === 0x80000000 ? 0x8000 : (~b >>> 16) & 0xffff;
      let lo = index[indexBase + k];
      let hi = index[indexBase + k + 1];
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (edges[e0 + mid] <= x) lo = mid + 1;
        else hi = mid;
      }
      bin = lo + 1;
    }
    out[r * stride + f] = bin;
  }
}

export function validScoreKernel(s: SharedViews, item: number): void {
  const p = s.params;
  // The validation rows' scores += the value of the leaf the tree in tree* routes them to, and
  // the item's logloss under the new scores into lossSum[item]. A = rows per item, B = 1 to first
  // copy the scores to `best` (the previous tree was the best so far: early stopping may keep it).
  // The routing is leafByBins' (tree.ts) on row-major bins: a value bin b goes left when
  // b <= threshold, which is (b - 1) < threshold unsigned, and bin 0 (missing) where missingLeft
  // says. Four rows walk side by side, each step a branch-free choice of treeNext[2k] or [2k + 1]
  // (see forestKernel in predict.ts), until all four are at leaves.
  // The logloss: a row's e^z times its leaf's factor, then log(1 + e^z) summed as the log of the
  // product of 16 rows' (1 + e^z), each factor at most 1 + 1e15 (so the product stays finite).
  // A row outside [1e-200, 1e15] takes its e^z and its loss from its score instead.
  const set = s.valid;
  const from = (item * p[2]) | 0;
  const to = Math.min(set.numRows, from + p[2]) | 0;
  const copyBest = p[3] === 1;
  const F = s.numFeatures | 0;
  const bins = set.bins;
  const score = set.score;
  const best = set.best;
  const label = set.label;
  const expZ = set.expZ;
  const feature = s.treeFeature;
  const thr = s.treeBin;
  const ml = s.treeMissingLeft;
  const next = s.treeNext;
  const value = s.treeValue;
  const factor = s.treeFactor;
  let sum = 0;
  let product = 1;
  for (let r = from; r < to; r += 4) {
    let n0 = 0;
    let n1 = 0;
    let n2 = 0;
    let n3 = 0;
    // Rows past the item's end walk row r's path again and are not written.
    const b0 = r * F;
    const b1 = r + 1 < to ? b0 + F : b0;
    const b2 = r + 2 < to ? b0 + 2 * F : b0;
    const b3 = r + 3 < to ? b0 + 3 * F : b0;
    while (next[2 * n0] !== n0 || next[2 * n1] !== n1 || next[2 * n2] !== n2 || next[2 * n3] !== n3) {
      let b = bins[b0 + feature[n0]];
      n0 = next[2 * n0 + 1 - (+((b - 1) >>> 0 < thr[n0]) | (ml[n0] & +(b === 0)))];
      b = bins[b1 + feature[n1]];
      n1 = next[2 * n1 + 1 - (+((b - 1) >>> 0 < thr[n1]) | (ml[n1] & +(b === 0)))];
      b = bins[b2 + feature[n2]];
      n2 = next[2 * n2 + 1 - (+((b - 1) >>> 0 < thr[n2]) | (ml[n2] & +(b === 0)))];
      b = bins[b3 + feature[n3]];
      n3 = next[2 * n3 + 1 - (+((b - 1) >>> 0 < thr[n3]) | (ml[n3] & +(b === 0)))];
    }
    const end = Math.min(to, r + 4);
    for (let i = r; i < end; i++) {
      const node = i === r ? n0 : i === r + 1 ? n1 : i === r + 2 ? n2 : n3;
      const before = score[i];
      if (copyBest) best[i] = before;
      const sc = before + value[node];
      score[i] = sc;
      const y = label[i];
      let e = expZ[i] * factor[2 * node + y];
      if (e <= 1e15 && e >= 1e-200) product *= 1 + e;
      else {
        // log(1 + e^-s) for y = 1, log(1 + e^s) for y = 0, without overflow.
        const z = y === 1 ? -sc : sc;
        e = Math.exp(z);
        sum += z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(e);
      }
      expZ[i] = e;
    }
    if (((r - from) & 12) === 12) {
      sum += Math.log(product);
      product = 1;
    }
  }
  set.lossSum[item] = sum + Math.log(product);
}

/** The kernels by task id (TASK_*); index 0 is never a task. */
export const KERNELS: readonly Kernel[] = [
  binKernel,
  binKernel,
  gradientKernel,
  histogramKernel,
  partitionKernel,
  scoreKernel,
  copyBackKernel,
  mergeKernel,
  validBinKernel,
  validScoreKernel,
];

/** Takes work items of the current task until none is left (the same loop on every thread). */
export function drainWorkItems(s: SharedViews, kernels: readonly Kernel[]): void {
  const items = s.params[1];
  const run = kernels[s.params[0]];
  for (;;) {
    const item = Atomics.add(s.control, 2, 1);
    if (item >= items) return;
    run(s, item);
  }
}

/**
 * A worker's warm-up, run once before it takes its first task, on a small synthetic table of its
 * own (views made like the real ones by allocateViews, with at most 8 features; nothing is shared
 * with the training). Each kernel runs in every mode a tree uses (the root and below it, 4, 3, 2
 * and 1 features per pass, merges with and without subtraction, both partition forms, scores,
 * and the validation rows' binning and scoring when the views have them),
 * so V8 has type feedback for every branch before the first tree. Without it a new worker ran its
 * first tree's items unoptimised and deoptimised at each branch it had not seen yet (--trace-deopt:
 * "insufficient type feedback" in every kernel), while the main thread waited for its items at the
 * end of each task. It runs while the main thread copies the values and finds the bin edges.
 * Self-contained like the kernels (workers get its source text); `drain` is drainWorkItems. Each
 * step of the plan is [task, items, then the params from A on] (see each kernel): a table rather
 * than a helper function, as a bundler may wrap a named inner function in a helper of its own.
 */
export function rehearseKernels(
  s: SharedViews,
  kernels: readonly Kernel[],
  drain: (s: SharedViews, kernels: readonly Kernel[]) => void,
  rounds: number,
): void {
  const n = s.numRows | 0;
  const numFeatures = s.numFeatures | 0;
  const p = s.params;
  const stride4 = (s.packedWords * 4) | 0;
  const rowMajor = new Uint8Array(s.packed.buffer, s.packed.byteOffset, s.packed.length * 4);
  for (let f = 0; f <= numFeatures; f++) s.binOffset[f] = 256 * f;
  for (let f = 0; f < numFeatures; f++) {
    s.numBins[f] = 256;
    s.usedFeatures[f] = f;
  }
  let x = 12345;
  for (let r = 0; r < n; r++) {
    for (let f = 0; f < numFeatures; f++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      const b = (x >>> 16) & 255;
      s.bins[f][r] = b;
      rowMajor[r * stride4 + f] = b;
    }
    s.label[r] = (x >>> 8) & 1;
    s.expNegScore[r] = 1;
    s.rows[r] = r;
  }
  const slotBins = s.binOffset[numFeatures] + 1;
  const scratch = s.leafBegin.length * slotBins;
  const quarter = Math.ceil(n / 4);
  const eighth = Math.ceil(n / 8);
  const half = n >> 1;
  s.leafBegin[0] = 0;
  s.leafEnd[0] = half;
  s.leafBegin[1] = half;
  s.leafEnd[1] = n;
  s.leafFactor[0] = 0.999;
  s.leafFactor[1] = 1.001;
  // The validation rows: values with missing ones (bin 0 and, with the rehearsal's empty edges,
  // bin 1), routed by a five-node tree whose two splits send missing values each way in turn and
  // value bins both left (bin 1 <= 1) and right (bin 1 > 0).
  const validRows = s.valid.numRows | 0;
  for (let f = 0; f < numFeatures && validRows > 0; f++) {
    for (let r = 0; r < validRows; r++) s.valid.raw[f][r] = (r + f) % 3 === 0 ? Number.NaN : r / 7;
  }
  for (let r = 0; r < validRows; r++) {
    s.valid.label[r] = r & 1;
    s.valid.score[r] = 0;
    s.valid.expZ[r] = 1;
  }
  const treeNext = [1, 2, 3, 4, 2, 2, 3, 3, 4, 4];
  for (let node = 0; node < 5; node++) {
    s.treeFeature[node] = node === 1 ? numFeatures - 1 : 0;
    s.treeBin[node] = node === 0 ? 1 : 0;
    s.treeNext[2 * node] = treeNext[2 * node];
    s.treeNext[2 * node + 1] = treeNext[2 * node + 1];
    s.treeValue[node] = 0.01 * (node - 2);
    s.treeFactor[2 * node] = Math.exp(s.treeValue[node]);
    s.treeFactor[2 * node + 1] = Math.exp(-s.treeValue[node]);
  }
  for (let round = 0; round < rounds; round++) {
    s.treeMissingLeft[0] = round & 1;
    s.treeMissingLeft[1] = 1 - (round & 1);
    const feature = round % numFeatures;
    const numUsed = numFeatures - (round % Math.min(numFeatures, 4));
    const plan = [
      // Gradients.
      [2, 4, quarter, 1],
      // The root: histogram over the identity rows into slot 0, merged; then its partition.
      [3, 4, 0, n, quarter, 1, numFeatures, 0, scratch],
      [7, numFeatures, 4, 0, scratch, slotBins, -1],
      [4, 4, 0, n, quarter, feature, 128, round & 1, 1],
      [6, 4, 0, n, quarter, 4],
      // Below the root: half the rows in partition order, merged into slot 1 and subtracted from
      // slot 0; then that leaf's partition.
      [3, 4, 0, half, eighth, 0, numUsed, slotBins, scratch],
      [7, numUsed, 4, slotBins, scratch, slotBins, 0],
      [4, 4, 0, half, eighth, (feature + 1) % numFeatures, 100, 0, 0],
      [6, 4, 0, half, eighth, 4],
      // Scores of two leaves.
      [5, 4, 2, n, quarter],
    ];
    // The validation rows: binning (one chunk per feature), then one tree's scores.
    if (validRows > 0) plan.push([8, numFeatures, validRows, 1], [9, 4, Math.ceil(validRows / 4), round & 1]);
    for (const step of plan) {
      for (let k = 0; k < step.length; k++) p[k] = step[k];
      Atomics.store(s.control, 2, 0);
      drain(s, kernels);
    }
  }
}
