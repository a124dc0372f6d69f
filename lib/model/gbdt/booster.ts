import { BIN_INDEX_SIZE, binOf, computeBinEdges, fillBinIndex } from './binning.ts';
import {
  P_A,
  P_B,
  P_C,
  P_D,
  P_E,
  P_F,
  P_G,
  P_TASK,
  TASK_BIN,
  TASK_COPY_BACK,
  TASK_MERGE,
  TASK_GRADIENTS,
  TASK_HISTOGRAM,
  TASK_PARTITION,
  TASK_SCORE,
  TASK_VALID_BIN,
  TASK_VALID_SCORE,
  type SharedViews,
  type ValidationSet,
} from './kernels.ts';
import { resolveParams, type GbdtParams } from './params.ts';
import { WorkerPool } from './pool.ts';
import { flattenForest, predictForest, predictForestWhile } from './predict.ts';
import { Prng } from './prng.ts';
import { allocateTree, compactTree, leafByBins, type Tree } from './tree.ts';

/** A feature matrix by column (NaN = missing) with 0/1 labels. */
export interface LabelledColumns {
  numRows: number;
  /** One array per feature, each numRows long. */
  columns: ArrayLike<number>[];
  label: Uint8Array;
}

export interface GbdtModel {
  numFeatures: number;
  /** The starting raw score (log-odds of the weighted training mean), float32-rounded. */
  baseScore: number;
  trees: Tree[];
  /** Bin edges of each feature (float32), as used by the trees' binThreshold. */
  binEdges: Float32Array[];
}

export interface IterationRecord {
  tree: number;
  leaves: number;
  trainLogloss?: number;
  validLogloss?: number;
}

export interface GbdtTrainingResult {
  model: GbdtModel;
  params: GbdtParams;
  /** Trees kept (after early stopping). */
  bestIteration: number;
  /** Trees built before stopping. */
  treesBuilt: number;
  stoppedEarly: boolean;
  /** Why boosting ended: 'trees' (numTrees reached), 'early-stopping' or 'no-split'. */
  stopReason: 'trees' | 'early-stopping' | 'no-split';
  history: IterationRecord[];
  positiveWeight: number;
  /** Rows per bin of every feature on the training rows (bin 0 = missing), for reference statistics. */
  binCounts: Float64Array[];
  threads: number;
  /**
   * Raw scores (log-odds) of the validation rows under the kept trees, when there is a validation
   * set: bit for bit what predictRaw gives on them (the same leaves, added in the same order),
   * kept from the scoring done for early stopping instead of predicted again.
   */
  validRaw?: Float64Array;
}

export interface GbdtProgress {
  tree: number;
  numTrees: number;
  validLogloss?: number;
  bestIteration: number;
}

export interface TrainGbdtOptions {
  params?: Partial<GbdtParams>;
  valid?: LabelledColumns;
  /** Called after every tree; the caller decides what to print. */
  onTree?: (p: GbdtProgress) => void;
}

// Work items. Where an item's rows are summed together (histograms) its size is part of the
// model: the float sums are grouped by item. The other tasks give the same result whatever their
// items, and theirs are small enough (8-16k rows, 4k validation rows) that the thread left
// waiting at the end of a task waits for a short item only (ADR 0194).
const HIST_ITEM_ROWS = 4096;
const HIST_MAX_ITEMS = 32;
const PART_ITEM_ROWS = 8192;
const PART_MAX_ITEMS = 64;
/** Partitions of at least this many rows are copied back from scratch by the pool. */
const POOL_COPY_BACK_ROWS = 1 << 15;
const SCORE_ITEM_ROWS = 1 << 14;
/** Validation rows per work item when they are routed through a tree. */
const VALID_ITEM_ROWS = 1 << 12;
const BIN_CHUNK_ROWS = 1 << 18;
const GRAD_CHUNK_ROWS = 1 << 14;
/** Rows of the synthetic table the workers rehearse on (rehearseKernels; rounds in pool.ts). */
const REHEARSAL_ROWS = 4096;
/** Validation rows in the rehearsal, when the training has a validation set. */
const REHEARSAL_VALID_ROWS = 1024;

function sharedFloat32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4), 0, n);
}
function sharedFloat64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8), 0, n);
}
function sharedUint32(n: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(Math.max(1, n) * 4), 0, n);
}
function sharedUint8(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(Math.max(1, n)), 0, n);
}
function sharedInt32(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(1, n) * 4), 0, n);
}

/** out[i] = values[rows[i]] for every i < rows.length; returns out (sized to rows). */
function gather(values: Float32Array, rows: Uint32Array, out: Float32Array): Float32Array {
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]];
  return out;
}

/** Copies 0/1 labels, throwing at the first other value; returns the number of 1s. */
function copyLabels(from: Uint8Array, to: Uint8Array): number {
  let positives = 0;
  for (let i = 0; i < from.length; i++) {
    const y = from[i];
    if (y !== 0 && y !== 1) throw new RangeError(`training label at row ${i} is ${y}, expected 0 or 1`);
    to[i] = y;
    positives += y;
  }
  return positives;
}

