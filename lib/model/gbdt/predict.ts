import { Worker } from 'node:worker_threads';
import type { Tree } from './tree.ts';

/**
 * Scoring many rows with a trained forest: the trees flattened into a few typed arrays, walked
 * four rows at a time by one self-contained kernel that runs on the calling thread and, for large
 * inputs, on worker threads too (built from its source text, like the training pool). Results are
 * those of walking each tree with leafByValues (tree.ts) and adding the leaves' values to the base
 * score in tree order, bit for bit, whatever the thread count.
 */

/** The trees of a model as flat arrays; node k of tree t is index treeStart[t] + k. */
export interface FlatForest {
  numFeatures: number;
  baseScore: number;
  numTrees: number;
  treeStart: Int32Array;
  /** The split feature (0 for a leaf, so that a leaf reads a valid column). */
  feature: Int32Array;
  threshold: Float32Array;
  /** 1 when missing values (NaN) go left. */
  missingLeft: Int32Array;
  /**
   * next[2k] is where node k sends a row that goes left, next[2k + 1] one that goes right; a leaf
   * sends every row to itself, so a walk can take extra steps without leaving its leaf.
   */
  next: Int32Array;
  value: Float64Array;
}

export function flattenForest(model: {
  numFeatures: number;
  baseScore: number;
  trees: readonly Tree[];
}): FlatForest {
  const numTrees = model.trees.length;
  const treeStart = new Int32Array(numTrees + 1);
  for (let t = 0; t < numTrees; t++) treeStart[t + 1] = treeStart[t] + model.trees[t].numNodes;
  const nodes = treeStart[numTrees];
  const forest: FlatForest = {
    numFeatures: model.numFeatures,
    baseScore: model.baseScore,
    numTrees,
    treeStart,
    feature: new Int32Array(nodes),
    threshold: new Float32Array(nodes),
    missingLeft: new Int32Array(nodes),
    next: new Int32Array(2 * nodes),
    value: new Float64Array(nodes),
  };
  for (let t = 0; t < numTrees; t++) {
    const tree = model.trees[t];
    const o = treeStart[t];
    for (let k = 0; k < tree.numNodes; k++) {
      const g = o + k;
      const leaf = tree.left[k] < 0;
      forest.feature[g] = leaf ? 0 : tree.feature[k];
      forest.threshold[g] = tree.threshold[k];
      forest.missingLeft[g] = tree.missingLeft[k];
      forest.next[2 * g] = leaf ? g : o + tree.left[k];
      forest.next[2 * g + 1] = leaf ? g : o + tree.right[k];
      forest.value[g] = tree.value[k];
    }
  }
  return forest;
}

/**
 * Raw scores of rows [from, to) of a row-major float32 matrix into out[from, to). Tree by tree
 * over the block (its values stay in cache), four rows walked side by side: each step is a
 * branch-free choice of next[2k] or next[2k + 1] (go left when x < threshold, or when x is NaN
 * and missing values go left: leafByValues' rule), so the four walks overlap instead of
 * stalling on one mispredicted branch after another; the loop ends when all four are at leaves.
 * Self-contained: workers get its source text.
 */
export function forestKernel(
  forest: FlatForest,
  x: Float32Array,
  from: number,
  to: number,
  out: Float64Array,
): void {
  const F = forest.numFeatures | 0;
  const { treeStart, feature, threshold, missingLeft, next, value } = forest;
  for (let r = from; r < to; r++) out[r] = forest.baseScore;
  for (let t = 0; t < forest.numTrees; t++) {
    const root = treeStart[t] | 0;
    let r = from | 0;
    for (; r + 3 < to; r += 4) {
      let n0 = root;
      let n1 = root;
      let n2 = root;
      let n3 = root;
      const b0 = r * F;
      const b1 = b0 + F;
      const b2 = b1 + F;
      const b3 = b2 + F;
      while (next[2 * n0] !== n0 || next[2 * n1] !== n1 || next[2 * n2] !== n2 || next[2 * n3] !== n3) {
        let v = x[b0 + feature[n0]];
        n0 = next[2 * n0 + 1 - (+(v < threshold[n0]) | (missingLeft[n0] & +(v !== v)))];
        v = x[b1 + feature[n1]];
        n1 = next[2 * n1 + 1 - (+(v < threshold[n1]) | (missingLeft[n1] & +(v !== v)))];
        v = x[b2 + feature[n2]];
        n2 = next[2 * n2 + 1 - (+(v < threshold[n2]) | (missingLeft[n2] & +(v !== v)))];
        v = x[b3 + feature[n3]];
        n3 = next[2 * n3 + 1 - (+(v < threshold[n3]) | (missingLeft[n3] & +(v !== v)))];
      }
      out[r] += value[n0];
      out[r + 1] += value[n1];
      out[r + 2] += value[n2];
      out[r + 3] += value[n3];
    }
    for (; r < to; r++) {
      let n = root;
      const b = r * F;
      while (next[2 * n] !== n) {
        const v = x[b + feature[n]];
        n = next[2 * n + 1 - (+(v < threshold[n]) | (missingLeft[n] & +(v !== v)))];
      }
      out[r] += value[n];
    }
  }
}

