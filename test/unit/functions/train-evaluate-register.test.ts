import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHandler as createEvaluate } from '#functions/evaluate/handler.ts';
import { createHandler as createRegister } from '#functions/register/handler.ts';
import { createHandler as createTrain, type TrainFn, type TrainResult } from '#functions/train/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import type { OnnxScorer } from '#lib/registry/candidate.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { freshHome } from '../../support/home.ts';

const context = {
  awsRequestId: 'req-1',
  functionName: 'fn',
  getRemainingTimeInMillis: () => 60000,
} as unknown as Context;

/**
 * A stand-in trainer (the real one is exercised by its own tests): its "model" is JSON
 * { noise }, the score is sigmoid(3 (x - 2.6) + noise * sin(7 other)) over columns x and other,
 * and it measures itself on a fixed test split. More noise ranks worse. The scorer below
 * evaluates such a model the way onnxruntime evaluates a real one.
 */
const score = (noise: number, x: number, other: number) =>
  1 / (1 + Math.exp(-(3 * (x - 2.6) + noise * Math.sin(7 * other))));
const testRows = (() => {
  const x = new Float32Array(600);
  const other = new Float32Array(600);
  const y: number[] = [];
  let s = 17;
  for (let i = 0; i < 600; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    x[i] = u * 4;
    other[i] = i;
    y.push(u * 4 + Math.sin(i) * 1.5 > 2.6 ? 1 : 0);
  }
  return { x, other, y };
})();

function fakeTrainer(noiseBySeed: Record<number, number>): TrainFn {
  return async ({ out, seed }) => {
    const noise = noiseBySeed[seed ?? 0];
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'model.onnx'), JSON.stringify({ noise }));
    writeFileSync(join(out, 'card.json'), JSON.stringify({ threshold: 0.5, features: ['other', 'x'], seed }));
    writeFileSync(join(out, 'report.html'), `<!doctype html><p>noise=${noise}</p>`);
    const p = Array.from(testRows.x, (v, i) => score(noise, v, testRows.other[i]));
    return { testSet: { columns: { x: testRows.x, other: testRows.other }, y: testRows.y, p } };
  };
}

const fakeScorer: OnnxScorer = async (model, rows, n, f) => {
  const { noise } = JSON.parse(new TextDecoder().decode(model)) as { noise: number };
  expect(f).toBe(2); // card features: other, x (row-major in that order)
  return Float64Array.from({ length: n }, (_, i) => score(noise, rows[i * f + 1], rows[i * f]));
};

function setup() {
  const home = freshHome();
  const store = new FsObjectStore(home.store);
  const featuresKey = 'features/snapshot=s1/part-00000.parquet';
  return { home, store, featuresKey };
}

