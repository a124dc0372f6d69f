/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { predictRaw, toRowMajorFloat32 } from '#lib/model/gbdt/booster.ts';
import { explainerForModel } from '#lib/model/explainer-artifact.ts';
import { loadOnnxModel } from '#lib/model/onnx-runtime.ts';
import type { TreeShapExplainer } from '#lib/model/shap.ts';
import { ShapPool } from '#lib/model/shap-pool.ts';
import { trainToDirectory, type TrainedModel } from '#lib/model/train.ts';
import { readModelDirectory } from '#lib/registry/model-directory.ts';
import { syntheticTable } from '../../unit/model/synthetic-data.ts';

/**
 * Local accuracy on every row of a 100,000-row set, through the artifacts a registered version
 * carries: the model trained by the pipeline's train step (npm start's settings: up to 60 trees,
 * learning rate 0.15, 31 leaves), its explainer.json checked against model.onnx, and onnxruntime
 * running model.onnx on the same rows.
 */
const ROWS = 100_000;
const dir = mkdtempSync(join(tmpdir(), 'shap-local-accuracy-'));
let trained: TrainedModel;
let explainer: TreeShapExplainer;
let modelBytes: Uint8Array;
let matrix: Float32Array;
let F: number;

beforeAll(async () => {
  const t = syntheticTable(40_000, 31);
  const csv = join(dir, 'features.csv');
  writeFileSync(
    csv,
    [
      `loan_id,${t.featureNames.join(',')},status`,
      ...Array.from({ length: t.numRows }, (_, i) =>
        [i, ...t.columns.map((c) => (Number.isNaN(c[i]) ? '' : c[i])), t.label[i]].join(','),
      ),
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({
      columns: [
        { name: 'loan_id', role: 'id' },
        { name: 'status', role: 'label' },
      ],
    }),
  );
  ({ trained } = await trainToDirectory({
    input: csv,
    out: join(dir, 'model'),
    params: { numTrees: 60, learningRate: 0.15, numLeaves: 31, earlyStoppingRounds: 0, numThreads: 2 },
  }));
  const files = await readModelDirectory(join(dir, 'model'));
  modelBytes = files.model;
  const loaded = explainerForModel({ model: files.model, explainer: files.explainer });
  expect(loaded.status).toBe('loaded');
  explainer = loaded.explainer as TreeShapExplainer;
  F = explainer.numFeatures;
  const rows = syntheticTable(ROWS, 77);
  matrix = toRowMajorFloat32(rows.columns, ROWS);
  // Edge rows: all missing, all +inf, all -inf, and every split threshold exactly (ties go right).
  for (let f = 0; f < F; f++) {
    matrix[f] = Number.NaN;
    matrix[F + f] = Number.POSITIVE_INFINITY;
    matrix[2 * F + f] = Number.NEGATIVE_INFINITY;
  }
  let r = 3;
  for (const tree of trained.model.trees) {
    for (let n = 0; n < tree.numNodes && r < 1000; n++) {
      if (tree.left[n] >= 0) matrix[r++ * F + tree.feature[n]] = tree.threshold[n];
    }
  }
}, 300_000);

describe('TreeSHAP local accuracy on 100,000 rows', () => {
  it('bias + sum(contributions) = the raw margin the GBDT predicts, and sigmoid(margin) = the ONNX probability, on every row', async () => {
    const pool = new ShapPool(explainer.kernel, 2);
    let phi: Float64Array;
    try {
      phi = await pool.explainRows(matrix, ROWS);
    } finally {
      await pool.close();
    }
    const raw = predictRaw(trained.model, matrix, ROWS);
    const onnx = await loadOnnxModel(modelBytes);
    const p = await onnx.scoreRows(matrix, ROWS);
    await onnx.release();
    let worstMargin = 0;
    let worstProbability = 0;
    let rowsChecked = 0;
    let nonZero = 0;
    for (let r = 0; r < ROWS; r++) {
      let margin = 0;
      for (let f = 0; f <= F; f++) margin += phi[r * (F + 1) + f];
      worstMargin = Math.max(worstMargin, Math.abs(margin - raw[r]));
      worstProbability = Math.max(worstProbability, Math.abs(1 / (1 + Math.exp(-margin)) - p[r]));
      if (phi[r * (F + 1)] !== 0) nonZero++;
      rowsChecked++;
    }
    expect(rowsChecked).toBe(ROWS);
    expect(worstMargin).toBeLessThan(1e-9);
    // onnxruntime computes in float32: the bound of the ONNX export test.
    expect(worstProbability).toBeLessThan(1e-6);
    expect(nonZero).toBeGreaterThan(ROWS / 2);
    // The bias is the same number in every row: E[f] of the path-dependent game.
    expect(phi[F]).toBe(explainer.bias);
    expect(phi[(ROWS - 1) * (F + 1) + F]).toBe(explainer.bias);
  });

  it('the model directory card lists mean |SHAP| beside gain and the report shows the SHAP section', () => {
    const card = JSON.parse(readFileSync(join(dir, 'model', 'card.json'), 'utf8')) as {
      importance: { feature: string; gain: number; meanAbsShap: number }[];
      shap: { rows: number; bias: number };
    };
    expect(card.importance.map((r) => r.feature).sort()).toEqual([...trained.featureNames].sort());
    expect(card.importance.every((r) => r.meanAbsShap >= 0)).toBe(true);
    expect(card.importance.some((r) => r.meanAbsShap > 0)).toBe(true);
    expect(card.shap.rows).toBe(trained.testPredictions.y.length);
    expect(card.shap.bias).toBeCloseTo(explainer.bias, 12);
    const html = readFileSync(join(dir, 'model', 'report.html'), 'utf8');
    expect(html).toContain('<section id="shap">');
    expect(html).toContain('data-chart="beeswarm"');
  });
});
