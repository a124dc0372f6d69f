import { describe, expect, it } from '@jest/globals';
import {
  allocateViews,
  predictProbability,
  predictProbabilityParallel,
  predictRaw,
  probabilities,
  toRowMajorFloat32,
  trainGbdt,
  type GbdtModel,
  type LabelledColumns,
} from '#lib/model/gbdt/booster.ts';
import { drainWorkItems, KERNELS, rehearseKernels, TASK_VALID_SCORE } from '#lib/model/gbdt/kernels.ts';
import {
  flattenForest,
  predictForest,
  predictForestParallel,
  predictForestWhile,
} from '#lib/model/gbdt/predict.ts';
import { Prng } from '#lib/model/gbdt/prng.ts';
import { leafByValues } from '#lib/model/gbdt/tree.ts';
import {
  chooseModelThreshold,
  evaluateModel,
  scoreTest,
  type TrainingPart,
} from '#lib/model/train-stages.ts';
import type { Table } from '#lib/model/table.ts';
import { syntheticTable, type SyntheticTable } from '../synthetic-data.ts';

function slice(t: SyntheticTable, from: number, to: number): LabelledColumns {
  return {
    numRows: to - from,
    columns: t.columns.map((c) => c.subarray(from, to)),
    label: t.label.subarray(from, to),
  };
}

/** The scores the trainer gave before validation moved to the pool: one tree, one row at a time. */
function referenceRaw(model: GbdtModel, matrix: Float32Array, numRows: number): Float64Array {
  const F = model.numFeatures;
  const out = new Float64Array(numRows).fill(model.baseScore);
  for (const tree of model.trees) {
    for (let r = 0; r < numRows; r++) out[r] += tree.value[leafByValues(tree, matrix, r * F)];
  }
  return out;
}

/** The validation logloss as trainGbdt computed it serially: per row, summed in row order. */
function referenceLogloss(score: Float64Array, label: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < score.length; i++) {
    const s = score[i];
    const z = label[i] === 1 ? -s : s;
    sum += z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
  }
  return sum / Math.max(1, score.length);
}

const table = syntheticTable(30_000, 21);
const train = slice(table, 0, 20_000);
// Not a multiple of 4 or of a work item's rows: every walk's tail is exercised.
const valid = slice(table, 20_000, 25_003);
const test = slice(table, 25_003, 30_000);
const validMatrix = toRowMajorFloat32(valid.columns, valid.numRows);