describe('train -> evaluate -> register handlers on local adapters', () => {
  it('stages a candidate, passes the gate with no champion, registers it; a worse challenger is then refused', async () => {
    const { home, store, featuresKey } = setup();
    await store.put(featuresKey, 'parquet bytes');
    const train = createTrain({
      featuresStore: store,
      modelsStore: store,
      train: fakeTrainer({ 1: 0, 2: 2 }),
      tmpDir: home.tmp,
    });
    const evaluate = createEvaluate({ modelsStore: store, score: fakeScorer, env: { GATE_MAX_ECE: '1' } });
    const register = createRegister({ modelsStore: store });

    const first = (await train({ snapshotId: 's1', seed: 1 }, context)) as TrainResult;
    expect(first.candidateKey).toBe(`candidates/${first.version}`);
    expect(first).toMatchObject({ featuresKey, snapshotId: 's1', metrics: { n: 600 } });
    expect(first.metrics.auc).toBeGreaterThan(0.7);
    expect(await store.head(`${first.candidateKey}/test-set.f32`)).toMatchObject({ size: 600 * 2 * 4 });

    const verdict = await evaluate({ candidateKey: first.candidateKey }, context);
    expect(verdict).toMatchObject({
      version: first.version,
      champion: null,
      championVersion: null,
      gate: { pass: true, reasons: [] },
    });
    expect(verdict.challenger).toEqual(first.metrics);

    const registered = await register({ candidateKey: first.candidateKey }, context);
    expect(registered).toEqual({ name: 'credit-risk', version: first.version, created: true });
    expect(await register({ candidateKey: first.candidateKey }, context)).toMatchObject({ created: false });
    const registry = new ModelRegistry(store);
    await registry.promote(first.version);

    // A weaker model: scored against the champion on the same 600 rows, it fails on AUC.
    const second = (await train({ featuresKey, seed: 2 }, context)) as TrainResult;
    const refused = await evaluate({ candidateKey: second.candidateKey }, context);
    expect(refused.championVersion).toBe(first.version);
    expect(refused.champion?.n).toBe(600);
    expect(refused.champion?.auc).toBeCloseTo(first.metrics.auc, 12);
    expect(refused.challenger.auc).toBeLessThan(first.metrics.auc - 0.005);
    expect(refused.gate.pass).toBe(false);
    expect(refused.gate.reasons.map((r) => r.split(':')[0])).toContain('auc_worse_than_champion');
    // The decision is plain JSON for the Choice state.
    expect(JSON.parse(JSON.stringify(refused.gate))).toEqual(refused.gate);
    // Training cleaned up its scratch directory.
    expect(readdirSync(home.tmp)).toEqual([]);
  });

  it('fails the gate when the champion needs a column this test set lacks', async () => {
    const { home, store, featuresKey } = setup();
    await store.put(featuresKey, 'x');
    const registry = new ModelRegistry(store);
    const old = await registry.register({
      model: new TextEncoder().encode('{"noise":0}'),
      card: JSON.stringify({ threshold: 0.5, features: ['x', 'dropped_feature'] }),
      report: '<p>old</p>',
    });
    await registry.promote(old.version);
    const train = createTrain({
      featuresStore: store,
      modelsStore: store,
      train: fakeTrainer({ 1: 0.1 }),
      tmpDir: home.tmp,
    });
    const { candidateKey } = (await train({ snapshotId: 's1', seed: 1 }, context)) as TrainResult;
    const evaluate = createEvaluate({ modelsStore: store, score: fakeScorer, env: { GATE_MAX_ECE: '1' } });
    const verdict = await evaluate({ candidateKey }, context);
    expect(verdict).toMatchObject({ champion: null, championVersion: old.version, gate: { pass: false } });
    expect(verdict.gate.reasons).toEqual([
      expect.stringMatching(/^champion_not_comparable: champion \w{12} needs dropped_feature/),
    ]);
  });

  it('lets the event override the gate settings', async () => {
    const { home, store, featuresKey } = setup();
    await store.put(featuresKey, 'x');
    const train = createTrain({
      featuresStore: store,
      modelsStore: store,
      train: fakeTrainer({ 1: 0 }),
      tmpDir: home.tmp,
    });
    const { candidateKey } = (await train({ snapshotId: 's1', seed: 1 }, context)) as TrainResult;
    const evaluate = createEvaluate({ modelsStore: store, score: fakeScorer, env: { GATE_MAX_ECE: '1' } });
    const strict = await evaluate({ candidateKey, gate: { minAuc: 0.999 } }, context);
    expect(strict.gate.pass).toBe(false);
    expect(strict.gate.reasons[0]).toMatch(/^auc_below_floor: auc 0\.\d{4}, floor 0\.9990$/);
  });

  it('refuses bad events and unknown inputs with InputErrors that say what is wrong', async () => {
    const { home, store } = setup();
    const train = createTrain({
      featuresStore: store,
      modelsStore: store,
      train: fakeTrainer({}),
      tmpDir: home.tmp,
    });
    await expect(train({ seed: 1 }, context)).rejects.toMatchObject({
      code: 'BAD_TRAIN_EVENT',
      message: expect.stringMatching(/snapshotId or featuresKey/),
    });
    await expect(train({ snapshotId: 'nope' }, context)).rejects.toMatchObject({
      code: 'UNKNOWN_FEATURES',
      message: expect.stringMatching(/snapshot=nope/),
    });
    const evaluate = createEvaluate({ modelsStore: store, score: fakeScorer });
    await expect(evaluate({}, context)).rejects.toMatchObject({ code: 'BAD_EVALUATE_EVENT' });
    await expect(evaluate({ candidateKey: 'candidates/missing' }, context)).rejects.toMatchObject({
      code: 'UNKNOWN_CANDIDATE',
    });
    const register = createRegister({ modelsStore: store });
    await expect(register({ candidateKey: 42 }, context)).rejects.toMatchObject({
      code: 'BAD_REGISTER_EVENT',
    });
  });

  it('the sample events in events/ parse', async () => {
    const { parseTrainEvent } = await import('#functions/train/handler.ts');
    for (const file of ['train.json', 'train-features-key.json', 'train-plan.json', 'train-trial.json']) {
      expect(() => parseTrainEvent(JSON.parse(readFileSync(join('events', file), 'utf8')))).not.toThrow();
    }
    // The sample's params are GBDT parameters the trainer knows (resolveParams names an unknown one).
    const { resolveParams } = await import('#lib/model/gbdt/params.ts');
    const sample = JSON.parse(readFileSync(join('events', 'train.json'), 'utf8')) as { params: object };
    expect(() => resolveParams(sample.params)).not.toThrow();
    for (const file of ['evaluate.json', 'register.json']) {
      expect(JSON.parse(readFileSync(join('events', file), 'utf8')).candidateKey).toMatch(
        /^candidates\/[0-9a-f]{64}$/,
      );
    }
  });
});
