import { describe, expect, it } from '@jest/globals';
import {
  BIN_INDEX_SIZE,
  binOf,
  computeBinEdges,
  fillBinIndex,
  sortFloat32,
} from '#lib/model/gbdt/binning.ts';
import {
  binKernel,
  drainWorkItems,
  histogramKernel,
  KERNELS,
  rehearseKernels,
  TASK_HISTOGRAM,
  type SharedViews,
} from '#lib/model/gbdt/kernels.ts';
import {
  allocateViews,
  binColumns,
  predictProbability,
  predictRaw,
  toRowMajorFloat32,
  trainGbdt,
  type LabelledColumns,
} from '#lib/model/gbdt/booster.ts';
import { Prng } from '#lib/model/gbdt/prng.ts';
import { REHEARSAL_DONE, REHEARSAL_ROUNDS, WorkerPool } from '#lib/model/gbdt/pool.ts';
import { leafByBins, numLeaves } from '#lib/model/gbdt/tree.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';
import { syntheticTable, type SyntheticTable } from '../synthetic-data.ts';

function slice(t: SyntheticTable, from: number, to: number): LabelledColumns {
  return {
    numRows: to - from,
    columns: t.columns.map((c) => c.subarray(from, to)),
    label: t.label.subarray(from, to),
  };
}

const table = syntheticTable(12_000, 11);
const train = slice(table, 0, 8000);
const valid = slice(table, 8000, 10_000);
const test = slice(table, 10_000, 12_000);
const small = { numTrees: 40, learningRate: 0.1, numLeaves: 15 };

