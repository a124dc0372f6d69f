import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { readFileSync } from 'node:fs';
import { createHandler, parseTrainEvent } from '#functions/train/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import type { TuningPlan } from '#lib/model/tuning-plan.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { freshHome } from '../../../support/home.ts';

const context = { awsRequestId: 'r', functionName: 'train' } as unknown as Context;

function handler() {
  const home = freshHome();
  const store = new FsObjectStore(home.store);
  const trained: unknown[] = [];
  return {
    trained,
    store,
    train: createHandler({
      featuresStore: store,
      modelsStore: store,
      train: async (r) => {
        trained.push(r);
        throw new Error('the plan mode must not train');
      },
      tmpDir: home.tmp,
      clock: fixedClock('2026-12-06'),
    }),
  };
}

describe('train function: plan mode (the PlanTuning state)', () => {
  it('answers the first rung of events/train-plan.json and trains nothing', async () => {
    const h = handler();
    const event = JSON.parse(readFileSync('events/train-plan.json', 'utf8')) as unknown;
    const plan = (await h.train(event, context)) as TuningPlan;
    expect(plan).toMatchObject({ done: false, maxConcurrency: 8, chosen: null, record: null });
    expect(plan.trials).toHaveLength(16);
    expect(plan.trials[0]).toMatchObject({ id: 0, rung: 0, fraction: 1 / 9, sampleSeed: 42 });
    expect(plan.state.startedAt).toBe('2026-12-06T12:00:00.000Z');
    expect(h.trained).toEqual([]);
    expect(await h.store.list('')).toEqual([]);
  });

  it('answers the next rung from the results the Map collected', async () => {
    const h = handler();
    const first = (await h.train({ mode: 'plan', tune: { trials: 3 }, base: {} }, context)) as TuningPlan;
    const results = first.trials.map((t) => ({
      id: t.id,
      rung: t.rung,
      fraction: t.fraction,
      trainRows: 1000,
      allRows: false,
      validAuc: 0.7 + t.id / 10,
      validLogloss: 0.3,
      trees: 10,
      treesBuilt: 20,
      stopReason: 'early-stopping',
      seconds: 1,
    }));
    const done = (await h.train(
      { mode: 'plan', tune: { trials: 3 }, base: {}, tuning: { state: first.state, results } },
      context,
    )) as TuningPlan;
    expect(done).toMatchObject({ done: true, trials: [], chosen: { id: 2, rung: 0 } });
    expect(done.record?.trials).toEqual(results);
  });
});

describe('parseTrainEvent', () => {
  it('picks the schema by mode and names the wrong field of that mode', () => {
    const code = (e: unknown) => {
      try {
        parseTrainEvent(e);
        return 'parsed';
      } catch (error) {
        return `${(error as { code?: string }).code}: ${(error as Error).message}`;
      }
    };
    expect(code({ snapshotId: 's1' })).toBe('parsed');
    expect(code({ mode: 'train', snapshotId: 's1' })).toBe('parsed');
    expect(code({})).toBe('BAD_TRAIN_EVENT: train event: event: give snapshotId or featuresKey');
    expect(code({ mode: 'trial', snapshotId: 's1', trial: { id: 1 } })).toMatch(
      /^BAD_TRAIN_EVENT: train event \(trial\): trial\.rung: /,
    );
    expect(
      code({ mode: 'trial', trial: JSON.parse(readFileSync('events/train-trial.json', 'utf8')).trial }),
    ).toBe('BAD_TRAIN_EVENT: train event (trial): event: give snapshotId or featuresKey');
    expect(code({ mode: 'plan', tune: 3 })).toMatch(/^BAD_TRAIN_EVENT: train event \(plan\): tune: /);
    expect(code({ mode: 'refit' })).toBe(
      'BAD_TRAIN_EVENT: train event: mode: must be train, plan or trial, got "refit"',
    );
  });
});