/** The validation set's shared arrays (see ValidationSet). */
function allocateValidation(rows: number, numFeatures: number): ValidationSet {
  return {
    numRows: rows,
    raw: Array.from({ length: rows > 0 ? numFeatures : 0 }, () => sharedFloat32(rows)),
    bins: sharedUint8(rows * numFeatures),
    label: sharedUint8(rows),
    score: sharedFloat64(rows),
    best: sharedFloat64(rows),
    expZ: sharedFloat64(rows),
    // One sum per work item; at least 4, the items of the kernels' rehearsal.
    lossSum: sharedFloat64(Math.max(4, Math.ceil(rows / VALID_ITEM_ROWS))),
  };
}

/**
 * The shared arrays of a training run (see SharedViews), the bin edges and histograms at their
 * largest size for maxBin; binning fills them. validRows: the validation set's rows (0: none).
 */
export function allocateViews(
  n: number,
  numFeatures: number,
  maxBin: number,
  numLeaves: number,
  validRows = 0,
): SharedViews {
  const maxEdges = maxBin - 1;
  const maxNodes = 2 * numLeaves - 1;
  return {
    control: sharedInt32(8),
    params: sharedFloat64(16),
    numRows: n,
    numFeatures,
    raw: Array.from({ length: numFeatures }, () => sharedFloat32(n)),
    edges: sharedFloat32(numFeatures * maxEdges),
    edgeStart: sharedInt32(numFeatures + 1),
    binIndex: sharedUint8(numFeatures * BIN_INDEX_SIZE),
    bins: Array.from({ length: numFeatures }, () => sharedUint8(n)),
    binCountParts: sharedInt32(numFeatures * Math.ceil(n / BIN_CHUNK_ROWS) * 256),
    packed: sharedUint32(n * Math.ceil(numFeatures / 4)),
    packedWords: Math.ceil(numFeatures / 4),
    binOffset: sharedInt32(numFeatures + 1),
    numBins: sharedInt32(numFeatures),
    label: sharedUint8(n),
    expNegScore: sharedFloat64(n),
    gradHess: sharedFloat32(2 * n),
    rows: sharedUint32(n),
    orderedGradHess: sharedFloat32(2 * n),
    partLeft: sharedUint32(n),
    partRight: sharedUint32(n),
    partCount: sharedInt32(PART_MAX_ITEMS),
    leafBegin: sharedInt32(numLeaves),
    leafEnd: sharedInt32(numLeaves),
    leafFactor: sharedFloat64(numLeaves),
    usedFeatures: sharedInt32(numFeatures),
    // Each slot has one spare bin at the end (where the padding bytes of packed rows go).
    hist: sharedFloat64((numLeaves + HIST_MAX_ITEMS) * (numFeatures * (maxEdges + 2) + 1) * 3),
    valid: allocateValidation(validRows, numFeatures),
    treeFeature: sharedInt32(maxNodes),
    treeBin: sharedInt32(maxNodes),
    treeMissingLeft: sharedInt32(maxNodes),
    treeNext: sharedInt32(2 * maxNodes),
    treeValue: sharedFloat64(maxNodes),
    treeFactor: sharedFloat64(2 * maxNodes),
  };
}

/** Puts a tree where validScoreKernel reads it (see SharedViews.treeNext). */
function shareTree(s: SharedViews, tree: Tree): void {
  for (let node = 0; node < tree.numNodes; node++) {
    const leaf = tree.left[node] < 0;
    s.treeFeature[node] = leaf ? 0 : tree.feature[node];
    s.treeBin[node] = tree.binThreshold[node];
    s.treeMissingLeft[node] = tree.missingLeft[node];
    s.treeNext[2 * node] = leaf ? node : tree.left[node];
    s.treeNext[2 * node + 1] = leaf ? node : tree.right[node];
    s.treeValue[node] = tree.value[node];
    s.treeFactor[2 * node] = Math.exp(tree.value[node]);
    s.treeFactor[2 * node + 1] = Math.exp(-tree.value[node]);
  }
}

/**
 * Routes the validation rows through the shared tree (shareTree) in the pool, adding the leaf
 * values to their scores and summing the logloss of each work item's rows; with `copyBest` the
 * scores are first copied to the set's `best` scores. Returns the mean logloss: the items' sums
 * added in item order on this thread, so the same to the bit whatever the thread count (and
 * within 1e-12 of the serial sum of each row's log1p(e^z): validScoreKernel).
 */
function scoreValidation(s: SharedViews, pool: WorkerPool, copyBest: boolean): number {
  const prm = s.params;
  prm[P_TASK] = TASK_VALID_SCORE;
  prm[P_A] = VALID_ITEM_ROWS;
  prm[P_B] = copyBest ? 1 : 0;
  const items = Math.ceil(s.valid.numRows / VALID_ITEM_ROWS);
  pool.run(items);
  let sum = 0;
  for (let k = 0; k < items; k++) sum += s.valid.lossSum[k];
  return sum / Math.max(1, s.valid.numRows);
}