/** Rows per block a thread takes: the block's values (28 bytes a row with 7 features) stay in cache. */
const BLOCK_ROWS = 4096;
/**
 * Below this many row-tree walks (~0.1 s of one thread) starting workers (tens of milliseconds
 * each, more on a busy machine) costs more than it saves.
 */
const MIN_PARALLEL_WALKS = 5_000_000;

const WORKER_SOURCE = `
  const { parentPort, workerData } = require('node:worker_threads');
  const forestKernel = (${forestKernel.toString()});
  const forest = workerData.forest;
  parentPort.on('message', (job) => {
    for (;;) {
      const start = Atomics.add(job.counter, 0, job.block);
      if (start >= job.rows) break;
      forestKernel(forest, job.x, start, Math.min(job.rows, start + job.block), job.out);
    }
    parentPort.postMessage('done');
  });
`;

function checkMatrix(forest: FlatForest, matrix: Float32Array, numRows: number): void {
  const F = forest.numFeatures;
  if (matrix.length !== numRows * F)
    throw new RangeError(`matrix has ${matrix.length} values, expected ${numRows} x ${F}`);
}

/** Raw scores (log-odds) of row-major float32 rows on the calling thread. */
export function predictForest(forest: FlatForest, matrix: Float32Array, numRows: number): Float64Array {
  checkMatrix(forest, matrix, numRows);
  const out = new Float64Array(numRows);
  forestKernel(forest, matrix, 0, numRows, out);
  return out;
}

/**
 * Raw scores (log-odds) of row-major float32 rows on `threads` threads (the calling one and
 * threads - 1 workers started for the call), each taking blocks of rows from one Atomics
 * counter while the workers start. Small inputs are scored on the calling thread alone.
 */
export async function predictForestParallel(
  forest: FlatForest,
  matrix: Float32Array,
  numRows: number,
  threads: number,
): Promise<Float64Array> {
  return (await predictForestWhile(forest, matrix, numRows, threads, () => undefined)).scores;
}

/**
 * predictForestParallel that first runs `meanwhile` on the calling thread while the workers score,
 * then joins them for the blocks left: other work of the caller's that does not need the scores
 * takes the core the calling thread would have scored on, and the counter gives the workers
 * whatever that work leaves (ADR 0202). Scores are the same as predictForest's, bit for bit. When
 * the input is scored on the calling thread alone, `meanwhile` runs first. The workers stop
 * whether `meanwhile` returns or throws.
 */
export async function predictForestWhile<T>(
  forest: FlatForest,
  matrix: Float32Array,
  numRows: number,
  threads: number,
  meanwhile: () => T | Promise<T>,
): Promise<{ scores: Float64Array; meanwhile: T }> {
  checkMatrix(forest, matrix, numRows);
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`threads must be an integer >= 1, got ${threads}`);
  const workers = Math.min(threads - 1, Math.ceil(numRows / BLOCK_ROWS) - 1);
  if (workers <= 0 || numRows * forest.numTrees < MIN_PARALLEL_WALKS) {
    const value = await meanwhile();
    return { scores: predictForest(forest, matrix, numRows), meanwhile: value };
  }
  const x = new Float32Array(new SharedArrayBuffer(matrix.byteLength), 0, matrix.length);
  x.set(matrix);
  const out = new Float64Array(new SharedArrayBuffer(numRows * 8), 0, numRows);
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const job = { x, out, counter, rows: numRows, block: BLOCK_ROWS };
  const pool = Array.from({ length: workers }, () => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { forest } });
    worker.unref();
    return worker;
  });
  try {
    const done = pool.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once('message', () => resolve());
          worker.postMessage(job);
        }),
    );
    // A worker that fails while `meanwhile` runs is reported by Promise.all below, not as an
    // unhandled rejection.
    for (const d of done) d.catch(() => {});
    const value = await meanwhile();
    for (;;) {
      const start = Atomics.add(counter, 0, BLOCK_ROWS);
      if (start >= numRows) break;
      forestKernel(forest, x, start, Math.min(numRows, start + BLOCK_ROWS), out);
    }
    await Promise.all(done);
    return { scores: out.slice(), meanwhile: value };
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
