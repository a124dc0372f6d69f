/**
 * The hot loops of training, as pure functions over typed arrays. They run on the main thread and
 * in worker threads; workers get them as source text (fn.toString()), so each function must be
 * self-contained: no imports, no calls to other module functions, no closures. A task is split
 * into numbered work items; whoever takes item k (any thread) writes only item k's outputs, and
 * results are combined in item order, so the outcome never depends on thread scheduling or count.
 */

/** Shared memory every thread sees (views on SharedArrayBuffers). */
export interface SharedViews {
  /** [generation, pending threads, next work item]. */
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
  /** Column-major bin matrix, one Uint8Array per feature. */
  bins: Uint8Array[];
  /** Offset of feature f's bins in a histogram; numBins[f] = value bins + the missing bin. */
  binOffset: Int32Array;
  numBins: Int32Array;
  label: Uint8Array;
  score: Float64Array;
  grad: Float64Array;
  hess: Float64Array;
  /** The working row order: each leaf owns a contiguous range. */
  rows: Uint32Array;
  /** Gradients gathered in `rows` order so histogram loops read them sequentially. */
  orderedGrad: Float64Array;
  orderedHess: Float64Array;
  /** Features the current tree may use. */
  usedFeatures: Int32Array;
  /** Histogram slots (one per leaf) then per-item scratch; each bin is [sumGrad, sumHess, count]. */
  hist: Float64Array;
}

export const TASK_BIN = 1;
export const TASK_GRADIENTS = 2;
export const TASK_HISTOGRAM = 3;

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
 * Runs one work item of the current task. Kept as one function with the task kinds inlined
 * (rather than a dispatch over other functions) so workers can be built from its source alone.
 */
export function runWorkItem(s: SharedViews, item: number): void {
  const p = s.params;
  const task = p[0];
  if (task === 1) {
    // Binning. Items are (feature, row chunk) pairs; A = rows per chunk, B = chunks per feature.
    const chunkRows = p[2];
    const chunks = p[3];
    const f = Math.floor(item / chunks);
    const from = (item % chunks) * chunkRows;
    const to = Math.min(s.numRows, from + chunkRows);
    const values = s.raw[f];
    const out = s.bins[f];
    const e0 = s.edgeStart[f];
    const ne = s.edgeStart[f + 1] - e0;
    const edges = s.edges;
    for (let r = from; r < to; r++) {
      const x = values[r];
      if (x !== x) {
        out[r] = 0;
        continue;
      }
      let lo = 0;
      let hi = ne;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (edges[e0 + mid] <= x) lo = mid + 1;
        else hi = mid;
      }
      out[r] = lo + 1;
    }
    return;
  }
  if (task === 2) {
    // Logloss gradients. A = rows per chunk, B = weight of positive rows.
    const from = item * p[2];
    const to = Math.min(s.numRows, from + p[2]);
    const w1 = p[3];
    const score = s.score;
    const label = s.label;
    const grad = s.grad;
    const hess = s.hess;
    for (let r = from; r < to; r++) {
      const prob = 1 / (1 + Math.exp(-score[r]));
      if (label[r] === 1) {
        grad[r] = (prob - 1) * w1;
        hess[r] = prob * (1 - prob) * w1;
      } else {
        grad[r] = prob;
        hess[r] = prob * (1 - prob);
      }
    }
    return;
  }
  if (task === 3) {
    // Histogram of rows[begin, end) over the used features. A = begin, B = end, C = rows per
    // item, D = 1 when rows[] is the identity (read gradients directly), E = number of used
    // features, F = histogram slot offset (in bins) for item 0, G = scratch offset for item 1.
    // Item k > 0 writes to scratch slot k - 1; the caller adds the slots in item order.
    const begin = p[2];
    const end = p[3];
    const from = begin + item * p[4];
    const to = Math.min(end, from + p[4]);
    const identity = p[5] === 1;
    const numUsed = p[6];
    const base = item === 0 ? p[7] : p[8] + (item - 1) * s.binOffset[s.numFeatures];
    const hist = s.hist;
    const rows = s.rows;
    const og = s.orderedGrad;
    const oh = s.orderedHess;
    for (let j = 0; j < numUsed; j++) {
      const f = s.usedFeatures[j];
      const start = (base + s.binOffset[f]) * 3;
      hist.fill(0, start, start + s.numBins[f] * 3);
    }
    if (identity) {
      const grad = s.grad;
      const hess = s.hess;
      for (let j = 0; j < numUsed; j++) {
        const f = s.usedFeatures[j];
        const col = s.bins[f];
        const o = (base + s.binOffset[f]) * 3;
        for (let r = from; r < to; r++) {
          const k = o + col[r] * 3;
          hist[k] += grad[r];
          hist[k + 1] += hess[r];
          hist[k + 2] += 1;
        }
      }
      return;
    }
    const grad = s.grad;
    const hess = s.hess;
    for (let i = from; i < to; i++) {
      const r = rows[i];
      og[i] = grad[r];
      oh[i] = hess[r];
    }
    for (let j = 0; j < numUsed; j++) {
      const f = s.usedFeatures[j];
      const col = s.bins[f];
      const o = (base + s.binOffset[f]) * 3;
      for (let i = from; i < to; i++) {
        const k = o + col[rows[i]] * 3;
        hist[k] += og[i];
        hist[k + 1] += oh[i];
        hist[k + 2] += 1;
      }
    }
  }
}

/** Takes work items until none is left (the same loop on every thread). */
export function drainWorkItems(s: SharedViews, run: (s: SharedViews, item: number) => void): void {
  const items = s.params[1];
  for (;;) {
    const item = Atomics.add(s.control, 2, 1);
    if (item >= items) return;
    run(s, item);
  }
}
