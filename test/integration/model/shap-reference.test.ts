import { beforeAll, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { toRowMajorFloat32, trainGbdt, type GbdtModel } from '#lib/model/gbdt/booster.ts';
import { encodeExplainer, loadExplainer } from '#lib/model/explainer-artifact.ts';
import { describeWithPython } from '../../support/python.ts';
import { syntheticTable } from '../../unit/model/synthetic-data.ts';

/**
 * Our TreeSHAP against two independent implementations reading the same explainer.json
 * (bench/peers/shap_reference.py): the `shap` package's TreeExplainer
 * (feature_perturbation="tree_path_dependent") on its own tree format, and LightGBM's
 * pred_contrib on the trees written as a LightGBM model text. Rows include missing values, +inf
 * and values exactly on split thresholds (where x < t and x <= t' must agree); -inf is left out,
 * see the script's docstring.
 */
const ROWS = 5000;
const dir = mkdtempSync(join(tmpdir(), 'shap-reference-'));
const script = resolve('bench/peers/shap_reference.py');
let model: GbdtModel;
let rows: Float32Array;
let ours: Float64Array;
let F: number;

beforeAll(async () => {
  const t = syntheticTable(30_000, 5);
  model = (
    await trainGbdt(
      {
        numRows: 25_000,
        columns: t.columns.map((c) => c.subarray(0, 25_000)),
        label: t.label.subarray(0, 25_000),
      },
      { params: { numTrees: 60, learningRate: 0.15, numLeaves: 31, numThreads: 2, earlyStoppingRounds: 0 } },
    )
  ).model;
  F = model.numFeatures;
  const bytes = encodeExplainer(model, t.featureNames);
  writeFileSync(join(dir, 'explainer.json'), bytes);
  rows = toRowMajorFloat32(
    t.columns.map((c) => c.subarray(25_000, 25_000 + ROWS)),
    ROWS,
  );
  for (let f = 0; f < F; f++) {
    rows[f] = Number.NaN;
    rows[F + f] = Number.POSITIVE_INFINITY;
  }
  let r = 2;
  for (const tree of model.trees) {
    for (let n = 0; n < tree.numNodes && r < 1500; n++) {
      if (tree.left[n] >= 0 && Number.isFinite(tree.threshold[n]))
        rows[r++ * F + tree.feature[n]] = tree.threshold[n];
    }
  }
  expect(r).toBeGreaterThan(500);
  writeFileSync(join(dir, 'x.f32'), new Uint8Array(rows.buffer));
  ours = (loadExplainer(bytes) as NonNullable<ReturnType<typeof loadExplainer>>).explainRows(rows, ROWS);
}, 300_000);

describeWithPython('TreeSHAP agrees with the Python references on the same trees', (python) => {
  for (const impl of ['shap', 'lightgbm'] as const) {
    it(`${impl}: every contribution and the bias within 1e-6 on ${ROWS} rows`, () => {
      const out = join(dir, `${impl}.f64`);
      const run = spawnSync(
        python,
        [
          script,
          '--explainer',
          join(dir, 'explainer.json'),
          '--rows',
          join(dir, 'x.f32'),
          '--impl',
          impl,
          '--out',
          out,
        ],
        { encoding: 'utf8' },
      );
      if (run.status !== 0) throw new Error(`${impl} reference failed:\n${run.stderr}`);
      const report = JSON.parse(run.stdout.trim().split('\n').pop() as string) as {
        rows: number;
        trees: number;
      };
      expect(report).toMatchObject({ rows: ROWS, trees: model.trees.length });
      const theirs = new Float64Array(readFileSync(out).buffer.slice(0));
      expect(theirs.length).toBe(ours.length);
      let worst = 0;
      for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
      expect(worst).toBeLessThan(1e-6);
      // Not vacuous: the contributions are far from zero somewhere.
      expect(Math.max(...Array.from(theirs.subarray(0, 1000), Math.abs))).toBeGreaterThan(0.1);
    });
  }
});