/** Bins the validation values (already in its raw arrays) with the training edges, in the pool. */
function binValidation(s: SharedViews, pool: WorkerPool): void {
  const chunks = Math.ceil(s.valid.numRows / BIN_CHUNK_ROWS);
  s.params[P_TASK] = TASK_VALID_BIN;
  s.params[P_A] = BIN_CHUNK_ROWS;
  s.params[P_B] = chunks;
  pool.run(s.numFeatures * chunks);
  // The workers drop theirs with the first scoring task (pool.ts).
  s.valid.raw = [];
}

function checkColumns(data: LabelledColumns, numFeatures: number, what: string): void {
  if (data.columns.length !== numFeatures) {
    throw new RangeError(`${what} has ${data.columns.length} feature columns, expected ${numFeatures}`);
  }
  if (data.label.length !== data.numRows)
    throw new RangeError(`${what} has ${data.label.length} labels for ${data.numRows} rows`);
  for (const c of data.columns) {
    if (c.length !== data.numRows)
      throw new RangeError(`${what} has a column of ${c.length} values for ${data.numRows} rows`);
  }
}

interface SplitCandidate {
  gain: number;
  feature: number;
  bin: number;
  missingLeft: boolean;
  leftGrad: number;
  leftHess: number;
  leftCount: number;
}

const NO_SPLIT: SplitCandidate = {
  gain: Number.NEGATIVE_INFINITY,
  feature: -1,
  bin: 0,
  missingLeft: false,
  leftGrad: 0,
  leftHess: 0,
  leftCount: 0,
};

/**
 * Trains a binary-logloss histogram GBDT. Deterministic: the same columns, labels and params
 * (numThreads included or not) give the same trees, bit for bit.
 */
