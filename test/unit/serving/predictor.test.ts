import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { createPredictor, onlineFeatureOrder } from '#lib/serving/predictor.ts';
import { customerRow, MemoryFeatureStore, RecordingModel } from './fake-ports.ts';

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
      'threshold',
    ]);
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
