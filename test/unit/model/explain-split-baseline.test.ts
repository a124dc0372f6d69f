import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import { predictRaw, toRowMajorFloat32, trainGbdt } from '#lib/model/gbdt/booster.ts';
import { contributions, featureImportance } from '#lib/model/explain.ts';
import { fitLogistic, predictLogistic } from '#lib/model/logistic.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';
import { outOfTimeSplit, randomSplit } from '#lib/model/split.ts';
import { robustThreshold } from '#lib/model/train.ts';
import { syntheticTable } from './synthetic-data.ts';

const t = syntheticTable(6000, 4);

describe('explanations', () => {
  it('path contributions plus the bias add up to the raw score of every row', async () => {
    const r = await trainGbdt(
      { numRows: 5000, columns: t.columns.map((c) => c.subarray(0, 5000)), label: t.label.subarray(0, 5000) },
      { params: { numTrees: 30, numThreads: 1 } },
    );
    const m = toRowMajorFloat32(
      t.columns.map((c) => c.subarray(5000, 5200)),
      200,
    );
    const raw = predictRaw(r.model, m, 200);
    const F = t.columns.length;
    let worst = 0;
    for (let i = 0; i < 200; i++) {
      const c = contributions(r.model, m.subarray(i * F, (i + 1) * F));
      worst = Math.max(worst, Math.abs(c.rawScore - raw[i]));
    }
    expect(worst).toBeLessThan(1e-9);
    const imp = featureImportance(r.model, t.featureNames);
    // The noise column carries no signal: the informative features outrank it by gain.
    expect(imp[imp.length - 1].gain).toBeLessThan(imp[0].gain);
    expect(imp.find((x) => x.feature === 'nb_previous_loans')?.splits).toBeGreaterThan(0);
  });
});

describe('splits', () => {
  it('out-of-time: train is older than validation, older than test, and a time never straddles a cut', () => {
    const time = Float64Array.from({ length: 1000 }, (_, i) => Math.floor((999 - i) / 10));
    const s = outOfTimeSplit(time);
    const max = (rows: Uint32Array) => Math.max(...Array.from(rows, (r) => time[r]));
    const min = (rows: Uint32Array) => Math.min(...Array.from(rows, (r) => time[r]));
    expect(max(s.train)).toBeLessThan(min(s.valid));
    expect(max(s.valid)).toBeLessThan(min(s.test));
    expect(s.train.length + s.valid.length + s.test.length).toBe(1000);
  });

  it('random: the same seed gives the same split, another seed another one', () => {
    const a = randomSplit(500, 1);
    expect(randomSplit(500, 1).test).toEqual(a.test);
    expect(randomSplit(500, 2).test).not.toEqual(a.test);
    expect(a.train.length).toBe(350);
  });

  it('a missing time is an input error', () => {
    expect(() => outOfTimeSplit(Float64Array.from([1, Number.NaN, 3]))).toThrow(InputError);
  });
});

describe('logistic baseline and threshold', () => {
  it('learns a signal (AUC well above 0.5) despite missing values', () => {
    const model = fitLogistic(
      t.columns.map((c) => c.subarray(0, 5000)),
      t.label.subarray(0, 5000),
    );
    const p = predictLogistic(
      model,
      t.columns.map((c) => c.subarray(5000)),
      1000,
    );
    expect(model.indicatorOf.length).toBe(2);
    expect(binaryMetrics(t.label.subarray(5000), p, 0.5).auc).toBeGreaterThan(0.62);
  });

  it('moves a threshold tied with validation scores halfway down, keeping every validation label', () => {
    const scores = [0.1, 0.2, 0.2, 0.3];
    const th = robustThreshold(0.2, scores);
    expect(th).toBeGreaterThan(0.1);
    expect(th).toBeLessThan(0.2);
    expect(Math.fround(th)).toBe(th);
    expect(scores.map((s) => s >= th)).toEqual(scores.map((s) => s >= 0.2));
  });
});
