import { describe, expect, it } from '@jest/globals';
import { predictRaw, toRowMajorFloat32, trainGbdt, type GbdtModel } from '#lib/model/gbdt/booster.ts';
import { TreeShapExplainer, type ExplainableModel } from '#lib/model/shap.ts';
import { bruteForceShap, randomModel, randomRows, rawScore } from './shap-brute-force.ts';
import { syntheticTable } from './synthetic-data.ts';

/** Largest |a - b| over two explanations of the same rows. */
function worstDifference(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function bruteForceRows(model: ExplainableModel, rows: Float32Array, n: number): Float64Array {
  const F = model.numFeatures;
  const out = new Float64Array(n * (F + 1));
  for (let r = 0; r < n; r++) out.set(bruteForceShap(model, rows.subarray(r * F, (r + 1) * F)), r * (F + 1));
  return out;
}

/**
 * The ways of explaining a leaf: precomputed contribution tables (per subtree by default, per
 * leaf, per pair of sibling leaves, per larger subtree), Algorithm 2 on the path, and mixes.
 */
const MODES = [
  { name: 'subtree tables (defaults)', options: {} },
  { name: 'one table per leaf', options: { maxGroupSplits: 0 } },
  { name: 'tables per split and its two children', options: { maxGroupSplits: 1 } },
  {
    name: 'subtrees of up to 15 splits, 12-bit index',
    options: { maxGroupSplits: 15, maxGroupIndexBits: 12 },
  },
  { name: 'Algorithm 2 on every path', options: { maxTableDepth: 0 } },
  { name: 'tables for paths of <= 2 features, Algorithm 2 beyond', options: { maxTableDepth: 2 } },
  { name: 'a 64-entry table budget', options: { maxTableEntries: 64 } },
  { name: 'a 600-entry table budget (subtrees split into leaves)', options: { maxTableEntries: 600 } },
] as const;

describe('TreeSHAP against brute-force Shapley values over every feature subset', () => {
  for (const { name, options } of MODES) {
    it(`random trees with consistent covers, repeated features, NaN and ties (${name})`, () => {
      for (let seed = 1; seed <= 12; seed++) {
        const F = 1 + (seed % 8);
        const model = randomModel(seed, F, 1 + (seed % 5), 24);
        const rows = randomRows(1000 + seed, F, 40);
        const ours = TreeShapExplainer.fromModel(model, options).explainRows(rows, 40);
        expect(worstDifference(ours, bruteForceRows(model, rows, 40))).toBeLessThan(1e-9);
      }
    });
  }

  it('subtree tables, leaf tables and Algorithm 2 leaves in one model, NaN routed both ways inside subtrees', () => {
    const model = randomModel(91, 6, 6, 30);
    // NaN-heavy rows: every split inside a subtree table meets missing values too.
    const rows = randomRows(92, 6, 80);
    for (let i = 0; i < rows.length; i += 3) rows[i] = Number.NaN;
    const expected = bruteForceRows(model, rows, 80);
    for (const options of [
      // Subtrees fit 6 index bits, leaves 5 path features; deeper leaves take Algorithm 2.
      { maxTableDepth: 5, maxGroupIndexBits: 6 },
      // A budget that takes some subtree tables, splits others into leaf tables, and leaves
      // the rest of the leaves to Algorithm 2.
      { maxTableEntries: 3000 },
    ]) {
      const explainer = TreeShapExplainer.fromModel(model, options);
      const { stats } = explainer;
      expect(stats.subtreeTables).toBeGreaterThan(0);
      expect(stats.tableGroups).toBeGreaterThan(stats.subtreeTables);
      expect(stats.tableLeaves).toBeGreaterThan(stats.tableGroups);
      expect(stats.pathLeaves).toBeGreaterThan(0);
      expect(stats.tableEntries).toBeLessThanOrEqual(options.maxTableEntries ?? Infinity);
      expect(worstDifference(explainer.explainRows(rows, 80), expected)).toBeLessThan(1e-9);
    }
  });

  it('a budget of 0 entries leaves every leaf to Algorithm 2', () => {
    const model = randomModel(93, 5, 3, 20);
    const explainer = TreeShapExplainer.fromModel(model, { maxTableEntries: 0 });
    expect(explainer.stats.tableGroups).toBe(0);
    expect(explainer.stats.tableEntries).toBe(0);
    const rows = randomRows(94, 5, 30);
    expect(worstDifference(explainer.explainRows(rows, 30), bruteForceRows(model, rows, 30))).toBeLessThan(
      1e-9,
    );
  });

  it('refuses covers that do not add up (the game needs row counts: a child never covers more than its parent)', () => {
    const model = randomModel(20, 6, 3, 20, false);
    expect(() => TreeShapExplainer.fromModel(model)).toThrow(/covers must add up/);
  });

  it('deep chains of up to 40 leaves on 8 features (paths past the default table depth too)', () => {
    const model = randomModel(77, 8, 4, 40);
    const stats = TreeShapExplainer.fromModel(model, { maxTableDepth: 5 }).stats;
    // The check covers both kinds of leaf.
    expect(stats.tableLeaves).toBeGreaterThan(0);
    expect(stats.pathLeaves).toBeGreaterThan(0);
    const rows = randomRows(78, 8, 60);
    const expected = bruteForceRows(model, rows, 60);
    for (const { options } of MODES) {
      const ours = TreeShapExplainer.fromModel(model, options).explainRows(rows, 60);
      expect(worstDifference(ours, expected)).toBeLessThan(1e-9);
    }
  });

  it('a GBDT trained on the synthetic credit table (6 features, 40 trees of 31 leaves)', async () => {
    const t = syntheticTable(6000, 9);
    const r = await trainGbdt(
      { numRows: 5000, columns: t.columns.map((c) => c.subarray(0, 5000)), label: t.label.subarray(0, 5000) },
      { params: { numTrees: 40, numLeaves: 31, learningRate: 0.1, numThreads: 1, earlyStoppingRounds: 0 } },
    );
    const rows = toRowMajorFloat32(
      t.columns.map((c) => c.subarray(5000, 5100)),
      100,
    );
    const expected = bruteForceRows(r.model, rows, 100);
    for (const { options } of MODES) {
      const ours = TreeShapExplainer.fromModel(r.model, options).explainRows(rows, 100);
      expect(worstDifference(ours, expected)).toBeLessThan(1e-9);
    }
  });
});

describe('TreeSHAP local accuracy and API', () => {
  let trained: GbdtModel;
  const t = syntheticTable(8000, 3);
  const rows = toRowMajorFloat32(
    t.columns.map((c) => c.subarray(6000, 8000)),
    2000,
  );

  it('bias + sum of contributions is the raw score the GBDT predicts, on every row', async () => {
    trained = (
      await trainGbdt(
        {
          numRows: 6000,
          columns: t.columns.map((c) => c.subarray(0, 6000)),
          label: t.label.subarray(0, 6000),
        },
        { params: { numTrees: 80, numThreads: 1, earlyStoppingRounds: 0 } },
      )
    ).model;
    const explainer = TreeShapExplainer.fromModel(trained);
    const out = explainer.explainRows(rows, 2000);
    const raw = predictRaw(trained, rows, 2000);
    const F = trained.numFeatures;
    let worst = 0;
    let nonZero = 0;
    for (let r = 0; r < 2000; r++) {
      let sum = 0;
      for (let f = 0; f <= F; f++) sum += out[r * (F + 1) + f];
      worst = Math.max(worst, Math.abs(sum - raw[r]));
      if (out[r * (F + 1)] !== 0) nonZero++;
    }
    expect(worst).toBeLessThan(1e-9);
    // The check is not vacuous: contributions are not all zero.
    expect(nonZero).toBeGreaterThan(1000);
  });

  it('the bias is the cover-weighted mean output: the same for every row, and E[f] of the empty coalition', () => {
    const explainer = TreeShapExplainer.fromModel(trained);
    const a = explainer.explainRow(rows.subarray(0, 6)).slice();
    const b = explainer.explainRow(rows.subarray(6, 12)).slice();
    expect(a[6]).toBe(explainer.bias);
    expect(b[6]).toBe(explainer.bias);
    // A small model so the brute force's empty coalition is cheap.
    const small = randomModel(5, 4, 3, 10);
    const x = new Float32Array([0, 1, 2, 3]);
    expect(Math.abs(TreeShapExplainer.fromModel(small).bias - bruteForceShap(small, x)[4])).toBeLessThan(
      1e-12,
    );
  });

  it('one row and the batch give the same numbers; explainRow writes into a caller buffer', () => {
    for (const { options } of MODES) {
      const explainer = TreeShapExplainer.fromModel(trained, options);
      const batch = explainer.explainRows(rows, 2000);
      const out = new Float64Array(7);
      for (const r of [0, 1, 999, 1999]) {
        const one = explainer.explainRow(rows.subarray(r * 6, (r + 1) * 6), out);
        expect(one).toBe(out);
        expect(Array.from(one)).toEqual(Array.from(batch.subarray(r * 7, (r + 1) * 7)));
      }
      // Blocks of 1 to 16 rows (what the serving batcher sends) give the batch's numbers too.
      for (const block of [2, 3, 16]) {
        const part = explainer.explainRows(rows.subarray(100 * 6, (100 + block) * 6), block);
        expect(Array.from(part)).toEqual(Array.from(batch.subarray(100 * 7, (100 + block) * 7)));
      }
    }
  });

  it('refuses rows and buffers of the wrong width', () => {
    const explainer = TreeShapExplainer.fromModel(trained);
    expect(() => explainer.explainRow(new Float32Array(5))).toThrow(/expected 6/);
    expect(() => explainer.explainRow(new Float32Array(6), new Float64Array(6))).toThrow(/expected 7/);
    expect(() => explainer.explainRows(new Float32Array(13), 2)).toThrow(/expected 2 x 6/);
  });

  it('a missing value is routed as the model routes it (local accuracy on all-NaN and infinite rows)', () => {
    const explainer = TreeShapExplainer.fromModel(trained);
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const x = new Float32Array(6).fill(v);
      const phi = explainer.explainRow(x);
      const sum = phi.reduce((s, p) => s + p, 0);
      expect(Math.abs(sum - rawScore(trained, x))).toBeLessThan(1e-9);
    }
  });

  it('a feature no tree splits on gets exactly 0', () => {
    const model = randomModel(31, 3, 4, 12);
    const wide: ExplainableModel = { ...model, numFeatures: 5 };
    const x = new Float32Array([1, 0.5, 3, 99, -99]);
    const phi = TreeShapExplainer.fromModel(wide).explainRow(x);
    expect(phi[3]).toBe(0);
    expect(phi[4]).toBe(0);
    expect(Math.abs(phi.reduce((s, p) => s + p, 0) - rawScore(wide, x))).toBeLessThan(1e-12);
  });

  it('refuses malformed trees with a message naming the tree and node', () => {
    const good = randomModel(40, 3, 1, 4).trees[0];
    const broken = (patch: Partial<Record<keyof typeof good, ArrayLike<number>>>): ExplainableModel => ({
      numFeatures: 3,
      baseScore: 0,
      trees: [{ ...good, ...patch }],
    });
    const count = new Float64Array(good.count.length);
    expect(() => TreeShapExplainer.fromModel(broken({ count }))).toThrow(/tree 0: node 0 has cover 0/);
    const feature = Int32Array.from(good.feature);
    feature[0] = 7;
    expect(() => TreeShapExplainer.fromModel(broken({ feature }))).toThrow(/feature 7, outside 0..2/);
    const left = Int32Array.from(good.left);
    left[0] = 0;
    expect(() => TreeShapExplainer.fromModel(broken({ left }))).toThrow(/reached twice/);
    const threshold = Float64Array.from(good.threshold);
    threshold[0] = 0.1;
    expect(() => TreeShapExplainer.fromModel(broken({ threshold }))).toThrow(/not a float32 number/);
  });
});
