import { beforeAll, describe, expect, it } from '@jest/globals';
import onnxProto from 'onnx-proto';
import { toRowMajorFloat32, trainGbdt, type GbdtModel } from '#lib/model/gbdt/booster.ts';
import {
  checkExplainerArtifacts,
  EXPLAINER_DIGEST_KEY,
  encodeExplainer,
  explainerDigest,
  explainerForModel,
  loadExplainer,
  parseExplainer,
} from '#lib/model/explainer-artifact.ts';
import { exportOnnx } from '#lib/model/onnx-export.ts';
import { readOnnxMetadataProps } from '#lib/model/onnx-metadata.ts';
import { TreeShapExplainer } from '#lib/model/shap.ts';
import { randomModel, randomRows } from './shap-brute-force.ts';
import { syntheticTable } from './synthetic-data.ts';

const table = syntheticTable(3000, 12);
const names = table.featureNames;
let model: GbdtModel;
let explainerBytes: Uint8Array;
let onnx: Uint8Array;
const rows = toRowMajorFloat32(
  table.columns.map((c) => c.subarray(2500, 3000)),
  500,
);

beforeAll(async () => {
  model = (
    await trainGbdt(
      {
        numRows: 2500,
        columns: table.columns.map((c) => c.subarray(0, 2500)),
        label: table.label.subarray(0, 2500),
      },
      { params: { numTrees: 25, numThreads: 1, earlyStoppingRounds: 0 } },
    )
  ).model;
  explainerBytes = encodeExplainer(model, names);
  onnx = exportOnnx(model, {
    featureNames: names,
    threshold: 0.5,
    metadata: { name: 'credit-risk', [EXPLAINER_DIGEST_KEY]: explainerDigest(explainerBytes) },
  });
});

const text = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc));
const doc = () =>
  JSON.parse(new TextDecoder().decode(explainerBytes)) as Record<string, unknown> & {
    trees: Record<string, unknown[]>[];
  };

describe('explainer.json', () => {
  it('round-trips: the loaded explainer gives exactly the numbers of the in-memory model', () => {
    const loaded = loadExplainer(explainerBytes);
    expect(loaded?.featureNames).toEqual(names);
    const direct = TreeShapExplainer.fromModel(model).explainRows(rows, 500);
    expect(Array.from(loaded?.explainRows(rows, 500) ?? [])).toEqual(Array.from(direct));
  });

  it('is deterministic and carries what TreeSHAP needs, leaves only for values', () => {
    expect(encodeExplainer(model, names)).toEqual(explainerBytes);
    const d = doc();
    expect(d).toMatchObject({ format: 'credit-risk.tree-explainer', formatVersion: 1, featureNames: names });
    expect(d.baseScore).toBe(model.baseScore);
    expect(d.trees).toHaveLength(model.trees.length);
    const t0 = model.trees[0];
    expect(d.trees[0].count).toEqual(Array.from(t0.count));
    expect(d.trees[0].threshold[0]).toBe(t0.threshold[0]);
    // Internal nodes' values are 0 in the file (TreeSHAP reads leaves only).
    expect(d.trees[0].value[0]).toBe(0);
  });

  it('writes infinite thresholds as strings and reads them back', () => {
    const m = randomModel(3, 3, 1, 6);
    (m.trees[0].threshold as Float32Array)[0] = Number.NEGATIVE_INFINITY;
    const bytes = encodeExplainer(m, ['a', 'b', 'c']);
    expect(JSON.parse(new TextDecoder().decode(bytes)).trees[0].threshold[0]).toBe('-Infinity');
    expect(parseExplainer(bytes).model.trees[0].threshold[0]).toBe(Number.NEGATIVE_INFINITY);
    const x = randomRows(4, 3, 50);
    expect(Array.from(loadExplainer(bytes)?.explainRows(x, 50) ?? [])).toEqual(
      Array.from(TreeShapExplainer.fromModel(m).explainRows(x, 50)),
    );
  });

  it('absent bytes are "no explainer"; bad bytes are a BAD_EXPLAINER error that says what is wrong', () => {
    expect(loadExplainer(undefined)).toBeUndefined();
    expect(loadExplainer(null)).toBeUndefined();
    const bad = (bytes: Uint8Array, message: RegExp) => {
      let caught: unknown;
      try {
        loadExplainer(bytes);
      } catch (e) {
        caught = e;
      }
      expect(caught).toMatchObject({ code: 'BAD_EXPLAINER' });
      expect((caught as Error).message).toMatch(message);
    };
    bad(new TextEncoder().encode('{"format":'), /not valid UTF-8 JSON/);
    bad(text({ ...doc(), format: 'other' }), /format/);
    bad(text({ ...doc(), featureNames: ['a', 'a', 'b', 'c', 'd', 'e'] }), /duplicates/);
    const shortCount = doc();
    shortCount.trees[1].count = shortCount.trees[1].count.slice(1);
    bad(text(shortCount), /trees\.1\.count has/);
    const negative = doc();
    negative.trees[0].count[2] = -5;
    bad(text(negative), /trees\.0\.count\.2/);
    const outOfRange = doc();
    outOfRange.trees[0].feature[0] = 99;
    bad(text(outOfRange), /tree 0: node 0 splits on feature 99/);
    const extra = { ...doc(), secret: 1 };
    bad(text(extra), /secret|Unrecognized/i);
  });
});