export async function trainGbdt(
  train: LabelledColumns,
  options: TrainGbdtOptions = {},
): Promise<GbdtTrainingResult> {
  const params = resolveParams(options.params);
  const n = train.numRows;
  const numFeatures = train.columns.length;
  checkColumns(train, numFeatures, 'the training set');
  const valid = options.valid;
  if (valid) checkColumns(valid, numFeatures, 'the validation set');
  if (n < 2) throw new RangeError(`need at least 2 training rows, got ${n}`);
  if (numFeatures < 1) throw new RangeError('need at least one feature');

  const prng = new Prng(params.seed);

  // Every shared array is made first (the bin edges and histograms at their largest size, as
  // their real sizes depend on the edges), so the worker threads start while this thread copies
  // the values and finds the bin edges, and are ready to share the binning.
  const views = allocateViews(n, numFeatures, params.maxBin, params.numLeaves, valid?.numRows ?? 0);
  const { raw, edgeStart, numBins, binOffset, edges, label } = views;
  // The workers rehearse their kernels on a small synthetic table of their own while this thread
  // copies the values and finds the bin edges (see rehearseKernels).
  const pool = new WorkerPool(views, params.numThreads, () =>
    allocateViews(REHEARSAL_ROWS, Math.min(numFeatures, 8), 255, 4, valid ? REHEARSAL_VALID_ROWS : 0),
  );
  try {
    // Float32 feature values (what the ONNX model will see), shared with the workers for binning.
    // (TypedArray set: one native conversion loop, instead of an element loop that runs
    // unoptimised in this long function the first time: ~40 ms for 545k x 7.)
    for (let f = 0; f < numFeatures; f++) raw[f].set(train.columns[f]);
    // Bin edges from a seeded row sample (the same rows for every feature).
    const sampleRows = prng.sampleSorted(n, params.binSampleCount);
    const binEdges: Float32Array[] = [];
    const sample = new Float32Array(sampleRows.length);
    for (let f = 0; f < numFeatures; f++)
      binEdges.push(computeBinEdges(gather(raw[f], sampleRows, sample), params.maxBin));
    for (let f = 0; f < numFeatures; f++) {
      edgeStart[f + 1] = edgeStart[f] + binEdges[f].length;
      numBins[f] = binEdges[f].length + 2;
      binOffset[f + 1] = binOffset[f] + numBins[f];
      edges.set(binEdges[f], edgeStart[f]);
      fillBinIndex(binEdges[f], views.binIndex.subarray(f * BIN_INDEX_SIZE, (f + 1) * BIN_INDEX_SIZE));
    }
    const totalBins = binOffset[numFeatures];

    const positives = copyLabels(train.label, label);
    const negatives = n - positives;
    if (positives === 0 || negatives === 0) throw new RangeError('the training set has a single class');
    const positiveWeight = params.isUnbalance ? negatives / positives : params.scalePosWeight;

    const binChunks = Math.ceil(n / BIN_CHUNK_ROWS);
    views.params[P_TASK] = TASK_BIN;
    views.params[P_A] = BIN_CHUNK_ROWS;
    views.params[P_B] = binChunks;
    pool.run(numFeatures * binChunks);
    pool.releaseRaw();
    raw.length = 0;
    // Each bin item counted its rows per bin; a feature's counts are the sums over its chunks.
    const binCounts = Array.from({ length: numFeatures }, (_, f) => {
      const counts = new Float64Array(numBins[f]);
      for (let c = 0; c < binChunks; c++) {
        const part = (f * binChunks + c) * 256;
        for (let b = 0; b < counts.length; b++) counts[b] += views.binCountParts[part + b];
      }
      return counts;
    });

    // The validation rows are binned once with the training edges; each tree then adds its leaf
    // values to their scores (validScoreKernel), in the pool.
    const validSet = views.valid;
    if (valid) {
      for (let f = 0; f < numFeatures; f++) validSet.raw[f].set(valid.columns[f]);
      validSet.label.set(valid.label);
      binValidation(views, pool);
    }

    // Boost from the (weighted) average, like LightGBM's boost_from_average.
    const meanPositive = (positives * positiveWeight) / (positives * positiveWeight + negatives);
    const baseScore = Math.fround(Math.log(meanPositive / (1 - meanPositive)));
    views.expNegScore.fill(Math.exp(-baseScore));
    validSet.score.fill(baseScore);
    const expBase = [Math.exp(baseScore), Math.exp(-baseScore)];
    for (let i = 0; i < validSet.numRows; i++) validSet.expZ[i] = expBase[validSet.label[i]];
    const earlyStopping = valid !== undefined && params.earlyStoppingRounds > 0;
    // Set after a tree that was the best so far: the next scoring first keeps the scores it gave.
    let copyBest = false;

    const grower = new TreeGrower(views, pool, params, totalBins + 1, binCounts);
    const trees: Tree[] = [];
    const history: IterationRecord[] = [];
    let bestIteration = 0;
    let bestLoss = Number.POSITIVE_INFINITY;
    let stopReason: GbdtTrainingResult['stopReason'] = 'trees';
    let bag: Uint32Array | undefined;
    let outOfBag: Uint32Array | undefined;
    const bagging = params.baggingFreq > 0 && params.baggingFraction < 1;
    const gradItems = Math.ceil(n / GRAD_CHUNK_ROWS);

    for (let iter = 0; iter < params.numTrees; iter++) {
      views.params[P_TASK] = TASK_GRADIENTS;
      views.params[P_A] = GRAD_CHUNK_ROWS;
      views.params[P_B] = positiveWeight;
      pool.run(gradItems);

      if (bagging && iter % params.baggingFreq === 0) {
        bag = prng.sampleSorted(n, Math.max(1, Math.round(n * params.baggingFraction)));
        outOfBag = complement(bag, n);
      }
      let numUsed = numFeatures;
      if (params.featureFraction < 1) {
        const used = prng.sampleSorted(
          numFeatures,
          Math.max(1, Math.round(numFeatures * params.featureFraction)),
        );
        views.usedFeatures.set(used);
        numUsed = used.length;
      } else {
        for (let f = 0; f < numFeatures; f++) views.usedFeatures[f] = f;
      }

      const tree = grower.grow(bag, numUsed);
      if (tree.numNodes <= 1) {
        stopReason = 'no-split';
        break;
      }
      // Training scores: rows of the bag by their leaf ranges, the others by walking the tree.
      grower.addLeafValues(tree);
      if (outOfBag) {
        for (let i = 0; i < outOfBag.length; i++) {
          const r = outOfBag[i];
          views.expNegScore[r] *= Math.exp(-tree.value[leafByBins(tree, views.bins, r)]);
        }
      }
      trees.push(tree);

      const record: IterationRecord = { tree: iter + 1, leaves: (tree.numNodes + 1) / 2 };
      if (valid) {
        shareTree(views, tree);
        const loss = scoreValidation(views, pool, copyBest);
        record.validLogloss = loss;
        copyBest = false;
        if (loss < bestLoss) {
          bestLoss = loss;
          bestIteration = iter + 1;
          copyBest = earlyStopping;
        }
      } else {
        bestIteration = iter + 1;
      }
      history.push(record);
      options.onTree?.({
        tree: iter + 1,
        numTrees: params.numTrees,
        validLogloss: record.validLogloss,
        bestIteration,
      });
      if (valid && params.earlyStoppingRounds > 0 && iter + 1 - bestIteration >= params.earlyStoppingRounds) {
        stopReason = 'early-stopping';
        break;
      }
    }
    const treesBuilt = trees.length;
    // Without early stopping every tree is kept (as LightGBM does); with it, the best prefix.
    if (!earlyStopping) bestIteration = treesBuilt;
    const kept = trees.slice(0, bestIteration);
    let validRaw: Float64Array | undefined;
    if (valid) {
      // The scores after the kept trees: the last ones, or those copied at the start of the tree
      // after the best (none were copied when no tree improved on an infinite loss).
      validRaw =
        bestIteration === treesBuilt
          ? validSet.score.slice()
          : bestIteration === 0
            ? new Float64Array(valid.numRows).fill(baseScore)
            : validSet.best.slice();
    }
    return {
      model: { numFeatures, baseScore, trees: kept, binEdges },
      params,
      bestIteration,
      treesBuilt,
      stoppedEarly: stopReason === 'early-stopping',
      stopReason,
      history,
      positiveWeight,
      binCounts,
      threads: pool.threads,
      validRaw,
    };
  } finally {
    await pool.close();
  }
}

