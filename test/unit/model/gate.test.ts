import { describe, expect, it } from '@jest/globals';
import { DEFAULT_GATE_CONFIG, evaluateGate, gateConfig } from '#lib/model/gate.ts';
import type { BinaryMetrics } from '#lib/model/metrics.ts';

/** A challenger that clears every default floor: 1,000 rows, 100 positive (base-rate Brier 0.09). */
function metrics(over: Partial<BinaryMetrics> = {}): BinaryMetrics {
  return {
    n: 1000,
    positives: 100,
    auc: 0.75,
    prAuc: 0.3,
    ks: 0.4,
    brier: 0.08,
    logloss: 0.3,
    ece: 0.02,
    reliability: [],
    threshold: 0.2,
    confusion: { tp: 50, fp: 100, tn: 800, fn: 50 },
    precision: 1 / 3,
    recall: 0.5,
    f1: 0.4,
    ...over,
  };
}

const rules = (d: ReturnType<typeof evaluateGate>) => d.reasons.map((r) => r.split(':')[0]);

describe('evaluateGate: absolute floors', () => {
  it('passes a good first model with no reasons and records every check', () => {
    const d = evaluateGate(metrics(), undefined);
    expect(d).toMatchObject({ pass: true, reasons: [] });
    expect(d.checks.map((c) => c.rule)).toEqual([
      'too_few_test_rows',
      'too_few_test_positives',
      'auc_below_floor',
      'ks_below_floor',
      'ece_above_ceiling',
      'brier_not_better_than_base_rate',
    ]);
  });

  it.each([
    ['auc_below_floor', { auc: 0.59 }],
    ['ks_below_floor', { ks: 0.05 }],
    ['ece_above_ceiling', { ece: 0.051 }],
    ['brier_not_better_than_base_rate', { brier: 0.095 }],
    ['too_few_test_rows', { n: 199 }],
    ['too_few_test_positives', { positives: 19, brier: 0.01 }],
  ])('fails %s', (rule, over) => {
    const d = evaluateGate(metrics(over), undefined);
    expect(d.pass).toBe(false);
    expect(rules(d)).toEqual([rule]);
  });

  it('fails an undefined (NaN) AUC instead of letting it through', () => {
    const d = evaluateGate(metrics({ auc: Number.NaN }), undefined);
    expect(rules(d)).toContain('auc_below_floor');
    expect(d.checks.find((c) => c.rule === 'auc_below_floor')?.actual).toBeNull();
  });

  it('reads its reasons as data a Choice state and a person can use', () => {
    const d = evaluateGate(metrics({ auc: 0.55 }), undefined);
    expect(d.reasons).toEqual(['auc_below_floor: auc 0.5500, floor 0.6000']);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });

  it('honours a configured floor', () => {
    expect(evaluateGate(metrics({ auc: 0.62 }), undefined, { minAuc: 0.65 }).pass).toBe(false);
    expect(evaluateGate(metrics({ brier: 0.2 }), undefined, { requireBrierBeatsBaseRate: false }).pass).toBe(
      true,
    );
  });
});

describe('evaluateGate: challenger versus champion', () => {
  it('accepts an AUC drop within the margin and refuses a larger one', () => {
    expect(evaluateGate(metrics({ auc: 0.746 }), metrics({ auc: 0.75 })).pass).toBe(true);
    const d = evaluateGate(metrics({ auc: 0.744 }), metrics({ auc: 0.75 }));
    expect(rules(d)).toEqual(['auc_worse_than_champion']);
    expect(d.reasons[0]).toMatch(/auc 0\.7440 vs champion 0\.7500/);
    expect(evaluateGate(metrics({ auc: 0.74 }), metrics({ auc: 0.75 }), { maxAucDrop: 0.02 }).pass).toBe(
      true,
    );
  });

  it('refuses a challenger much worse calibrated than the champion', () => {
    const d = evaluateGate(metrics({ ece: 0.045 }), metrics({ ece: 0.01 }));
    expect(rules(d)).toEqual(['ece_worse_than_champion']);
  });

  it('refuses a champion scored on other rows than the challenger', () => {
    const d = evaluateGate(metrics(), metrics({ n: 900, auc: 0.5 }));
    expect(rules(d)).toEqual(['champion_not_comparable']);
  });

  it('lets a better challenger through', () => {
    expect(evaluateGate(metrics({ auc: 0.8 }), metrics({ auc: 0.75 })).pass).toBe(true);
  });
});

