/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { describe, expect, it, beforeAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { predictProbability, toRowMajorFloat32, trainGbdt, type GbdtModel } from '#lib/model/gbdt/booster.ts';
import { chooseThreshold } from '#lib/model/metrics.ts';
import { exportOnnx } from '#lib/model/onnx-export.ts';
import { loadOnnxModel } from '#lib/model/onnx-runtime.ts';
import { robustThreshold } from '#lib/model/train.ts';
import { describeWithPython } from '../../support/python.ts';
import { syntheticTable } from '../../unit/model/synthetic-data.ts';

const table = syntheticTable(32_000, 21);
const cols = (from: number, to: number) => table.columns.map((c) => c.subarray(from, to));
const ROWS = 10_000;
let model: GbdtModel;
let bytes: Uint8Array;
let threshold: number;
let matrix: Float32Array;
let expected: Float64Array;

beforeAll(async () => {
  const train = { numRows: 18_000, columns: cols(0, 18_000), label: table.label.subarray(0, 18_000) };
  const valid = { numRows: 4000, columns: cols(18_000, 22_000), label: table.label.subarray(18_000, 22_000) };
  const r = await trainGbdt(train, {
    valid,
    params: { numTrees: 150, learningRate: 0.1, numLeaves: 31, earlyStoppingRounds: 0, numThreads: 2 },
  });
  model = r.model;
  const pValid = predictProbability(model, toRowMajorFloat32(valid.columns, valid.numRows), valid.numRows);
  threshold = robustThreshold(chooseThreshold(valid.label, pValid, { kind: 'max-f1' }), pValid);
  bytes = exportOnnx(model, { featureNames: table.featureNames, threshold });
  matrix = toRowMajorFloat32(cols(22_000, 32_000), ROWS);
  // Edge values the model must route exactly as the trainer: all-missing rows and infinities.
  const F = table.featureNames.length;
  for (let f = 0; f < F; f++) {
    matrix[0 * F + f] = Number.NaN;
    matrix[1 * F + f] = Number.POSITIVE_INFINITY;
    matrix[2 * F + f] = Number.NEGATIVE_INFINITY;
  }
  expected = predictProbability(model, matrix, ROWS);
});

function compare(label: ArrayLike<number | bigint>, probabilities: ArrayLike<number>) {
  let worst1 = 0;
  let worst0 = 0;
  let labelMismatches = 0;
  for (let i = 0; i < ROWS; i++) {
    worst1 = Math.max(worst1, Math.abs(probabilities[2 * i + 1] - expected[i]));
    worst0 = Math.max(worst0, Math.abs(probabilities[2 * i] - (1 - expected[i])));
    if (Number(label[i]) !== (expected[i] >= threshold ? 1 : 0)) labelMismatches++;
  }
  return { worst1, worst0, labelMismatches };
}

describe('ONNX export under onnxruntime-node', () => {
  it('gives the trainer own probabilities within 1e-6 for both columns, and the same label, on 10,000 rows', async () => {
    const onnx = await loadOnnxModel(bytes);
    const out = await onnx.run(matrix, ROWS);
    expect(out.label.length).toBe(ROWS);
    expect(out.probabilities.length).toBe(2 * ROWS);
    const { worst1, worst0, labelMismatches } = compare(out.label, out.probabilities);
    expect(worst1).toBeLessThan(1e-6);
    expect(worst0).toBeLessThan(1e-6);
    expect(labelMismatches).toBe(0);
    // The label is not trivially constant: both classes occur.
    const positives = Array.from(out.label).filter((v) => v === 1n).length;
    expect(positives).toBeGreaterThan(0);
    expect(positives).toBeLessThan(ROWS);
    await onnx.release();
  });

  it('routes a missing value the way the trainer learned, not always to the same side', async () => {
    const onnx = await loadOnnxModel(bytes);
    let left = 0;
    let right = 0;
    for (const t of model.trees) {
      for (let n = 0; n < t.numNodes; n++) {
        if (t.left[n] < 0) continue;
        if (t.missingLeft[n]) left++;
        else right++;
      }
    }
    expect(left).toBeGreaterThan(0);
    expect(right).toBeGreaterThan(0);
    const F = table.featureNames.length;
    const row = Float32Array.from({ length: F }, () => Number.NaN);
    const p = (await onnx.scoreRows(row, 1))[0];
    expect(Math.abs(p - predictProbability(model, row, 1)[0])).toBeLessThan(1e-6);
    await onnx.release();
  });

  it('carries the feature order and threshold in its metadata', async () => {
    const onnx = await loadOnnxModel(bytes);
    expect(JSON.parse(onnx.metadata.feature_names)).toEqual(table.featureNames);
    expect(Number(onnx.metadata.threshold)).toBe(threshold);
    expect(onnx.numFeatures).toBe(table.featureNames.length);
    await onnx.release();
  });
});

describeWithPython('ONNX export under Python onnx and onnxruntime', (python) => {
  it('passes onnx.checker.check_model (full) and Python onnxruntime agrees with the trainer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-py-'));
    writeFileSync(join(dir, 'model.onnx'), bytes);
    writeFileSync(
      join(dir, 'input.f32'),
      new Uint8Array(matrix.buffer, matrix.byteOffset, matrix.byteLength),
    );
    const script = `
import json, sys, numpy as np, onnx, onnxruntime as ort
d = sys.argv[1]; F = int(sys.argv[2])
m = onnx.load(d + '/model.onnx')
onnx.checker.check_model(m, full_check=True)
x = np.fromfile(d + '/input.f32', dtype=np.float32).reshape(-1, F)
s = ort.InferenceSession(d + '/model.onnx', providers=['CPUExecutionProvider'])
label, proba = s.run(['label', 'probabilities'], {'input': x})
label.astype(np.int64).tofile(d + '/label.i64'); proba.astype(np.float32).tofile(d + '/proba.f32')
print(json.dumps({'ir': m.ir_version, 'opsets': {o.domain or 'ai.onnx': o.version for o in m.opset_import}, 'shape': list(proba.shape)}))
`;
    const r = spawnSync(python, ['-c', script, dir, String(table.featureNames.length)], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as { ir: number; opsets: Record<string, number>; shape: number[] };
    expect(info).toEqual({ ir: 8, opsets: { 'ai.onnx': 17, 'ai.onnx.ml': 3 }, shape: [ROWS, 2] });
    const labelBytes = readFileSync(join(dir, 'label.i64'));
    const probaBytes = readFileSync(join(dir, 'proba.f32'));
    const label = new BigInt64Array(labelBytes.buffer, labelBytes.byteOffset, ROWS);
    const proba = new Float32Array(probaBytes.buffer, probaBytes.byteOffset, 2 * ROWS);
    const { worst1, worst0, labelMismatches } = compare(label, proba);
    expect(worst1).toBeLessThan(1e-6);
    expect(worst0).toBeLessThan(1e-6);
    expect(labelMismatches).toBe(0);
  });
});
