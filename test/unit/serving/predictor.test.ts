import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { createPredictor, NonFiniteProbabilityError, onlineFeatureOrder } from '#lib/serving/predictor.ts';
import { customerRow, MemoryFeatureStore, RecordingModel, stumpModel } from './fake-ports.ts';

describe('predictor', () => {
  it('builds the vector in the order the model card gives, as of the clock date', async () => {
    const model = new RecordingModel('v1', [
      'flag_own_car',
      'age',
      'nb_previous_loans',
      'years_on_the_job',
      'avg_amount_loans_previous',
    ]);
    const predictor = createPredictor({
      featureStore: new MemoryFeatureStore(),
      clock: fixedClock('2025-06-15'),
      model,
    });
    await predictor.predict('5008827');
    // born 1990-06-15 -> 35 on 2025-06-15; job since 2015-01-10 -> 10; 4 loans of 400 in total.
    expect(Array.from(model.calls[0])).toEqual([1, 35, 4, 10, 100]);
  });

  it('does not count a loan on the request date as previous', async () => {
    const model = new RecordingModel();
    const predictor = createPredictor({
      featureStore: new MemoryFeatureStore(),
      clock: fixedClock('2024-03-01'),
      model,
    });
    await predictor.predict('5008827');
    expect(model.calls[0][0]).toBe(3);
    expect(model.calls[0][1]).toBe(90);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'refuses to answer a %p probability',
    async (score) => {
      const predictor = createPredictor({
        featureStore: new MemoryFeatureStore(),
        clock: fixedClock('2025-01-01'),
        model: new RecordingModel('v-bad', undefined, 0.5, () => score),
      });
      const failure = await predictor.predict('5008827').catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(NonFiniteProbabilityError);
      expect(failure).toMatchObject({ code: 'NON_FINITE_PROBABILITY', modelVersion: 'v-bad' });
    },
  );

  it('sends missing features as NaN', async () => {
    const store = new MemoryFeatureStore([
      customerRow({
        nbLoans: 0,
        sumLoanAmount: 0,
        nbLoansBeforeLastDate: 0,
        sumLoanAmountBeforeLastDate: 0,
        jobStartDate: null,
        flagOwnCar: null,
      }),
    ]);
    const model = new RecordingModel();
    await createPredictor({ featureStore: store, clock: fixedClock('2025-01-01'), model }).predict('5008827');
    const [nb, avg, , years, car] = Array.from(model.calls[0]);
    expect(nb).toBe(0);
    expect(avg).toBeNaN();
    expect(years).toBeNaN();
    expect(car).toBeNaN();
  });

  it('answers with the contract fields, the class from the threshold, and the served snapshot', async () => {
    const model = new RecordingModel('v7', undefined, 0.6, () => 0.6);
    const p = await createPredictor({
      featureStore: new MemoryFeatureStore(),
      clock: fixedClock('2025-01-01'),
      model,
    }).predict('5008827');
    expect(Object.keys(p).sort()).toEqual([
      'featureSnapshot',
      'id',
      'modelVersion',
      'prediction',
      'probability',
      'reasons',
      'threshold',
    ]);
    // A model without an explainer (trained before explanations) answers no reasons.
    expect(p.reasons).toEqual([]);
    expect(p).toMatchObject({
      id: '5008827',
      threshold: 0.6,
      modelVersion: 'v7',
      featureSnapshot: 'snap-test',
    });
    expect(p.probability).toBeCloseTo(0.6, 6);
    // float32 0.6 is slightly below 0.6: the class follows the probability actually returned.
    expect(p.prediction).toBe(p.probability >= 0.6 ? 1 : 0);
  });

  it('predicts class 1 at or above the threshold and 0 below it', async () => {
    const store = new MemoryFeatureStore();
    const clock = fixedClock('2025-01-01');
    const high = createPredictor({
      featureStore: store,
      clock,
      model: new RecordingModel('v', undefined, 0.25, () => 0.5),
    });
    const low = createPredictor({
      featureStore: store,
      clock,
      model: new RecordingModel('v', undefined, 0.75, () => 0.5),
    });
    expect((await high.predict('5008827')).prediction).toBe(1);
    expect((await low.predict('5008827')).prediction).toBe(0);
  });

  it('an unknown customer is an InputError UNKNOWN_CUSTOMER naming the id', async () => {
    const predictor = createPredictor({
      featureStore: new MemoryFeatureStore(),
      clock: fixedClock('2025-01-01'),
      model: new RecordingModel(),
    });
    await expect(predictor.predict('123')).rejects.toThrow(InputError);
    await expect(predictor.predict('123')).rejects.toMatchObject({
      code: 'UNKNOWN_CUSTOMER',
      message: expect.stringContaining('123'),
    });
  });

  it('warming scores once and pings the store, without reading a customer', async () => {
    const store = new MemoryFeatureStore();
    const model = new RecordingModel();
    await createPredictor({ featureStore: store, clock: fixedClock('2025-01-01'), model }).warm();
    expect(model.calls).toHaveLength(1);
    expect(store.pings).toBe(1);
    expect(store.gets).toBe(0);
  });

  it('refuses, at start-up, a model that needs a feature the online store does not serve', () => {
    expect(() => onlineFeatureOrder(['age', 'income_per_child'])).toThrow(/income_per_child/);
    expect(() =>
      createPredictor({
        featureStore: new MemoryFeatureStore(),
        clock: fixedClock('2025-01-01'),
        model: new RecordingModel('v', ['zzz']),
      }),
    ).toThrow(/zzz/);
  });
});

describe('predictor reasons and explanation (TreeSHAP of the served row)', () => {
  // Customer 5008827 on 2025-01-01: 4 previous loans, 9 years in the job, 34 years old: every
  // stump sends it to its low-risk leaf. The risky one: 1 previous loan, no job start, 25 years old.
  const safe = customerRow();
  const risky = customerRow({
    id: '42',
    nbLoans: 1,
    sumLoanAmount: 100,
    nbLoansBeforeLastDate: 0,
    sumLoanAmountBeforeLastDate: 0,
    jobStartDate: null,
    birthday: '1999-06-01',
    flagOwnCar: 0,
  });
  const store = () => new MemoryFeatureStore([safe, risky]);
  const clock = fixedClock('2025-01-01');

  it('names the features that pushed toward default, largest first, with value, log-odds and text', async () => {
    const model = stumpModel([3, 5, 40, 0.5]);
    const p = await createPredictor({ featureStore: store(), clock, model }).predict('42');
    expect(p.reasons).toEqual([
      {
        feature: 'nb_previous_loans',
        value: 1,
        contribution: expect.any(Number),
        text: 'few previous loans',
      },
      {
        feature: 'years_on_the_job',
        value: null,
        contribution: expect.any(Number),
        text: 'not employed or job start unknown',
      },
      { feature: 'age', value: 25, contribution: expect.any(Number), text: 'young applicant' },
    ]);
    // A stump's contribution: the row's leaf minus the cover-weighted mean of the leaves.
    expect(p.reasons.map((r) => r.contribution)).toEqual([
      expect.closeTo(1.2, 12),
      expect.closeTo(0.7, 12),
      expect.closeTo(0.25, 12),
    ]);
    expect(p).not.toHaveProperty('explanation');
  });

  it('answers no reasons when nothing pushed toward default', async () => {
    const p = await createPredictor({ featureStore: store(), clock, model: stumpModel() }).predict('5008827');
    expect(p.reasons).toEqual([]);
  });

  it('says the neutral phrase when the card gives no typical value', async () => {
    const p = await createPredictor({ featureStore: store(), clock, model: stumpModel() }).predict('42');
    expect(p.reasons.map((r) => r.text)).toEqual([
      'number of previous loans',
      'not employed or job start unknown',
      'age of the applicant',
    ]);
  });

  it('with explain: every feature, bias + sum = margin and sigmoid(margin) = the probability', async () => {
    const model = stumpModel();
    const predictor = createPredictor({ featureStore: store(), clock, model });
    for (const id of ['42', '5008827']) {
      const p = await predictor.predict(id, { explain: true });
      const e = p.explanation!;
      expect(Object.keys(e.contributions)).toEqual([
        'nb_previous_loans',
        'years_on_the_job',
        'age',
        'flag_own_car',
      ]);
      expect(e.contributions.flag_own_car).toBe(0);
      expect(e.bias).toBeCloseTo(-1.4, 12);
      const sum = Object.values(e.contributions).reduce((s, c) => s + c, e.bias);
      expect(Math.abs(sum - e.margin)).toBeLessThan(1e-12);
      expect(Math.abs(1 / (1 + Math.exp(-e.margin)) - p.probability)).toBeLessThan(1e-6);
    }
    const risky42 = await predictor.predict('42', { explain: true });
    expect(risky42.explanation!.margin).toBeCloseTo(-1 + 1 + 0.5 + 0.25, 12);
  });

  it('with explain on a version without an explainer: explanation null, reasons empty', async () => {
    const p = await createPredictor({ featureStore: store(), clock, model: new RecordingModel() }).predict(
      '5008827',
      { explain: true },
    );
    expect(p.explanation).toBeNull();
    expect(p.reasons).toEqual([]);
  });

  it("overlapping requests each get their own row's reasons", async () => {
    const predictor = createPredictor({ featureStore: store(), clock, model: stumpModel() });
    const [a, b] = await Promise.all([predictor.predict('42'), predictor.predict('5008827')]);
    expect(a.reasons.map((r) => r.feature)).toEqual(['nb_previous_loans', 'years_on_the_job', 'age']);
    expect(b.reasons).toEqual([]);
  });

  it('warming explains an all-missing row too (the kernel compiles before the first customer)', async () => {
    const model = stumpModel();
    const calls: number[] = [];
    const explainRows = async (x: Float32Array, rows: number) => {
      calls.push(rows);
      return model.explainer!.explainRows(x, rows);
    };
    await createPredictor({ featureStore: store(), clock, model: { ...model, explainRows } }).warm();
    expect(calls).toEqual([1]);
  });

  it("refuses an explainer whose width is not the model's", () => {
    const model = { ...stumpModel(), featureNames: ['nb_previous_loans', 'age'] };
    expect(() => createPredictor({ featureStore: store(), clock, model })).toThrow(
      /explainer has 4 features/,
    );
  });
});