/** Bins columns with known edges (the validation set, or any new data) on the calling thread. */
export function binColumns(
  columns: ArrayLike<number>[],
  numRows: number,
  binEdges: Float32Array[],
): Uint8Array[] {
  return columns.map((col, f) => {
    const out = new Uint8Array(numRows);
    const e = binEdges[f];
    for (let i = 0; i < numRows; i++) out[i] = binOf(Math.fround(col[i]), e);
    return out;
  });
}

function complement(sortedSubset: Uint32Array, n: number): Uint32Array {
  const out = new Uint32Array(n - sortedSubset.length);
  let j = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (j < sortedSubset.length && sortedSubset[j] === i) j++;
    else out[k++] = i;
  }
  return out;
}

/** Leaf-wise growth of one tree over the shared arrays. */
class TreeGrower {
  // Per current leaf (indexed 0..leaves-1).
  private readonly leafBegin: Int32Array;
  private readonly leafEnd: Int32Array;
  private readonly leafNode: Int32Array;
  private readonly leafSlot: Int32Array;
  private readonly leafGrad: Float64Array;
  private readonly leafHess: Float64Array;
  private readonly leafBest: SplitCandidate[];
  /**
   * True while rows[] is to be read as 0, 1, ..., numRows - 1 (a tree's root without bagging).
   * rows[] itself is not reset for such a tree: the root's histogram does not read it and the
   * root's partition reads rows by position, then writes the whole range of rows[].
   */
  private rowsAreIdentity = false;
  private lastLeafRanges: { begin: Int32Array; end: Int32Array; node: Int32Array; count: number } | undefined;

  constructor(
    private readonly s: SharedViews,
    private readonly pool: WorkerPool,
    private readonly p: GbdtParams,
    /** Bins per histogram slot (all features' bins and the spare bin). */
    private readonly totalBins: number,
    /** Rows per bin of the whole table: the root's counts without bagging. */
    private readonly binCounts: Float64Array[],
  ) {
    const L = p.numLeaves;
    this.leafBegin = new Int32Array(L);
    this.leafEnd = new Int32Array(L);
    this.leafNode = new Int32Array(L);
    this.leafSlot = new Int32Array(L);
    this.leafGrad = new Float64Array(L);
    this.leafHess = new Float64Array(L);
    this.leafBest = new Array<SplitCandidate>(L).fill(NO_SPLIT);
  }

  grow(bag: Uint32Array | undefined, numUsed: number): Tree {
    const { s, p } = this;
    const rows = s.rows;
    let count: number;
    if (bag) {
      rows.set(bag);
      count = bag.length;
    } else {
      this.rowsAreIdentity = true;
      count = s.numRows;
    }
    const tree = allocateTree(p.numLeaves);
    tree.numNodes = 1;
    this.leafBegin[0] = 0;
    this.leafEnd[0] = count;
    this.leafNode[0] = 0;
    this.leafSlot[0] = 0;
    this.buildHistogram(0, count, 0, numUsed, !bag);
    // Totals from the first used feature's histogram: every row lands in exactly one of its bins.
    let g = 0;
    let h = 0;
    {
      const f = s.usedFeatures[0];
      const o = s.binOffset[f] * 3;
      for (let b = 0; b < s.numBins[f]; b++) {
        g += s.hist[o + b * 3];
        h += s.hist[o + b * 3 + 1];
      }
    }
    this.leafGrad[0] = g;
    this.leafHess[0] = h;
    tree.count[0] = count;
    tree.depth[0] = 0;
    tree.value[0] = this.output(g, h);
    this.leafBest[0] = this.canSplit(count, h, 0) ? this.findBestSplit(0, g, h, count, numUsed) : NO_SPLIT;

    let leaves = 1;
    while (leaves < p.numLeaves) {
      let best = -1;
      let bestGain = Number.NEGATIVE_INFINITY;
      for (let l = 0; l < leaves; l++) {
        if (this.leafBest[l].gain > bestGain) {
          bestGain = this.leafBest[l].gain;
          best = l;
        }
      }
      if (best < 0 || !(bestGain > p.minGainToSplit)) break;
      this.split(tree, best, leaves, numUsed);
      leaves++;
    }
    for (let l = 0; l < leaves; l++) tree.value[this.leafNode[l]] = Math.fround(tree.value[this.leafNode[l]]);
    this.lastLeafRanges = {
      begin: this.leafBegin.slice(0, leaves),
      end: this.leafEnd.slice(0, leaves),
      node: this.leafNode.slice(0, leaves),
      count: leaves,
    };
    return compactTree(tree);
  }