describe('explainerForModel: the explainer of a version from its files, checked against model.onnx', () => {
  it('loads when model.onnx names these bytes', () => {
    const r = explainerForModel({ model: onnx, explainer: explainerBytes });
    expect(r.status).toBe('loaded');
    expect(r.warning).toBeUndefined();
    expect(r.explainer?.numFeatures).toBe(names.length);
  });

  it('a model.onnx that names no explainer (trained before explanations) loads as none, with a warning', () => {
    const old = exportOnnx(model, { featureNames: names, threshold: 0.5, metadata: { name: 'credit-risk' } });
    const r = explainerForModel({ model: old });
    expect(r).toMatchObject({ explainer: undefined, status: 'none' });
    expect(r.warning).toMatch(/predates explanations/);
  });

  it('missing, tampered or other-feature explainers are not used, and say why', () => {
    expect(explainerForModel({ model: onnx })).toMatchObject({ status: 'missing', explainer: undefined });
    const tampered = Uint8Array.from(explainerBytes);
    tampered[tampered.length - 3] ^= 1;
    const t = explainerForModel({ model: onnx, explainer: tampered });
    expect(t).toMatchObject({ status: 'mismatch', explainer: undefined });
    expect(t.warning).toMatch(/hashes to/);
    const renamed = encodeExplainer(
      model,
      names.map((n) => `${n}_x`),
    );
    const other = exportOnnx(model, {
      featureNames: names,
      threshold: 0.5,
      metadata: { [EXPLAINER_DIGEST_KEY]: explainerDigest(renamed) },
    });
    expect(explainerForModel({ model: other, explainer: renamed })).toMatchObject({ status: 'mismatch' });
  });
});

describe('readOnnxMetadataProps', () => {
  it('reads what onnx-proto decodes, explainer digest included', () => {
    const decoded = onnxProto.onnx.ModelProto.decode(onnx);
    const expected = Object.fromEntries(decoded.metadataProps.map((e) => [e.key, e.value]));
    expect(readOnnxMetadataProps(onnx)).toEqual(expected);
    expect(readOnnxMetadataProps(onnx)[EXPLAINER_DIGEST_KEY]).toBe(explainerDigest(explainerBytes));
  });

  it('throws on truncated bytes instead of reading garbage', () => {
    expect(() => readOnnxMetadataProps(onnx.subarray(0, onnx.length - 7))).toThrow(RangeError);
  });
});

describe('checkExplainerArtifacts (what the registry enforces)', () => {
  it('accepts the pair, and a model that names nothing without an explainer', () => {
    expect(() => checkExplainerArtifacts(onnx, explainerBytes)).not.toThrow();
    expect(() => checkExplainerArtifacts(new TextEncoder().encode('not onnx'), undefined)).not.toThrow();
  });

  it('refuses a named explainer left out, one the model does not name, and other bytes', () => {
    expect(() => checkExplainerArtifacts(onnx, undefined)).toThrow(
      expect.objectContaining({ code: 'MISSING_EXPLAINER' }),
    );
    const old = exportOnnx(model, { featureNames: names, threshold: 0.5 });
    expect(() => checkExplainerArtifacts(old, explainerBytes)).toThrow(
      expect.objectContaining({ code: 'EXPLAINER_NOT_DECLARED' }),
    );
    expect(() =>
      checkExplainerArtifacts(
        onnx,
        encodeExplainer(
          model,
          names.map((n) => `${n}2`),
        ),
      ),
    ).toThrow(expect.objectContaining({ code: 'EXPLAINER_MISMATCH' }));
  });
});
