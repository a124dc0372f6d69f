/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildDirBuilder } from '#lib/adapters/local/build-dir-builder.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { loadRegisteredModel, loadServingModel, loadServingModelFromDir } from '#lib/serving/model.ts';
import { createPredictor, type ServingModel } from '#lib/serving/predictor.ts';
import { freshHome } from '../../support/home.ts';
import {
  EXPLAINED_FEATURES,
  explainedModelFiles,
  writeExplainedModelDir,
  type ExplainedModelFiles,
} from '../../support/explained-model.ts';
import { customerRow, MemoryFeatureStore } from '../../unit/serving/fake-ports.ts';

/**
 * The explainer loaded next to the ONNX session (lib/serving/model.ts), with a real trained GBDT
 * and onnxruntime: explanations add up to the ONNX answer; versions without (or with a wrong)
 * explainer.json still serve, without reasons, and say why.
 */
let files: ExplainedModelFiles;
const clock = fixedClock('2025-01-01');

/** 300 customers spread over the features' ranges, some values missing. */
function customers(): MemoryFeatureStore {
  const rows = [];
  for (let i = 0; i < 300; i++) {
    const nb = i % 9;
    rows.push(
      customerRow({
        id: String(1000 + i),
        nbLoans: nb,
        sumLoanAmount: nb * (40 + ((i * 37) % 170)),
        birthday: `${1950 + ((i * 7) % 55)}-0${1 + (i % 9)}-1${i % 10}`,
        jobStartDate: i % 6 === 0 ? null : `${2000 + ((i * 3) % 24)}-05-01`,
        flagOwnCar: (i % 3 === 0 ? 1 : 0) as 0 | 1,
      }),
    );
  }
  return new MemoryFeatureStore(rows);
}

beforeAll(async () => {
  files = await explainedModelFiles();
});

async function releaseAfter<T>(model: ServingModel & { release(): Promise<void> }, fn: () => Promise<T>) {
  try {
    return await fn();
  } finally {
    await model.release();
  }
}

describe('a model directory with explainer.json', () => {
  it('loads the explainer once with the model, and the typical values from the card', async () => {
    const model = await loadServingModelFromDir(writeExplainedModelDir(files));
    await releaseAfter(model, async () => {
      expect(model.explainer?.featureNames).toEqual(EXPLAINED_FEATURES);
      expect(model.explainerWarning).toBeUndefined();
      expect(model.typicalValues).toEqual(files.card.reference.map((r) => r.mean));
    });
  });

  it('every explanation adds up to its margin, and sigmoid(margin) is the ONNX probability', async () => {
    const model = await loadServingModelFromDir(writeExplainedModelDir(files));
    await releaseAfter(model, async () => {
      const predictor = createPredictor({ featureStore: customers(), clock, model });
      let worstSum = 0;
      let worstProbability = 0;
      let withReasons = 0;
      for (let i = 0; i < 300; i++) {
        const p = await predictor.predict(String(1000 + i), { explain: true });
        const e = p.explanation!;
        expect(Object.keys(e.contributions)).toEqual(EXPLAINED_FEATURES);
        const sum = Object.values(e.contributions).reduce((s, c) => s + c, e.bias);
        worstSum = Math.max(worstSum, Math.abs(sum - e.margin));
        worstProbability = Math.max(
          worstProbability,
          Math.abs(1 / (1 + Math.exp(-e.margin)) - p.probability),
        );
        // Reasons: the positive contributions, largest first, at most 4.
        const positive = Object.entries(e.contributions)
          .filter(([, c]) => c > 0)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4);
        expect(p.reasons.map((r) => [r.feature, r.contribution])).toEqual(positive);
        if (p.reasons.length > 0) withReasons++;
      }
      expect(worstSum).toBeLessThan(1e-12);
      expect(worstProbability).toBeLessThan(1e-6);
      // The check saw both kinds of answer.
      expect(withReasons).toBeGreaterThan(10);
      expect(withReasons).toBeLessThan(300);
    });
  });
});

describe('requests in flight together', () => {
  it('share coalesced TreeSHAP runs and each get exactly the explanation of their own row', async () => {
    const model = await loadServingModelFromDir(writeExplainedModelDir(files));
    await releaseAfter(model, async () => {
      const predictor = createPredictor({ featureStore: customers(), clock, model });
      const ids = Array.from({ length: 60 }, (_, i) => String(1000 + i * 5));
      const together = await Promise.all(ids.map((id) => predictor.predict(id, { explain: true })));
      const alone = [];
      for (const id of ids) alone.push(await predictor.predict(id, { explain: true }));
      expect(together).toEqual(alone);
      // Not a constant answer: the rows differ, and so do their explanations.
      expect(new Set(together.map((p) => p.explanation!.margin)).size).toBeGreaterThan(10);
    });
  });
});