  /** Adds each leaf's value to the training scores of the rows it holds (the rows of the last tree grown). */
  addLeafValues(tree: Tree): void {
    const ranges = this.lastLeafRanges;
    if (!ranges) return;
    const s = this.s;
    let positions = 0;
    for (let l = 0; l < ranges.count; l++) {
      s.leafBegin[l] = ranges.begin[l];
      s.leafEnd[l] = ranges.end[l];
      s.leafFactor[l] = Math.exp(-tree.value[ranges.node[l]]);
      positions = Math.max(positions, ranges.end[l]);
    }
    s.params[P_TASK] = TASK_SCORE;
    s.params[P_A] = ranges.count;
    s.params[P_B] = positions;
    s.params[P_C] = SCORE_ITEM_ROWS;
    this.pool.run(Math.ceil(positions / SCORE_ITEM_ROWS));
  }

  private output(g: number, h: number): number {
    const denom = h + this.p.lambdaL2;
    return denom > 0 ? (-g / denom) * this.p.learningRate : 0;
  }

  private canSplit(count: number, hess: number, depth: number): boolean {
    const p = this.p;
    return (
      count >= 2 * p.minDataInLeaf &&
      hess >= 2 * p.minSumHessianInLeaf &&
      (p.maxDepth < 0 || depth < p.maxDepth)
    );
  }

  /**
   * Histogram of rows[begin, end) into `slot`; with `minuendSlot` >= 0 that slot (the parent's)
   * then becomes the sibling's histogram: itself minus this one.
   */
  private buildHistogram(
    begin: number,
    end: number,
    slot: number,
    numUsed: number,
    identity = false,
    minuendSlot = -1,
  ): void {
    const { s, pool, totalBins } = this;
    const count = end - begin;
    const items = Math.max(1, Math.min(HIST_MAX_ITEMS, Math.ceil(count / HIST_ITEM_ROWS)));
    const perItem = Math.ceil(count / items);
    const prm = s.params;
    prm[P_TASK] = TASK_HISTOGRAM;
    prm[P_A] = begin;
    prm[P_B] = end;
    prm[P_C] = perItem;
    prm[P_D] = identity ? 1 : 0;
    prm[P_E] = numUsed;
    prm[P_F] = slot * totalBins;
    prm[P_G] = this.p.numLeaves * totalBins;
    pool.run(items);
    const hist = s.hist;
    if (items > 1) {
      // Add the items' partial histograms in item order (and subtract the result from the
      // parent's slot) in the pool, one feature per work item: the same adds per bin in the same
      // order as a loop here, whatever thread runs them, and the other thread does half.
      prm[P_TASK] = TASK_MERGE;
      prm[P_A] = items;
      prm[P_B] = slot * totalBins;
      prm[P_C] = this.p.numLeaves * totalBins;
      prm[P_D] = totalBins;
      prm[P_E] = minuendSlot >= 0 ? minuendSlot * totalBins : -1;
      pool.run(numUsed);
    } else if (minuendSlot >= 0) {
      // One item: nothing to merge, and a subtraction is cheaper here than a hand-out.
      for (let j = 0; j < numUsed; j++) {
        const f = s.usedFeatures[j];
        const dst = (minuendSlot * totalBins + s.binOffset[f]) * 3;
        const src = (slot * totalBins + s.binOffset[f]) * 3;
        const len = s.numBins[f] * 3;
        for (let i = 0; i < len; i++) hist[dst + i] -= hist[src + i];
      }
    }
    if (identity) {
      for (let j = 0; j < numUsed; j++) {
        const f = s.usedFeatures[j];
        const dst = (slot * totalBins + s.binOffset[f]) * 3 + 2;
        const counts = this.binCounts[f];
        for (let b = 0; b < counts.length; b++) hist[dst + 3 * b] = counts[b];
      }
    }
  }

  /**
   * Stable partition of rows[begin, end) by a split: left rows stay in order at the front, right
   * rows follow in order; returns where the right rows start. The threads split the range into
   * blocks and partition each into scratch; the blocks are copied back in block order, so the
   * result is the sequential one whatever the thread count.
   */
  private partition(begin: number, end: number, feature: number, thr: number, missingLeft: boolean): number {
    const { s, pool } = this;
    const count = end - begin;
    const items = Math.max(1, Math.min(PART_MAX_ITEMS, Math.ceil(count / PART_ITEM_ROWS)));
    const perItem = Math.ceil(count / items);
    const prm = s.params;
    prm[P_TASK] = TASK_PARTITION;
    prm[P_A] = begin;
    prm[P_B] = end;
    prm[P_C] = perItem;
    prm[P_D] = feature;
    prm[P_E] = thr;
    prm[P_F] = missingLeft ? 1 : 0;
    prm[P_G] = this.rowsAreIdentity ? 1 : 0;
    pool.run(items);
    // The whole range of rows[] is written below (every row goes left or right), so from here on
    // rows[] holds the real order.
    this.rowsAreIdentity = false;
    const { rows, partLeft, partRight, partCount } = s;
    if (count >= POOL_COPY_BACK_ROWS) {
      // Large ranges are copied back by the pool too (one more hand-out, half the copying each).
      let left = 0;
      for (let k = 0; k < items; k++) left += partCount[k];
      prm[P_TASK] = TASK_COPY_BACK;
      prm[P_D] = items;
      pool.run(items);
      return begin + left;
    }
    // Small ones with a few memcpy calls here: cheaper than another hand-out to the pool (each
    // is a synchronisation point, costly when the machine is oversubscribed).
    let dst = begin;
    for (let k = 0; k < items; k++) {
      const from = begin + k * perItem;
      rows.set(partLeft.subarray(from, from + partCount[k]), dst);
      dst += partCount[k];
    }
    const mid = dst;
    for (let k = 0; k < items; k++) {
      const from = begin + k * perItem;
      const to = Math.min(end, from + perItem);
      const rightCount = Math.max(0, to - from) - partCount[k];
      rows.set(partRight.subarray(from, from + rightCount), dst);
      dst += rightCount;
    }
    return mid;
  }