describe('validation scored in the pool', () => {
  it('records each tree’s validation logloss within 1e-12 of the serial sum over predicted scores, the same to the bit on 1 and 2 threads', async () => {
    const run = (numThreads: number) =>
      trainGbdt(train, {
        valid,
        params: { numTrees: 12, learningRate: 0.2, numLeaves: 15, earlyStoppingRounds: 0, numThreads },
      });
    const [one, two] = [await run(1), await run(2)];
    expect(one.history).toHaveLength(12);
    expect(two.history.map((h) => h.validLogloss)).toEqual(one.history.map((h) => h.validLogloss));
    for (let k = 1; k <= one.model.trees.length; k++) {
      const prefix = { ...one.model, trees: one.model.trees.slice(0, k) };
      const expected = referenceLogloss(referenceRaw(prefix, validMatrix, valid.numRows), valid.label);
      const got = one.history[k - 1].validLogloss ?? Number.NaN;
      expect(Math.abs(got - expected) / expected).toBeLessThan(1e-12);
    }
  });

  it('takes the logloss of rows whose e^z leaves [1e-200, 1e15] from their scores, overflow and underflow included', () => {
    // One leaf (value 0.5) for every row; scores from -800 to 800 on both labels, expZ = e^z as
    // the trainer keeps it (Infinity and 0 at the ends).
    const scores = [-800, -460, -50, -36, -3, 0, 3, 33, 36, 50, 460, 800];
    const rows = 2 * scores.length;
    const views = allocateViews(64, 1, 255, 2, rows);
    const label = new Uint8Array(rows);
    const before = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      label[i] = i & 1;
      before[i] = scores[i >> 1];
      const z = label[i] === 1 ? -before[i] : before[i];
      views.valid.label[i] = label[i];
      views.valid.score[i] = before[i];
      views.valid.expZ[i] = Math.exp(z);
    }
    views.treeNext[0] = 0;
    views.treeNext[1] = 0;
    views.treeValue[0] = 0.5;
    views.treeFactor[0] = Math.exp(0.5);
    views.treeFactor[1] = Math.exp(-0.5);
    views.params[2] = rows;
    views.params[3] = 0;
    KERNELS[TASK_VALID_SCORE](views, 0);
    const after = before.map((v) => v + 0.5);
    expect(views.valid.score).toEqual(after);
    const expected = referenceLogloss(after, label) * rows;
    expect(Math.abs(views.valid.lossSum[0] - expected) / expected).toBeLessThan(1e-12);
    for (let i = 0; i < rows; i++) {
      const z = label[i] === 1 ? -after[i] : after[i];
      const e = views.valid.expZ[i];
      if (Number.isFinite(Math.exp(z)) && Math.exp(z) > 0)
        expect(Math.abs(e - Math.exp(z)) / Math.exp(z)).toBeLessThan(1e-12);
      else expect(e).toBe(Math.exp(z));
    }
  });

  it.each([1, 2])(
    'returns the kept trees’ validation scores, bit for bit a prediction’s, when early stopping cuts trees (%i threads)',
    async (numThreads) => {
      const r = await trainGbdt(train, {
        valid,
        params: { numTrees: 300, learningRate: 0.5, numLeaves: 31, earlyStoppingRounds: 4, numThreads },
      });
      expect(r.stopReason).toBe('early-stopping');
      expect(r.bestIteration).toBeLessThan(r.treesBuilt);
      expect(r.validRaw).toEqual(referenceRaw(r.model, validMatrix, valid.numRows));
    },
  );

  it('returns the last trees’ validation scores when every tree is kept', async () => {
    const r = await trainGbdt(train, {
      valid,
      params: { numTrees: 8, numLeaves: 7, earlyStoppingRounds: 0, numThreads: 2 },
    });
    expect(r.model.trees).toHaveLength(8);
    expect(r.validRaw).toEqual(referenceRaw(r.model, validMatrix, valid.numRows));
  });

  it('has no validation scores without a validation set', async () => {
    const r = await trainGbdt(train, { params: { numTrees: 2, numThreads: 1 } });
    expect(r.validRaw).toBeUndefined();
  });

  it('rehearses the validation kernels on a table of its own', () => {
    const views = allocateViews(4096, 7, 255, 4, 1024);
    rehearseKernels(views, KERNELS, drainWorkItems, 3);
    // Binned: bin 0 for the missing values, bin 1 (no edges in the rehearsal) for the others.
    for (let r = 0; r < 1024; r++) {
      for (let f = 0; f < 7; f++) expect(views.valid.bins[r * 7 + f]).toBe((r + f) % 3 === 0 ? 0 : 1);
    }
    // Three rounds of one tree each, every row scored and its loss computed.
    expect(views.valid.score.every((v) => v !== 0 && Number.isFinite(v))).toBe(true);
    expect(views.valid.expZ.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
    expect(views.valid.lossSum.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
  });
});

describe('forest scoring', () => {
  let model: GbdtModel;
  const big = syntheticTable(20_003, 5);
  const bigMatrix = toRowMajorFloat32(big.columns, big.numRows);

  it('scores exactly as walking each tree with leafByValues, missing values and tails included', async () => {
    model = (
      await trainGbdt(train, { params: { numTrees: 300, learningRate: 0.1, numLeaves: 31, numThreads: 2 } })
    ).model;
    const expected = referenceRaw(model, bigMatrix, big.numRows);
    expect(predictRaw(model, bigMatrix, big.numRows)).toEqual(expected);
    // Rows that sit on thresholds and signed zeros, infinities and NaN in every feature.
    const F = model.numFeatures;
    const edgeRows: number[] = [];
    for (const tree of model.trees.slice(0, 20)) {
      for (let k = 0; k < tree.numNodes; k++) {
        if (tree.left[k] < 0) continue;
        const row = Array.from(bigMatrix.subarray(0, F));
        row[tree.feature[k]] = tree.threshold[k];
        edgeRows.push(...row);
      }
    }
    for (const v of [Number.NaN, 0, -0, Infinity, -Infinity]) edgeRows.push(...new Array<number>(F).fill(v));
    const edges = Float32Array.from(edgeRows);
    const n = edges.length / F;
    expect(predictForest(flattenForest(model), edges, n)).toEqual(referenceRaw(model, edges, n));
  });

  it.each([1, 2, 3])('gives the same scores on %i threads, workers included', async (threads) => {
    // 20,003 rows x 300 trees is above the walks that start workers.
    const forest = flattenForest(model);
    const expected = predictForest(forest, bigMatrix, big.numRows);
    expect(await predictForestParallel(forest, bigMatrix, big.numRows, threads)).toEqual(expected);
    expect(await predictProbabilityParallel(model, bigMatrix, big.numRows, threads)).toEqual(
      predictProbability(model, bigMatrix, big.numRows),
    );
  });

  it.each([1, 2, 3])(
    'runs meanwhile once on the calling thread beside %i-thread scoring and returns its value',
    async (threads) => {
      const forest = flattenForest(model);
      const expected = predictForest(forest, bigMatrix, big.numRows);
      let calls = 0;
      const scored = await predictForestWhile(forest, bigMatrix, big.numRows, threads, async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return 'side work';
      });
      expect(calls).toBe(1);
      expect(scored.meanwhile).toBe('side work');
      expect(scored.scores).toEqual(expected);
    },
  );

  it('passes on what meanwhile throws, and the next call scores as before', async () => {
    const forest = flattenForest(model);
    await expect(
      predictForestWhile(forest, bigMatrix, big.numRows, 2, () => {
        throw new Error('side work failed');
      }),
    ).rejects.toThrow('side work failed');
    // The next call starts its own workers and scores as before.
    expect(await predictForestParallel(forest, bigMatrix, big.numRows, 2)).toEqual(
      predictForest(forest, bigMatrix, big.numRows),
    );
  });

  it('refuses a matrix of the wrong size and a bad thread count', async () => {
    const forest = flattenForest(model);
    expect(() => predictForest(forest, new Float32Array(10), 2)).toThrow(/expected 2 x 6/);
    await expect(predictForestParallel(forest, bigMatrix, big.numRows, 0)).rejects.toThrow(/threads/);
  });

  it('scores a forest of no trees as the base score', () => {
    const empty = flattenForest({ numFeatures: 2, baseScore: -1.5, trees: [] });
    expect(Array.from(predictForest(empty, new Float32Array(6), 3))).toEqual([-1.5, -1.5, -1.5]);
  });
});

