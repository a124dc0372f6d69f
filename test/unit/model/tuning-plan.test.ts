import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import { DEFAULT_GBDT_PARAMS, resolveParams } from '#lib/model/gbdt/params.ts';
import {
  drawConfigs,
  planTuning,
  rankTrials,
  resolveTuneSettings,
  rungFraction,
  rungSizes,
  SEARCH_SPACE,
  treesFor,
  TUNED_KEYS,
  type TrialResult,
  type TrialSpec,
  type TuningPlan,
} from '#lib/model/tuning-plan.ts';

const T0 = new Date('2026-12-06T10:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** A trial's answer whose AUC is a known function of the configuration: 0.7 + id / 1000, except id 5 best. */
function answer(spec: TrialSpec, auc = (id: number) => (id === 5 ? 0.9 : 0.7 + spec.id / 1000)): TrialResult {
  return {
    id: spec.id,
    rung: spec.rung,
    fraction: spec.fraction,
    trainRows: Math.round(spec.fraction * 9000),
    allRows: false,
    validAuc: auc(spec.id),
    validLogloss: 0.3,
    trees: 10,
    treesBuilt: 20,
    stopReason: 'early-stopping',
    seconds: 1,
  };
}

function runAll(
  tune: Record<string, unknown>,
  base: Record<string, unknown> = {},
  auc?: (id: number) => number,
): { plans: TuningPlan[] } {
  const plans = [planTuning({ tune, base }, at(0))];
  let i = 1;
  while (!plans[plans.length - 1].done) {
    const last = plans[plans.length - 1];
    const results = last.trials.map((t) => answer(t, auc));
    plans.push(planTuning({ tune, base, tuning: { state: last.state, results } }, at(i++)));
  }
  return { plans };
}

const codeOf = (run: () => unknown) => {
  try {
    run();
  } catch (e) {
    return e instanceof InputError ? e.code : String(e);
  }
  return undefined;
};

describe('successive halving schedule', () => {
  it('keeps 1/eta of each rung down to one configuration', () => {
    expect(rungSizes(16, 3)).toEqual([16, 5, 1]);
    expect(rungSizes(9, 3)).toEqual([9, 3, 1]);
    expect(rungSizes(27, 3)).toEqual([27, 9, 3, 1]);
    expect(rungSizes(2, 3)).toEqual([2, 1]);
    expect(rungSizes(1, 3)).toEqual([1]);
  });

  it('gives the last trained rung 1/eta of the rows and each earlier one 1/eta of the next', () => {
    expect([0, 1].map((r) => rungFraction(r, 2, 3))).toEqual([1 / 9, 1 / 3]);
    expect(rungFraction(0, 1, 4)).toBe(0.25);
  });

  it('gives a configuration trees for its learning rate, 300 at the default', () => {
    expect(treesFor(DEFAULT_GBDT_PARAMS.learningRate)).toBe(DEFAULT_GBDT_PARAMS.numTrees);
    expect(treesFor(0.3)).toBe(100);
    expect(treesFor(0.02)).toBe(750);
    expect(treesFor(0.02, 200)).toBe(200);
  });
});

describe('drawConfigs', () => {
  it('starts with the base params as they are, then draws inside the search space', () => {
    const settings = resolveTuneSettings({ trials: 40, seed: 3 });
    const configs = drawConfigs(settings, { numLeaves: 63 });
    expect(configs).toHaveLength(40);
    expect(configs[0]).toMatchObject({ numLeaves: 63, learningRate: DEFAULT_GBDT_PARAMS.learningRate });
    for (const c of configs.slice(1)) {
      for (const key of TUNED_KEYS) {
        const d = SEARCH_SPACE[key];
        const v = c[key];
        if (d.kind === 'log-or-zero' && v === 0) continue;
        // Values are rounded to three significant digits, so a bound may be passed by that much.
        expect(v).toBeGreaterThanOrEqual(d.low * 0.995);
        expect(v).toBeLessThanOrEqual(d.high * 1.005);
      }
      expect(Number.isInteger(c.numLeaves) && Number.isInteger(c.minDataInLeaf)).toBe(true);
      expect(c.baggingFreq).toBe(c.baggingFraction < 1 ? 1 : 0);
      // Every drawn configuration is a valid GBDT configuration.
      expect(() => resolveParams(c)).not.toThrow();
    }
  });

  it('is fixed by the seed, and another seed draws other configurations', () => {
    const a = drawConfigs(resolveTuneSettings({ trials: 8, seed: 1 }), {});
    expect(drawConfigs(resolveTuneSettings({ trials: 8, seed: 1 }), {})).toEqual(a);
    expect(drawConfigs(resolveTuneSettings({ trials: 8, seed: 2 }), {}).slice(1)).not.toEqual(a.slice(1));
  });
});

describe('planTuning', () => {
  it('runs 16 configurations on 1/9 of the rows, the best 5 on 1/3, then chooses the best of those', () => {
    const { plans } = runAll({ trials: 16 });
    expect(plans.map((p) => p.trials.length)).toEqual([16, 5, 0]);
    expect(plans[0].trials.every((t) => t.rung === 0 && t.fraction === 1 / 9)).toBe(true);
    // 0.7 + id/1000 ranks the high ids first; id 5 is best of all.
    expect(plans[1].trials.map((t) => t.id)).toEqual([5, 12, 13, 14, 15]);
    expect(plans[1].trials.every((t) => t.rung === 1 && t.fraction === 1 / 3)).toBe(true);
    const last = plans[2];
    expect(last).toMatchObject({ done: true, chosen: { id: 5, rung: 1, validAuc: 0.9, isDefaults: false } });
    expect(last.record?.trials).toHaveLength(21);
    expect(last.record).toMatchObject({
      method: 'successive-halving',
      scoredOn: 'validation',
      stoppedBy: 'schedule',
      rungs: [
        { rung: 0, fraction: 1 / 9, configs: 16 },
        { rung: 1, fraction: 1 / 3, configs: 5 },
      ],
      seconds: 2,
    });
  });

  it('puts the chosen configuration over the base params, for the final training and for every trial', () => {
    const base = { numThreads: 1, earlyStoppingRounds: 20 };
    const { plans } = runAll({ trials: 4, seed: 9 }, base);
    for (const t of plans[0].trials) expect(t.params).toMatchObject(base);
    const chosen = plans.at(-1)?.chosen;
    expect(chosen?.params).toEqual({ ...base, ...plans[0].state.configs[chosen?.id ?? -1] });
  });

  it('can choose the defaults: configuration 0 trains exactly the base params', () => {
    const { plans } = runAll({ trials: 4 }, {}, (id) => (id === 0 ? 0.95 : 0.6));
    expect(plans.at(-1)?.chosen).toMatchObject({ id: 0, isDefaults: true });
    const defaults = resolveParams(plans.at(-1)?.chosen?.params);
    expect(defaults).toEqual(resolveParams({}));
  });

  it('stops between rungs once the budget is spent, choosing from the last rung trained', () => {
    const tune = { trials: 27, budgetSeconds: 60 };
    const first = planTuning({ tune, base: {} }, at(0));
    const results = first.trials.map((t) => answer(t));
    const next = planTuning({ tune, base: {}, tuning: { state: first.state, results } }, at(61));
    expect(next).toMatchObject({ done: true, chosen: { id: 5, rung: 0 }, record: { stoppedBy: 'budget' } });
    // Within the budget the search goes on.
    const onTime = planTuning({ tune, base: {}, tuning: { state: first.state, results } }, at(30));
    expect(onTime.done).toBe(false);
    expect(onTime.trials).toHaveLength(9);
  });

  it('stops after a rung whose trials all trained on every row (small tables): the next would repeat them', () => {
    const tune = { trials: 16 };
    const first = planTuning({ tune, base: {} }, at(0));
    const results = first.trials.map((t) => ({ ...answer(t), allRows: true }));
    const next = planTuning({ tune, base: {}, tuning: { state: first.state, results } }, at(1));
    expect(next).toMatchObject({ done: true, chosen: { id: 5, rung: 0 }, record: { stoppedBy: 'schedule' } });
  });

  it('a single configuration needs no trial: the defaults are the choice', () => {
    const plan = planTuning({ tune: { trials: 1 }, base: {} }, at(0));
    expect(plan).toMatchObject({ done: true, trials: [], chosen: { id: 0, rung: -1, validAuc: null } });
  });

  it('answers the Map its concurrency, 8 unless the input sets it', () => {
    expect(planTuning({ tune: {}, base: {} }, at(0)).maxConcurrency).toBe(8);
    expect(planTuning({ tune: { maxConcurrency: 3 }, base: {} }, at(0)).maxConcurrency).toBe(3);
  });

  it("refuses results that are not the current rung's trials", () => {
    const first = planTuning({ tune: { trials: 4 }, base: {} }, at(0));
    const results = first.trials.map((t) => answer(t));
    const bad = (r: TrialResult[]) => () =>
      planTuning({ tune: {}, base: {}, tuning: { state: first.state, results: r } }, at(1));
    expect(codeOf(bad(results.slice(1)))).toBe('BAD_TUNING_RESULTS');
    expect(codeOf(bad(results.map((r) => ({ ...r, rung: 1 }))))).toBe('BAD_TUNING_RESULTS');
    expect(codeOf(bad([...results.slice(1), results[1]]))).toBe('BAD_TUNING_RESULTS');
  });

  it('refuses unknown or bad settings and bad base params with stable codes', () => {
    expect(
      codeOf(() => planTuning({ tune: { trails: 4 } as Record<string, unknown>, base: {} }, at(0))),
    ).toBe('BAD_TUNE_SETTINGS');
    expect(codeOf(() => planTuning({ tune: { trials: 0 }, base: {} }, at(0)))).toBe('BAD_TUNE_SETTINGS');
    expect(codeOf(() => planTuning({ tune: { trials: 82 }, base: {} }, at(0)))).toBe('BAD_TUNE_SETTINGS');
    expect(codeOf(() => planTuning({ tune: { eta: 1 }, base: {} }, at(0)))).toBe('BAD_TUNE_SETTINGS');
    expect(codeOf(() => planTuning({ tune: { budgetSeconds: -1 }, base: {} }, at(0)))).toBe(
      'BAD_TUNE_SETTINGS',
    );
    expect(codeOf(() => planTuning({ tune: {}, base: { leaves: 3 } }, at(0)))).toBe('BAD_PARAMETER');
  });

  it('survives a JSON round trip between steps (what the state machine carries)', () => {
    const tune = { trials: 9, seed: 4 };
    const direct = runAll(tune).plans.at(-1);
    const viaJson = [planTuning({ tune, base: {} }, at(0))];
    let i = 1;
    while (!viaJson[viaJson.length - 1].done) {
      const last = JSON.parse(JSON.stringify(viaJson[viaJson.length - 1])) as TuningPlan;
      const results = last.trials.map((t) => answer(t));
      viaJson.push(planTuning({ tune, base: {}, tuning: { state: last.state, results } }, at(i++)));
    }
    expect(viaJson.at(-1)?.chosen).toEqual(direct?.chosen);
    expect(viaJson.at(-1)?.record?.trials).toEqual(direct?.record?.trials);
  });
});

describe('rankTrials', () => {
  it('ranks by validation AUC, then logloss, then id', () => {
    const r = (id: number, validAuc: number, validLogloss: number) =>
      ({ id, validAuc, validLogloss }) as TrialResult;
    expect(
      rankTrials([r(1, 0.8, 0.3), r(2, 0.81, 0.5), r(3, 0.8, 0.2), r(0, 0.8, 0.2)]).map((x) => x.id),
    ).toEqual([2, 0, 3, 1]);
  });
});