describe('quantile binning', () => {
  it('sorts float32 samples exactly as Float32Array.prototype.sort does, signed zeros and infinities included', () => {
    const prng = new Prng(9);
    const special = [
      0,
      -0,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1e-45,
      -1e-45,
      3.4e38,
      -3.4e38,
    ];
    const values = Float32Array.from({ length: 4000 }, (_, i) =>
      i % 7 === 0
        ? special[i % special.length]
        : (prng.next() - 0.5) * 10 ** Math.floor(prng.next() * 20 - 10),
    );
    const expected = new Uint32Array(values.slice().sort().buffer);
    const actual = new Uint32Array(sortFloat32(values).buffer);
    expect(Array.from(actual)).toEqual(Array.from(expected));
  });

  it('sorts samples where every key shares a digit (small integers, a narrow range, one value) like Float32Array.prototype.sort', () => {
    const prng = new Prng(21);
    const samples = [
      Float32Array.from({ length: 3000 }, () => Math.floor(prng.next() * 90) - 20),
      Float32Array.from({ length: 3000 }, () => 1 + prng.next() / 128),
      // Mostly small integers (one low digit), a fifth not: the low digit must still be sorted on.
      Float32Array.from({ length: 3000 }, (_, i) =>
        i % 5 === 4 ? prng.next() * 50 : Math.floor(prng.next() * 50),
      ),
      new Float32Array(3000).fill(-2.5),
      new Float32Array(0),
    ];
    for (const values of samples) {
      const expected = Array.from(new Uint32Array(values.slice().sort().buffer));
      expect(Array.from(new Uint32Array(sortFloat32(values).buffer))).toEqual(expected);
    }
  });

  it('routes every value to a bin consistent with the x < edge rule the exported trees use', () => {
    const prng = new Prng(5);
    const values = Float32Array.from({ length: 5000 }, () => Math.fround((prng.next() - 0.5) * 1e4));
    values[0] = Number.NEGATIVE_INFINITY;
    values[1] = Number.POSITIVE_INFINITY;
    const edges = computeBinEdges(values, 32);
    expect(edges.length).toBe(31);
    const disagreements: string[] = [];
    for (const x of values) {
      const b = binOf(x, edges);
      for (let k = 1; k <= edges.length; k++)
        if (b <= k !== x < edges[k - 1]) disagreements.push(`${x} vs edge ${k}`);
    }
    expect(disagreements).toEqual([]);
  });

  it('bins in training (binKernel, through the 16-bit prefix index) exactly as binOf does, and counts each bin', () => {
    const prng = new Prng(13);
    const special = [
      0,
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1e-45,
      -1e-45,
      3.4e38,
      -3.4e38,
      1,
      -1,
    ];
    // Feature 0: wide-ranging values; feature 1: 3,000 neighbouring float32s around 1 and -1, so
    // hundreds of edges share one 16-bit prefix and the search inside a prefix is exercised.
    const wide = Float32Array.from({ length: 6000 }, (_, i) =>
      i % 5 === 0
        ? special[i % special.length]
        : (prng.next() - 0.5) * 10 ** Math.floor(prng.next() * 30 - 15),
    );
    const crowded = new Float32Array(6000);
    const word = new Uint32Array(1);
    const asFloat = new Float32Array(word.buffer);
    for (let i = 0; i < crowded.length; i++) {
      word[0] = ((i % 2 === 0 ? 0x3f800000 : 0xbf800000) + Math.floor(prng.next() * 3000)) >>> 0;
      crowded[i] = i % 11 === 0 ? special[i % special.length] : asFloat[0];
    }
    const cases: [Float32Array, Float32Array][] = [
      [wide, computeBinEdges(wide, 255)],
      [crowded, computeBinEdges(crowded, 255)],
      // Signed zeros as edges: -0 sorts as +0, so -0 and +0 values land alike on both sides.
      [wide, Float32Array.from([-1e-45, 0, 1e-45])],
      [wide, Float32Array.from([-0])],
      [wide, new Float32Array(0)],
    ];
    for (const [values, edges] of cases) {
      const n = values.length;
      const binIndex = new Uint8Array(2 * BIN_INDEX_SIZE);
      // The edges are feature 1's (feature 0 has none), so the feature's offset in the index counts.
      fillBinIndex(new Float32Array(0), binIndex.subarray(0, BIN_INDEX_SIZE));
      fillBinIndex(edges, binIndex.subarray(BIN_INDEX_SIZE));
      const views = {
        params: Float64Array.from([1, 0, 1024, Math.ceil(n / 1024)]),
        numRows: n,
        numFeatures: 2,
        raw: [new Float32Array(n), values],
        edges,
        edgeStart: Int32Array.from([0, 0, edges.length]),
        binIndex,
        bins: [new Uint8Array(n), new Uint8Array(n)],
        binCountParts: new Int32Array(2 * Math.ceil(n / 1024) * 256),
        packed: new Uint32Array(n),
        packedWords: 1,
      } as unknown as SharedViews;
      for (let item = 0; item < 2 * Math.ceil(n / 1024); item++) binKernel(views, item);
      const rowMajor = new Uint8Array(views.packed.buffer);
      const wrong: string[] = [];
      for (let r = 0; r < n; r++) {
        const expected = binOf(values[r], edges);
        if (views.bins[1][r] !== expected || rowMajor[4 * r + 1] !== expected)
          wrong.push(`${values[r]}: ${views.bins[1][r]} vs ${expected}`);
      }
      expect(wrong.slice(0, 5)).toEqual([]);
      // Each item counted its rows per bin: feature 1's items sum to the bins' counts.
      const counted = new Array<number>(256).fill(0);
      const chunks = Math.ceil(n / 1024);
      for (let c = 0; c < chunks; c++)
        for (let b = 0; b < 256; b++) counted[b] += views.binCountParts[(chunks + c) * 256 + b];
      const expected = new Array<number>(256).fill(0);
      for (const b of views.bins[1]) expected[b]++;
      expect(counted).toEqual(expected);
      expect(new Set(views.bins[1]).size).toBe(edges.length + 1 + (values.some(Number.isNaN) ? 1 : 0));
    }
  });

  it('gives each distinct value its own bin when there are few, and NaN bin 0', () => {
    const edges = computeBinEdges(Float32Array.from([3, 1, 2, 2, Number.NaN, 3, 1]), 255);
    expect([...edges]).toEqual([1.5, 2.5]);
    expect([binOf(1, edges), binOf(2, edges), binOf(3, edges), binOf(Number.NaN, edges)]).toEqual([
      1, 2, 3, 0,
    ]);
  });

  it('keeps a frequent value (a spike) out of its neighbours bins', () => {
    const values = new Float32Array(10_000);
    for (let i = 0; i < values.length; i++) values[i] = i % 2 === 0 ? 0 : i;
    const edges = computeBinEdges(values, 16);
    const zeroBin = binOf(0, edges);
    expect(binOf(1, edges)).not.toBe(zeroBin);
    expect(binOf(-1, edges)).toBe(zeroBin);
  });
});

