import { describe, expect, it } from '@jest/globals';
import { FEATURE_NAMES, FEATURE_TABLE_COLUMNS, REASON_TEXTS } from '#lib/features/catalog.ts';
import { ReasonCoder, reasonText, topReasonIndices } from '#lib/serving/reasons.ts';

describe('topReasonIndices', () => {
  it('keeps only contributions > 0, largest first, at most 4', () => {
    const c = [0.1, -2, 0.5, 0, 0.3, 0.9, 0.2, Number.NaN];
    expect(topReasonIndices(c, 0, c.length)).toEqual([5, 2, 4, 6]);
  });

  it('ties keep model order', () => {
    expect(topReasonIndices([0.5, 0.25, 0.5, 0.5, 0.5, 0.5], 0, 6)).toEqual([0, 2, 3, 4]);
  });

  it('reads one row of a wider buffer (a batch of rows, or a row with its bias after it)', () => {
    const rows = [9, 9, 9, /* row 2: */ -1, 0.2, 0.1];
    expect(topReasonIndices(rows, 3, 3)).toEqual([1, 2]);
    expect(topReasonIndices(rows, 3, 3, 1)).toEqual([1]);
  });

  it('nothing pushed toward default: no reason', () => {
    expect(topReasonIndices([-0.1, 0, -3], 0, 3)).toEqual([]);
  });
});

describe('reasonText', () => {
  it('picks the phrase by the value against the typical value', () => {
    expect(reasonText('years_on_the_job', 1, 6.5)).toBe('short time in current job');
    expect(reasonText('years_on_the_job', 12, 6.5)).toBe('long time in current job');
    expect(reasonText('years_on_the_job', 6.5, 6.5)).toBe('long time in current job');
    expect(reasonText('years_on_the_job', null, 6.5)).toBe('not employed or job start unknown');
    expect(reasonText('years_on_the_job', Number.NaN, 6.5)).toBe('not employed or job start unknown');
    expect(reasonText('flag_own_car', 0, 0.37)).toBe('does not own a car');
    expect(reasonText('flag_own_car', 1, 0.37)).toBe('owns a car');
  });

  it('says the neutral phrase without a typical value, and the name of a feature the catalog does not know', () => {
    expect(reasonText('nb_previous_loans', 1, null)).toBe('number of previous loans');
    expect(reasonText('nb_previous_loans', 1)).toBe('number of previous loans');
    expect(reasonText('income_per_child', 3, 1)).toBe('income_per_child');
  });

  it('every model feature of the catalog has four short, distinct phrases', () => {
    expect([...REASON_TEXTS.keys()]).toEqual(FEATURE_NAMES);
    for (const c of FEATURE_TABLE_COLUMNS) {
      if (c.role !== 'feature') expect(REASON_TEXTS.has(c.name)).toBe(false);
    }
    for (const [feature, t] of REASON_TEXTS) {
      const phrases = [t.low, t.high, t.missing, t.neutral];
      expect({ feature, distinct: new Set(phrases).size }).toEqual({ feature, distinct: 4 });
      for (const p of phrases) {
        expect(p.length).toBeGreaterThan(3);
        expect(p.length).toBeLessThanOrEqual(40);
        expect(p).not.toContain('_');
      }
    }
  });
});

describe('ReasonCoder', () => {
  const coder = new ReasonCoder(['nb_previous_loans', 'age', 'flag_own_car'], [3.2, 41, 0.4]);

  it('reasons from a row of contributions with its bias after them', () => {
    expect(coder.reasons([1, 52, null], [0.8, 0.1, -0.3, -2])).toEqual([
      { feature: 'nb_previous_loans', value: 1, contribution: 0.8, text: 'few previous loans' },
      { feature: 'age', value: 52, contribution: 0.1, text: 'older applicant' },
    ]);
  });

  it('an explanation: bias, margin = bias + sum, every feature by name', () => {
    expect(coder.explanation([0.5, -0.25, 0, -2])).toEqual({
      bias: -2,
      margin: -1.75,
      contributions: { nb_previous_loans: 0.5, age: -0.25, flag_own_car: 0 },
    });
  });

  it('refuses typical values that do not match the features', () => {
    expect(() => new ReasonCoder(['age'], [1, 2])).toThrow(RangeError);
  });
});