describe('gateConfig', () => {
  it('uses defaults, then the environment, then explicit parameters', () => {
    expect(gateConfig()).toEqual(DEFAULT_GATE_CONFIG);
    const c = gateConfig(
      {
        GATE_MIN_AUC: '0.7',
        GATE_MAX_AUC_DROP: '0.01',
        GATE_REQUIRE_BRIER_BEATS_BASE_RATE: 'false',
        GATE_MAX_ECE: '',
      },
      { maxAucDrop: 0 },
    );
    expect(c).toMatchObject({ minAuc: 0.7, maxAucDrop: 0, requireBrierBeatsBaseRate: false, maxEce: 0.05 });
  });

  it('names the bad setting', () => {
    expect(() => gateConfig({ GATE_MIN_AUC: 'high' })).toThrow(/GATE_MIN_AUC must be a number/);
    expect(() => gateConfig({}, { maxEce: -1 })).toThrow(/gate parameter maxEce/);
  });
});

describe('evaluateGate: the logistic baseline can stop a model', () => {
  it('rejects a challenger whose test AUC does not beat the baseline on the same rows, and says so', () => {
    const d = evaluateGate(metrics({ auc: 0.75 }), undefined, {}, { baselineAuc: 0.76 });
    expect(d.pass).toBe(false);
    expect(rules(d)).toEqual(['auc_not_above_baseline']);
    expect(d.reasons[0]).toMatch(/auc 0\.7500 vs logistic baseline 0\.7600/);
    // a tie does not beat it either (margin 0 means strictly better)
    expect(evaluateGate(metrics({ auc: 0.75 }), undefined, {}, { baselineAuc: 0.75 }).pass).toBe(false);
    expect(evaluateGate(metrics({ auc: 0.75 }), undefined, {}, { baselineAuc: 0.74 }).pass).toBe(true);
  });

  it('applies the configured margin, which may be negative', () => {
    const facts = { baselineAuc: 0.74 };
    expect(evaluateGate(metrics({ auc: 0.75 }), undefined, { baselineAucMargin: 0.02 }, facts).pass).toBe(
      false,
    );
    expect(
      evaluateGate(metrics({ auc: 0.75 }), undefined, { baselineAucMargin: -0.02 }, { baselineAuc: 0.76 })
        .pass,
    ).toBe(true);
  });

  it('skips the rule when the card has no baseline', () => {
    const d = evaluateGate(metrics(), undefined, {}, { baselineAuc: null });
    expect(d.checks.map((c) => c.rule)).not.toContain('auc_not_above_baseline');
  });
});

describe('evaluateGate: adverse impact ratio (four-fifths rule)', () => {
  const fairness = {
    code_gender: {
      groups: [],
      adverseImpactRatio: 0.7,
      lowestApproval: { group: 'F', rate: 0.63 },
      highestApproval: { group: 'M', rate: 0.9 },
      equalOpportunityDifference: 0.1,
      minGroupRows: 30,
    },
    age_band: {
      groups: [],
      adverseImpactRatio: 0.95,
      lowestApproval: { group: '<25', rate: 0.855 },
      highestApproval: { group: '45-54', rate: 0.9 },
      equalOpportunityDifference: 0.02,
      minGroupRows: 30,
    },
  };

  it('flags a ratio below 0.8 by default without failing the gate', () => {
    const d = evaluateGate(metrics(), undefined, {}, { fairness });
    expect(d.pass).toBe(true);
    expect(d.reasons).toEqual([]);
    expect(d.flags).toEqual([
      expect.stringMatching(/^adverse_impact_ratio_below_floor: code_gender: adverse impact ratio 0\.7000/),
    ]);
    expect(d.checks.filter((c) => c.rule === 'adverse_impact_ratio_below_floor').map((c) => c.pass)).toEqual([
      false,
      true,
    ]);
  });

  it('fails the gate when configured to, and honours another floor', () => {
    const fail = evaluateGate(metrics(), undefined, gateConfig({ GATE_FAIRNESS_MODE: 'fail' }), { fairness });
    expect(fail.pass).toBe(false);
    expect(rules(fail)).toEqual(['adverse_impact_ratio_below_floor']);
    const lenient = evaluateGate(
      metrics(),
      undefined,
      { fairnessMode: 'fail', minAdverseImpactRatio: 0.6 },
      { fairness },
    );
    expect(lenient.pass).toBe(true);
  });

  it('reads the new settings from the environment and names a bad one', () => {
    expect(
      gateConfig({
        GATE_BASELINE_AUC_MARGIN: '-0.01',
        GATE_MIN_ADVERSE_IMPACT_RATIO: '0.9',
        GATE_FAIRNESS_MODE: 'fail',
      }),
    ).toMatchObject({ baselineAucMargin: -0.01, minAdverseImpactRatio: 0.9, fairnessMode: 'fail' });
    expect(() => gateConfig({}, { fairnessMode: 'warn' })).toThrow(
      /gate parameter fairnessMode must be "flag" or "fail"/,
    );
    expect(() => gateConfig({ GATE_BASELINE_AUC_MARGIN: 'x' })).toThrow(
      /GATE_BASELINE_AUC_MARGIN must be a number/,
    );
  });
});
