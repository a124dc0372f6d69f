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