/** What `rounds` rounds of rehearseKernels leave on a 4,096-row rehearsal table. */
function expectRehearsed(views: SharedViews, rounds: number): void {
  const numFeatures = views.numFeatures;
  // Partitions and copy-backs keep rows[] a permutation.
  expect(Array.from(views.rows).sort((a, b) => a - b)).toEqual(Array.from({ length: 4096 }, (_, i) => i));
  // The last round's below-root histogram (slot 1) counts every row of its half once per feature.
  const numUsed = numFeatures - ((rounds - 1) % Math.min(numFeatures, 4));
  const slotBins = numFeatures * 256 + 1;
  for (let f = 0; f < numUsed; f++) {
    let rows = 0;
    for (let b = 0; b < 256; b++) rows += views.hist[(slotBins + 256 * f + b) * 3 + 2];
    expect(rows).toBe(2048);
  }
  expect(views.hist.every(Number.isFinite)).toBe(true);
  expect(views.expNegScore.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
}

/**
 * A below-root histogram of a scattered leaf (every third row and a few more), one work item, by
 * histogramKernel into slot 0, against a loop that adds each row's float32 gradient and hessian
 * to its bins in row order: the same adds in the same order, so the same bits.
 */
function expectLeafHistogramLikeSequentialSum(numFeatures: number, used: number[]): void {
  const n = 3000;
  const views = allocateViews(n, numFeatures, 255, 4);
  const stride = views.packedWords * 4;
  const rowMajor = new Uint8Array(views.packed.buffer, views.packed.byteOffset, views.packed.length * 4);
  const prng = new Prng(7 + numFeatures);
  for (let f = 0; f <= numFeatures; f++) views.binOffset[f] = 256 * f;
  for (let f = 0; f < numFeatures; f++) views.numBins[f] = 256;
  for (let r = 0; r < n; r++) {
    for (let f = 0; f < numFeatures; f++) {
      // Few bins for some features (long runs of rows in one bin), many for others.
      const b = Math.floor(prng.next() * (f % 2 === 0 ? 3 : 256));
      views.bins[f][r] = b;
      rowMajor[r * stride + f] = b;
    }
    views.gradHess[2 * r] = prng.next() - 0.7;
    views.gradHess[2 * r + 1] = prng.next() * 0.25;
  }
  const leaf = Array.from({ length: n }, (_, r) => r).filter((r) => r % 3 === 0 || r % 7 === 1);
  views.rows.set(leaf);
  used.forEach((f, j) => (views.usedFeatures[j] = f));
  const p = views.params;
  p[0] = TASK_HISTOGRAM;
  p[2] = 0;
  p[3] = leaf.length;
  p[4] = leaf.length;
  p[5] = 0;
  p[6] = used.length;
  p[7] = 0;
  p[8] = 4 * (numFeatures * 256 + 1);
  histogramKernel(views, 0);
  for (const f of used) {
    const expected = new Float64Array(256 * 3);
    for (const r of leaf) {
      const k = views.bins[f][r] * 3;
      expected[k] += views.gradHess[2 * r];
      expected[k + 1] += views.gradHess[2 * r + 1];
      expected[k + 2] += 1;
    }
    expect(views.hist.slice(256 * f * 3, 256 * (f + 1) * 3)).toEqual(expected);
  }
}

describe('histogram GBDT', () => {
  it('sums a leaf histogram bit for bit as a sequential loop, from row-major or column bins', () => {
    // Every feature used, at most 8: the row-major bins (one word or two, padding skipped or in
    // the spare bin); some features or more than 8: the column bins, up to 4 per pass.
    for (const numFeatures of [1, 3, 4, 5, 7, 8]) {
      expectLeafHistogramLikeSequentialSum(
        numFeatures,
        Array.from({ length: numFeatures }, (_, f) => f),
      );
    }
    expectLeafHistogramLikeSequentialSum(7, [0, 2, 3, 5, 6]);
    expectLeafHistogramLikeSequentialSum(9, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('rehearses every kernel on a synthetic table of its own without breaking its invariants (1 to 8 features)', () => {
    for (const numFeatures of [1, 3, 7, 8]) {
      const views = allocateViews(4096, numFeatures, 255, 4);
      rehearseKernels(views, KERNELS, drainWorkItems, 4);
      expectRehearsed(views, 4);
    }
  });

  it('runs the rehearsal in every worker thread to the end, each on a table of its own', async () => {
    const made: SharedViews[] = [];
    const pool = new WorkerPool(allocateViews(8, 7, 255, 4), 3, () => {
      made.push(allocateViews(4096, 7, 255, 4));
      return made[made.length - 1];
    });
    try {
      expect(made.length).toBe(2);
      for (const rehearsal of made) {
        for (let i = 0; i < 400 && Atomics.load(rehearsal.control, REHEARSAL_DONE) === 0; i++)
          await new Promise((r) => setTimeout(r, 50));
        expect(Atomics.load(rehearsal.control, REHEARSAL_DONE)).toBe(1);
        expectRehearsed(rehearsal, REHEARSAL_ROUNDS);
      }
    } finally {
      await pool.close();
    }
  });

  it('learns the synthetic relation: holdout AUC close to that of the true probabilities', async () => {
    const r = await trainGbdt(train, { valid, params: { ...small, numThreads: 2 } });
    const p = predictProbability(r.model, toRowMajorFloat32(test.columns, test.numRows), test.numRows);
    const auc = binaryMetrics(test.label, p, 0.5).auc;
    const truthAuc = binaryMetrics(test.label, table.truth.subarray(10_000), 0.5).auc;
    expect(auc).toBeGreaterThan(0.65);
    expect(auc).toBeGreaterThan(truthAuc - 0.05);
  });

  it('gives bit-identical trees for the same seed, with 1 or 2 threads', async () => {
    // Big enough that histograms, gradients and binning are split into several work items.
    const big = syntheticTable(60_000, 12);
    const train = { numRows: big.numRows, columns: big.columns, label: big.label };
    const params = {
      ...small,
      numTrees: 15,
      baggingFraction: 0.7,
      baggingFreq: 1,
      featureFraction: 0.8,
      seed: 3,
    };
    const a = await trainGbdt(train, { params: { ...params, numThreads: 1 } });
    const b = await trainGbdt(train, { params: { ...params, numThreads: 2 } });
    expect(b.model.trees.length).toBe(a.model.trees.length);
    a.model.trees.forEach((t, i) => {
      expect(b.model.trees[i].value).toEqual(t.value);
      expect(b.model.trees[i].threshold).toEqual(t.threshold);
      expect(b.model.trees[i].feature).toEqual(t.feature);
    });
    const c = await trainGbdt(train, { params: { ...params, seed: 4, numThreads: 2 } });
    expect(
      c.model.trees.some(
        (t, i) =>
          t.numNodes !== a.model.trees[i].numNodes || t.value.some((v, k) => v !== a.model.trees[i].value[k]),
      ),
    ).toBe(true);
  });

  it.each([9, 7, 6])(
    'finds the root split a brute-force search over every feature and bin finds, with %i features',
    async (F) => {
      // The root's histogram has its own path (row-major bins, 4 features per word, 8 per pass, and
      // the table's bin counts instead of counting): 9 features take both the 8-feature pass and
      // the single-word pass; 7 and 6 take a pass over a pair whose second word is partly padding
      // (not summed). The strongest feature is the last one, read by the pass under test.
      const n = 50_000;
      const prng = new Prng(77);
      const columns = Array.from({ length: F }, () => new Float64Array(n));
      const label = new Uint8Array(n);
      for (let r = 0; r < n; r++) {
        for (let f = 0; f < F; f++)
          columns[f][r] = f === 4 ? Math.floor(prng.next() * 3) : Math.round(prng.next() * 1000) / 10;
        const z = -2 + 0.04 * columns[F - 1][r] - 0.01 * columns[0][r] + 0.3 * columns[4][r];
        label[r] = prng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
      }
      const r = await trainGbdt(
        { numRows: n, columns, label },
        { params: { numTrees: 1, numLeaves: 4, minDataInLeaf: 20, lambdaL2: 0, numThreads: 2 } },
      );
      const edges = r.model.binEdges;
      const p = 1 / (1 + Math.exp(-r.model.baseScore));
      let best = { gain: Number.NEGATIVE_INFINITY, feature: -1, bin: -1 };
      for (let f = 0; f < F; f++) {
        const k = edges[f].length + 2;
        const g = new Float64Array(k);
        const h = new Float64Array(k);
        const c = new Float64Array(k);
        for (let i = 0; i < n; i++) {
          const b = binOf(Math.fround(columns[f][i]), edges[f]);
          // Gradients and hessians are float32 (as LightGBM's), summed in float64.
          g[b] += Math.fround(p - label[i]);
          h[b] += Math.fround(p * (1 - p));
          c[b]++;
        }
        const G = g.reduce((a, b) => a + b, 0);
        const H = h.reduce((a, b) => a + b, 0);
        let lg = 0;
        let lh = 0;
        let lc = 0;
        for (let b = 1; b <= edges[f].length; b++) {
          lg += g[b];
          lh += h[b];
          lc += c[b];
          if (lc < 20 || n - lc < 20) continue;
          const gain = (lg * lg) / lh + ((G - lg) * (G - lg)) / (H - lh) - (G * G) / H;
          if (gain > best.gain) best = { gain, feature: f, bin: b };
        }
      }
      const root = r.model.trees[0];
      expect(best.feature).toBe(F - 1);
      expect(root.feature[0]).toBe(best.feature);
      expect(root.binThreshold[0]).toBe(best.bin);
      expect(root.gain[0]).toBeCloseTo(best.gain, 6);
      // The children's counts are the rows the split sends each way.
      let left = 0;
      for (let i = 0; i < n; i++) if (binOf(Math.fround(columns[F - 1][i]), edges[F - 1]) <= best.bin) left++;
      expect(root.count[root.left[0]]).toBe(left);
      expect(root.count[root.right[0]]).toBe(n - left);
    },
  );

  it('respects numLeaves, maxDepth and minDataInLeaf', async () => {
    const r = await trainGbdt(train, {
      params: { numTrees: 10, numLeaves: 7, maxDepth: 3, minDataInLeaf: 150, numThreads: 1 },
    });
    for (const t of r.model.trees) {
      expect(numLeaves(t)).toBeLessThanOrEqual(7);
      for (let node = 0; node < t.numNodes; node++) {
        expect(t.depth[node]).toBeLessThanOrEqual(3);
        if (t.left[node] < 0) expect(t.count[node]).toBeGreaterThanOrEqual(150);
      }
    }
  });

  it('sends missing values to the side they behave like (learned per split)', async () => {
    // x is missing for half of the rows, and missing rows are mostly positive, like high x.
    const n = 4000;
    const prng = new Prng(9);
    const x = new Float64Array(n);
    const label = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const missing = i % 2 === 0;
      x[i] = missing ? Number.NaN : prng.next() * 10;
      const p = missing ? 0.8 : x[i] > 5 ? 0.8 : 0.1;
      label[i] = prng.next() < p ? 1 : 0;
    }
    const r = await trainGbdt(
      { numRows: n, columns: [x], label },
      { params: { numTrees: 5, numLeaves: 2, numThreads: 1 } },
    );
    const score = (v: number) => predictRaw(r.model, Float32Array.from([v]), 1)[0];
    expect(score(Number.NaN)).toBeCloseTo(score(9), 10);
    expect(score(Number.NaN)).toBeGreaterThan(score(1));
  });

  it('stops early when validation logloss stops improving and keeps the best trees', async () => {
    const r = await trainGbdt(train, {
      valid,
      params: { numTrees: 400, learningRate: 0.5, numLeaves: 31, earlyStoppingRounds: 5, numThreads: 1 },
    });
    expect(r.stopReason).toBe('early-stopping');
    expect(r.treesBuilt).toBe(r.bestIteration + 5);
    expect(r.model.trees.length).toBe(r.bestIteration);
    const losses = r.history.map((h) => h.validLogloss ?? Infinity);
    expect(Math.min(...losses)).toBe(losses[r.bestIteration - 1]);
  });

  it('weights positives with isUnbalance, which raises the predicted probabilities', async () => {
    const plain = await trainGbdt(train, { params: { ...small, numThreads: 1 } });
    const weighted = await trainGbdt(train, { params: { ...small, isUnbalance: true, numThreads: 1 } });
    const m = toRowMajorFloat32(test.columns, test.numRows);
    const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(weighted.positiveWeight).toBeGreaterThan(3);
    expect(mean(predictProbability(weighted.model, m, test.numRows))).toBeGreaterThan(
      2 * mean(predictProbability(plain.model, m, test.numRows)),
    );
  });

  it('routes rows the same way by bins (training) and by float32 values (the exported form)', async () => {
    const r = await trainGbdt(train, { params: { ...small, numThreads: 1 } });
    const bins = binColumns(test.columns, test.numRows, r.model.binEdges);
    const byValue = predictRaw(r.model, toRowMajorFloat32(test.columns, test.numRows), test.numRows);
    for (let row = 0; row < test.numRows; row++) {
      let s = r.model.baseScore;
      for (const t of r.model.trees) s += t.value[leafByBins(t, bins, row)];
      expect(byValue[row]).toBe(s);
    }
  });
});