describe('a version that cannot explain still serves, without reasons, and says why', () => {
  it('explainer.json missing beside a model.onnx that names one', async () => {
    const model = await loadServingModelFromDir(writeExplainedModelDir(files, { explainer: false }));
    await releaseAfter(model, async () => {
      expect(model.explainer).toBeUndefined();
      expect(model.explainerWarning).toMatch(/explainer.json .* which is missing beside it/);
      const p = await createPredictor({ featureStore: customers(), clock, model }).predict('1000', {
        explain: true,
      });
      expect(p.reasons).toEqual([]);
      expect(p.explanation).toBeNull();
      expect(p.probability).toBeGreaterThan(0);
    });
  });

  it('a model.onnx from before explanations', async () => {
    const model = await loadServingModel({ model: files.modelWithoutDigest, card: files.card });
    await releaseAfter(model, async () => {
      expect(model.explainer).toBeUndefined();
      expect(model.explainerWarning).toMatch(/predates explanations/);
    });
  });

  it('an explainer.json that is not this model.onnx', async () => {
    const other = await explainedModelFiles(5, 9);
    const model = await loadServingModel({
      model: files.model,
      card: files.card,
      explainer: other.explainer,
    });
    await releaseAfter(model, async () => {
      expect(model.explainer).toBeUndefined();
      expect(model.explainerWarning).toMatch(/not this version's explainer/);
    });
  });

  it("a card whose feature order is not the explainer's", async () => {
    const card = { ...files.card, features: [...files.card.features].reverse() };
    const model = await loadServingModel({ model: files.model, card, explainer: files.explainer });
    await releaseAfter(model, async () => {
      expect(model.explainer).toBeUndefined();
      expect(model.explainerWarning).toMatch(/lists features .* card.json/);
    });
  });
});

describe('registered versions and their builds carry the explainer', () => {
  it('loadRegisteredModel reads models/<name>/<version>/explainer.json; the local build copies it', async () => {
    const home = freshHome();
    const store = new FsObjectStore(home.store);
    const registry = new ModelRegistry(store);
    const { version } = await registry.register({
      model: files.model,
      card: JSON.stringify(files.card),
      report: '<p>r</p>',
      explainer: files.explainer,
    });
    const registered = await loadRegisteredModel(store, registry, version);
    await releaseAfter(registered, async () => {
      expect(registered.version).toBe(version);
      expect(registered.explainer?.featureNames).toEqual(EXPLAINED_FEATURES);
    });

    const bundle = async (outDir: string) => {
      const file = join(outDir, 'index.mjs');
      mkdirSync(outDir, { recursive: true });
      writeFileSync(file, 'export const handler = () => 1;\n');
      return file;
    };
    const built = await new BuildDirBuilder(home.builds, store, bundle).build({
      modelName: registry.name,
      modelVersion: version,
    });
    const modelDir = join(built.artifact, 'model');
    expect(readdirSync(modelDir).sort()).toEqual(['card.json', 'explainer.json', 'model.onnx']);
    const baked = await loadServingModelFromDir(modelDir);
    await releaseAfter(baked, async () => {
      expect(baked.version).toBe(version);
      expect(baked.explainer).toBeDefined();
    });
  });

  it('a version registered without one builds and loads without one', async () => {
    const home = freshHome();
    const store = new FsObjectStore(home.store);
    const registry = new ModelRegistry(store);
    const { version } = await registry.register({
      model: files.modelWithoutDigest,
      card: JSON.stringify(files.card),
      report: '<p>r</p>',
    });
    const dir = mkdtempSync(join(tmpdir(), 'cr-bundle-'));
    const built = await new BuildDirBuilder(home.builds, store, async () => {
      writeFileSync(join(dir, 'index.mjs'), '');
      return join(dir, 'index.mjs');
    }).build({ modelName: registry.name, modelVersion: version });
    expect(readdirSync(join(built.artifact, 'model')).sort()).toEqual(['card.json', 'model.onnx']);
    const registered = await loadRegisteredModel(store, registry, version);
    await releaseAfter(registered, async () => {
      expect(registered.explainer).toBeUndefined();
      expect(registered.explainerWarning).toMatch(/predates explanations/);
    });
  });
});