  private split(tree: Tree, leaf: number, newLeaf: number, numUsed: number): void {
    const { s } = this;
    const cand = this.leafBest[leaf];
    const node = this.leafNode[leaf];
    const begin = this.leafBegin[leaf];
    const end = this.leafEnd[leaf];
    const f = cand.feature;
    const thr = cand.bin;
    const missLeft = cand.missingLeft;
    const mid = this.partition(begin, end, f, thr, missLeft);
    const leftCount = mid - begin;
    const rightCount = end - mid;
    if (leftCount !== cand.leftCount) {
      throw new Error(
        `internal: split of feature ${f} sent ${leftCount} rows left, histogram said ${cand.leftCount}`,
      );
    }

    const leftNode = tree.numNodes;
    const rightNode = tree.numNodes + 1;
    tree.numNodes += 2;
    tree.feature[node] = f;
    tree.binThreshold[node] = thr;
    const edges = s.edges;
    tree.threshold[node] = thr === 0 ? Number.NEGATIVE_INFINITY : edges[s.edgeStart[f] + thr - 1];
    tree.missingLeft[node] = missLeft ? 1 : 0;
    tree.left[node] = leftNode;
    tree.right[node] = rightNode;
    tree.gain[node] = cand.gain;

    const g = this.leafGrad[leaf];
    const h = this.leafHess[leaf];
    const lg = cand.leftGrad;
    const lh = cand.leftHess;
    const rg = g - lg;
    const rh = h - lh;
    const depth = tree.depth[node] + 1;
    for (const [child, cg, ch, cc] of [
      [leftNode, lg, lh, leftCount],
      [rightNode, rg, rh, rightCount],
    ] as const) {
      tree.depth[child] = depth;
      tree.count[child] = cc;
      tree.value[child] = this.output(cg, ch);
    }

    // The left child keeps the leaf's index, the right child takes newLeaf.
    const parentSlot = this.leafSlot[leaf];
    this.leafBegin[leaf] = begin;
    this.leafEnd[leaf] = mid;
    this.leafNode[leaf] = leftNode;
    this.leafGrad[leaf] = lg;
    this.leafHess[leaf] = lh;
    this.leafBegin[newLeaf] = mid;
    this.leafEnd[newLeaf] = end;
    this.leafNode[newLeaf] = rightNode;
    this.leafGrad[newLeaf] = rg;
    this.leafHess[newLeaf] = rh;

    // The split that fills the tree: its children's best splits would never be used, so their
    // histograms are not built.
    const full = newLeaf + 1 >= this.p.numLeaves;
    const leftSplittable = !full && this.canSplit(leftCount, lh, depth);
    const rightSplittable = !full && this.canSplit(rightCount, rh, depth);
    if (!leftSplittable && !rightSplittable) {
      this.leafBest[leaf] = NO_SPLIT;
      this.leafBest[newLeaf] = NO_SPLIT;
      this.leafSlot[newLeaf] = newLeaf;
      return;
    }
    // Build the smaller child's histogram; the larger one is the parent's minus it.
    const smallerIsLeft = leftCount <= rightCount;
    const freeSlot = newLeaf;
    const smallerSlot = freeSlot;
    const largerSlot = parentSlot;
    const [sb, se] = smallerIsLeft ? [begin, mid] : [mid, end];
    this.buildHistogram(sb, se, smallerSlot, numUsed, false, largerSlot);
    this.leafSlot[leaf] = smallerIsLeft ? smallerSlot : largerSlot;
    this.leafSlot[newLeaf] = smallerIsLeft ? largerSlot : smallerSlot;
    this.leafBest[leaf] = leftSplittable
      ? this.findBestSplit(this.leafSlot[leaf], lg, lh, leftCount, numUsed)
      : NO_SPLIT;
    this.leafBest[newLeaf] = rightSplittable
      ? this.findBestSplit(this.leafSlot[newLeaf], rg, rh, rightCount, numUsed)
      : NO_SPLIT;
  }