describe('train stages reuse the scores training computed', () => {
  const asPart = (c: LabelledColumns): TrainingPart => ({
    numRows: c.numRows,
    columns: c.columns.map((col) => Float64Array.from(col)),
    label: Uint8Array.from(c.label),
  });

  it('chooses the same threshold from the kept validation scores as from a prediction', async () => {
    const r = await trainGbdt(train, {
      valid,
      params: { numTrees: 200, learningRate: 0.3, earlyStoppingRounds: 5, numThreads: 2 },
    });
    const policy = { kind: 'max-f1' } as const;
    const fromPrediction = chooseModelThreshold(r.model, asPart(valid), policy);
    const fromTraining = chooseModelThreshold(r.model, asPart(valid), policy, r.validRaw);
    expect(fromTraining.pValid).toEqual(fromPrediction.pValid);
    expect(fromTraining.threshold).toBe(fromPrediction.threshold);
    expect(probabilities(r.validRaw as Float64Array)).toEqual(fromPrediction.pValid);
  });

  it('evaluates the same with the test rows scored in parallel as scored in evaluateModel', async () => {
    const r = await trainGbdt(train, { params: { numTrees: 40, numThreads: 2 } });
    const prng = new Prng(3);
    const t: Table = {
      path: 'fixture.parquet',
      numRows: test.numRows,
      schema: [{ name: 'age', kind: 'numeric', sqlType: 'DOUBLE' }],
      columns: new Map([
        [
          'age',
          {
            kind: 'numeric',
            name: 'age',
            sqlType: 'DOUBLE',
            values: Float64Array.from({ length: test.numRows }, () => 18 + Math.floor(prng.next() * 60)),
          },
        ],
      ]),
    };
    const testRows = Uint32Array.from({ length: test.numRows }, (_, i) => i);
    const pValid = predictProbability(r.model, validMatrix, valid.numRows);
    const options = {
      table: t,
      testRows,
      test: asPart(test),
      valid: asPart(valid),
      pValid,
      threshold: 0.1,
      inputPath: 'fixture.parquet',
    };
    const plain = evaluateModel(r.model, options);
    const scored = await scoreTest(r.model, asPart(test), 2);
    const reused = evaluateModel(r.model, { ...options, scored });
    expect(reused.pTest).toEqual(plain.pTest);
    expect(reused.testMatrix).toEqual(plain.testMatrix);
    expect(reused.test).toEqual(plain.test);
    expect(reused.sliceResult).toEqual(plain.sliceResult);
  });
});
