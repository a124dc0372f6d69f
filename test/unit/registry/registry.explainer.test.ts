import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { trainGbdt } from '#lib/model/gbdt/booster.ts';
import {
  EXPLAINER_DIGEST_KEY,
  encodeExplainer,
  explainerDigest,
  explainerForModel,
} from '#lib/model/explainer-artifact.ts';
import { exportOnnx } from '#lib/model/onnx-export.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { loadCandidate, stageCandidate } from '#lib/registry/candidate.ts';
import { readModelDirectory } from '#lib/registry/model-directory.ts';
import { ModelRegistry, sha256Hex } from '#lib/registry/registry.ts';
import { syntheticTable } from '../model/synthetic-data.ts';

const store = () => new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-registry-explainer-')));
const registry = (s = store()) => new ModelRegistry(s, { clock: fixedClock('2024-05-01'), actor: 'test' });

let model: Uint8Array;
let explainer: Uint8Array;
let oldModel: Uint8Array;
const card = '{"threshold": 0.5}';

beforeAll(async () => {
  const t = syntheticTable(1500, 2);
  const gbdt = (
    await trainGbdt(
      { numRows: 1500, columns: t.columns, label: t.label },
      { params: { numTrees: 8, numThreads: 1, earlyStoppingRounds: 0 } },
    )
  ).model;
  explainer = encodeExplainer(gbdt, t.featureNames);
  model = exportOnnx(gbdt, {
    featureNames: t.featureNames,
    threshold: 0.5,
    metadata: { [EXPLAINER_DIGEST_KEY]: explainerDigest(explainer) },
  });
  oldModel = exportOnnx(gbdt, { featureNames: t.featureNames, threshold: 0.5 });
});

describe('the registry stores explainer.json with the version that names it', () => {
  it('registers model + explainer under the sha256 of model.onnx, and gives the explainer back', async () => {
    const s = store();
    const r = registry(s);
    const { version, created } = await r.register({ model, card, report: '<p>r</p>', explainer });
    expect(created).toBe(true);
    expect(version).toBe(sha256Hex(model));
    expect(await s.get(`models/credit-risk/${version}/explainer.json`)).toEqual(explainer);
    const bytes = await r.explainerBytes(version.slice(0, 8));
    expect(explainerForModel({ model: await r.modelBytes(version), explainer: bytes }).status).toBe('loaded');
  });

  it('an older version without an explainer registers and reads back as none', async () => {
    const r = registry();
    const { version } = await r.register({ model: oldModel, card, report: '' });
    expect(await r.explainerBytes(version)).toBeUndefined();
    expect(explainerForModel({ model: oldModel }).status).toBe('none');
  });

  it('refuses a model that names an explainer registered without it, writing nothing', async () => {
    const s = store();
    const r = registry(s);
    await expect(r.register({ model, card, report: '' })).rejects.toMatchObject({
      code: 'MISSING_EXPLAINER',
    });
    expect(await s.list('models/')).toEqual([]);
  });

  it('refuses an explainer that is not the one model.onnx names', async () => {
    const r = registry();
    const other = new TextEncoder().encode('{}');
    await expect(r.register({ model, card, report: '', explainer: other })).rejects.toMatchObject({
      code: 'EXPLAINER_MISMATCH',
    });
    await expect(r.register({ model: oldModel, card, report: '', explainer })).rejects.toMatchObject({
      code: 'EXPLAINER_NOT_DECLARED',
    });
  });
});

describe('model directories and candidates carry explainer.json', () => {
  it('readModelDirectory reads it when present and does without it for older directories', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-model-dir-'));
    writeFileSync(join(dir, 'model.onnx'), model);
    writeFileSync(join(dir, 'card.json'), card);
    writeFileSync(join(dir, 'report.html'), '<p>r</p>');
    writeFileSync(join(dir, 'explainer.json'), explainer);
    expect((await readModelDirectory(dir)).explainer).toEqual(new Uint8Array(explainer));
    rmSync(join(dir, 'explainer.json'));
    const without = await readModelDirectory(dir);
    expect(without.explainer).toBeUndefined();
    // Such a directory of a model that names an explainer is refused at registration, by name.
    await expect(registry().register(without)).rejects.toMatchObject({ code: 'MISSING_EXPLAINER' });
  });

  it('stageCandidate and loadCandidate pass it through to register', async () => {
    const s = store();
    const testSet = { columns: { a: new Float32Array([1, 2]) }, y: [0, 1], p: [0.2, 0.8] };
    const { candidateKey } = await stageCandidate(s, { model, card, report: '', explainer }, testSet);
    const candidate = await loadCandidate(s, candidateKey);
    expect(candidate.explainer).toEqual(new Uint8Array(explainer));
    const { version } = await registry(s).register(candidate);
    expect(await registry(s).explainerBytes(version)).toEqual(new Uint8Array(explainer));
    const { candidateKey: oldKey } = await stageCandidate(s, { model: oldModel, card, report: '' }, testSet);
    expect((await loadCandidate(s, oldKey)).explainer).toBeUndefined();
  });
});