  /**
   * The best split of a leaf over the used features. For each feature the value bins are scanned
   * left to right; missing values (bin 0) are tried on both sides, and "missing alone versus all
   * values" is the bin-0 candidate. Ties keep the first candidate (lower feature, lower bin,
   * missing right before missing left), so the choice is deterministic.
   */
  private findBestSplit(slot: number, g: number, h: number, count: number, numUsed: number): SplitCandidate {
    const { s, p, totalBins } = this;
    const hist = s.hist;
    const lambda = p.lambdaL2;
    const minData = p.minDataInLeaf;
    const minHess = p.minSumHessianInLeaf;
    const parentScore = (g * g) / (h + lambda);
    let bestGain = Number.NEGATIVE_INFINITY;
    let bestFeature = -1;
    let bestBin = 0;
    let bestMissLeft = false;
    let bestLg = 0;
    let bestLh = 0;
    let bestLc = 0;
    for (let j = 0; j < numUsed; j++) {
      const f = s.usedFeatures[j];
      const o = (slot * totalBins + s.binOffset[f]) * 3;
      const valueBins = s.numBins[f] - 1;
      const mg = hist[o];
      const mh = hist[o + 1];
      const mc = hist[o + 2];
      let lg = 0;
      let lh = 0;
      let lc = 0;
      for (let b = 0; b < valueBins; b++) {
        if (b > 0) {
          const k = o + b * 3;
          lg += hist[k];
          lh += hist[k + 1];
          lc += hist[k + 2];
          // Missing to the right (or, with no missing rows here, to the larger side).
          const rc = count - lc;
          if (lc >= minData && rc >= minData) {
            const rh = h - lh;
            if (lh >= minHess && rh >= minHess && lh + lambda > 0 && rh + lambda > 0) {
              const rg = g - lg;
              const gain = (lg * lg) / (lh + lambda) + (rg * rg) / (rh + lambda) - parentScore;
              if (gain > bestGain) {
                bestGain = gain;
                bestFeature = f;
                bestBin = b;
                bestMissLeft = mc === 0 && lc >= rc;
                bestLg = lg;
                bestLh = lh;
                bestLc = lc;
              }
            }
          }
        }
        if (mc > 0) {
          // Missing to the left.
          const xg = lg + mg;
          const xh = lh + mh;
          const xc = lc + mc;
          const rc = count - xc;
          if (xc >= minData && rc >= minData) {
            const rh = h - xh;
            if (xh >= minHess && rh >= minHess && xh + lambda > 0 && rh + lambda > 0) {
              const rg = g - xg;
              const gain = (xg * xg) / (xh + lambda) + (rg * rg) / (rh + lambda) - parentScore;
              if (gain > bestGain) {
                bestGain = gain;
                bestFeature = f;
                bestBin = b;
                bestMissLeft = true;
                bestLg = xg;
                bestLh = xh;
                bestLc = xc;
              }
            }
          }
        }
      }
    }
    if (bestFeature < 0) return NO_SPLIT;
    return {
      gain: bestGain,
      feature: bestFeature,
      bin: bestBin,
      missingLeft: bestMissLeft,
      leftGrad: bestLg,
      leftHess: bestLh,
      leftCount: bestLc,
    };
  }
}

/**
 * Raw scores (log-odds) of row-major float32 rows, routing by value exactly as the ONNX model
 * (leafByValues), the leaves' values added to the base score in tree order.
 */
export function predictRaw(model: GbdtModel, matrix: Float32Array, numRows: number): Float64Array {
  return predictForest(flattenForest(model), matrix, numRows);
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Probabilities of class 1 from raw scores (a new array). */
export function probabilities(raw: ArrayLike<number>): Float64Array {
  const out = new Float64Array(raw.length);
  for (let i = 0; i < out.length; i++) out[i] = sigmoid(raw[i]);
  return out;
}

/** Probabilities of class 1 for row-major float32 rows. */
export function predictProbability(model: GbdtModel, matrix: Float32Array, numRows: number): Float64Array {
  const raw = predictRaw(model, matrix, numRows);
  for (let i = 0; i < numRows; i++) raw[i] = sigmoid(raw[i]);
  return raw;
}

/** predictProbability on `threads` threads (workers started for the call when the input is large). */
export async function predictProbabilityParallel(
  model: GbdtModel,
  matrix: Float32Array,
  numRows: number,
  threads: number,
): Promise<Float64Array> {
  return (await predictProbabilityWhile(model, matrix, numRows, threads, () => undefined)).p;
}

/** predictProbabilityParallel, running `meanwhile` on the calling thread first (predictForestWhile). */
export async function predictProbabilityWhile<T>(
  model: GbdtModel,
  matrix: Float32Array,
  numRows: number,
  threads: number,
  meanwhile: () => T | Promise<T>,
): Promise<{ p: Float64Array; meanwhile: T }> {
  const scored = await predictForestWhile(flattenForest(model), matrix, numRows, threads, meanwhile);
  const raw = scored.scores;
  for (let i = 0; i < numRows; i++) raw[i] = sigmoid(raw[i]);
  return { p: raw, meanwhile: scored.meanwhile };
}

/** Columns (NaN = missing) to the row-major float32 matrix the model and ONNX take. */
export function toRowMajorFloat32(columns: ArrayLike<number>[], numRows: number): Float32Array {
  const F = columns.length;
  const out = new Float32Array(numRows * F);
  for (let f = 0; f < F; f++) {
    const c = columns[f];
    for (let r = 0; r < numRows; r++) out[r * F + f] = c[r];
  }
  return out;
}
