import { describe, expect, it } from '@jest/globals';
import { binOf } from '#lib/model/gbdt/binning.ts';
import {
  binCounts,
  groupCounts,
  ksFromCounts,
  ksPValue,
  psi,
  PSI_EPSILON,
  psiGroups,
} from '#lib/monitoring/statistics.ts';

describe('PSI', () => {
  it('matches a hand computation: 50/50 -> 25/75 is 0.25 ln 2 + 0.25 ln 1.5', () => {
    // (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    expect(psi([0, 50, 50], [0, 25, 75])).toBeCloseTo(0.25 * Math.log(2) + 0.25 * Math.log(1.5), 12);
    expect(psi([0, 50, 50], [0, 25, 75])).toBeCloseTo(0.274653, 6);
  });

  it('is 0 for identical distributions, whatever the sample sizes', () => {
    expect(psi([10, 20, 30, 40], [10, 20, 30, 40])).toBe(0);
    expect(psi([1, 2, 3, 4], [100, 200, 300, 400])).toBeCloseTo(0, 12);
  });

  it('is symmetric in its two sides', () => {
    expect(psi([5, 30, 65], [20, 40, 40])).toBeCloseTo(psi([20, 40, 40], [5, 30, 65]), 12);
  });

  it('uses epsilon for a bin empty on one side: finite, and exactly the formula with the floor', () => {
    // expected shares [1, 0], actual [0.5, 0.5]: the empty expected bin counts as epsilon.
    const e = PSI_EPSILON;
    const hand = (0.5 - 1) * Math.log(0.5 / 1) + (0.5 - e) * Math.log(0.5 / e);
    expect(psi([100, 0], [50, 50])).toBeCloseTo(hand, 12);
    expect(Number.isFinite(psi([100, 0], [50, 50]))).toBe(true);
    // A larger epsilon makes the same gap count less.
    expect(psi([100, 0], [50, 50], 0.01)).toBeLessThan(psi([100, 0], [50, 50]));
  });

  it('ignores bins empty on both sides', () => {
    expect(psi([0, 50, 0, 50], [0, 25, 0, 75])).toBeCloseTo(psi([50, 50], [25, 75]), 12);
  });

  it('is NaN when a side has no rows at all (nothing to compare), and refuses different bin counts', () => {
    expect(psi([0, 0], [3, 4])).toBeNaN();
    expect(psi([3, 4], [0, 0])).toBeNaN();
    expect(() => psi([1, 2], [1, 2, 3])).toThrow(RangeError);
  });

  it('an all-missing sample against a reference with few missing values is large', () => {
    // reference: 1% missing, 49% and 50% in the two value bins; current: all missing.
    const value = psi([1, 49, 50], [100, 0, 0]);
    const hand =
      (1 - 0.01) * Math.log(1 / 0.01) +
      (PSI_EPSILON - 0.49) * Math.log(PSI_EPSILON / 0.49) +
      (PSI_EPSILON - 0.5) * Math.log(PSI_EPSILON / 0.5);
    expect(value).toBeCloseTo(hand, 10);
    expect(value).toBeGreaterThan(5);
  });
});

describe('binning with the model edges', () => {
  it('puts NaN in bin 0 and a value x in 1 + #{edges <= x}, as the trainer does', () => {
    const edges = Float32Array.from([1, 2.5, 10]);
    const values = [Number.NaN, 0, 1, 2, 2.5, 9.99, 10, 1e9, Number.NaN];
    expect(Array.from(binCounts(values, edges))).toEqual([2, 1, 2, 2, 2]);
    for (const v of values.filter((x) => !Number.isNaN(x)))
      expect(binCounts([v], edges)[binOf(Math.fround(v), edges)]).toBe(1);
  });

  it('rounds values to float32 first, so a double just below a float32 edge lands where the model routes it', () => {
    const edge = Math.fround(0.1); // 0.100000001490116...
    const justBelow = 0.1000000001; // below the edge as a double, equal to it as a float32
    expect(justBelow < edge).toBe(true);
    expect(Array.from(binCounts([justBelow], [edge]))).toEqual([0, 0, 1]);
  });

  it('all-missing values fill the missing bin only', () => {
    expect(Array.from(binCounts([Number.NaN, Number.NaN], [1, 2]))).toEqual([2, 0, 0, 0]);
  });
});

describe('PSI groups', () => {
  it('keep the missing bin alone and merge value bins into runs of about equal reference mass', () => {
    // 10 value bins of 10 rows each, 4 groups: a run closes once it holds 25 of the 100 rows.
    const counts = [7, ...Array(10).fill(10)];
    const map = psiGroups(counts, 4);
    expect(map[0]).toBe(0);
    expect(Array.from(map.slice(1))).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3, 4]);
    expect(Array.from(groupCounts(counts, map))).toEqual([7, 30, 30, 30, 10]);
  });

  it('leave features with fewer value bins than groups as they are', () => {
    expect(Array.from(psiGroups([1, 5, 5], 10))).toEqual([0, 1, 2]);
  });

  it('give a spike bin a group of its own instead of mixing it with its rare neighbours', () => {
    expect(Array.from(psiGroups([0, 1, 1, 98], 10))).toEqual([0, 1, 1, 2]);
    expect(Array.from(psiGroups([0, 60, 1, 1, 1, 37], 4))).toEqual([0, 1, 2, 2, 2, 3]);
    expect(Array.from(psiGroups([0, 1, 1, 98, 1], 10))).toEqual([0, 1, 1, 2, 3]);
  });
});

describe('KS on bins', () => {
  it('is the largest gap between the cumulative shares of non-missing values', () => {
    // reference CDF 0.5, 1.0; current 0.25, 1.0 (missing bin ignored).
    const ks = ksFromCounts([40, 50, 50], [0, 25, 75]);
    expect(ks?.d).toBeCloseTo(0.25, 12);
    expect(ks?.n).toBe(100);
    expect(ks?.m).toBe(100);
  });

  it('is 0 with p-value 1 for identical distributions, and undefined when a side has no value', () => {
    const ks = ksFromCounts([0, 10, 20, 30], [5, 1, 2, 3]);
    expect(ks?.d).toBeCloseTo(0, 12);
    expect(ks?.pValue).toBe(1);
    expect(ksFromCounts([3, 0, 0], [0, 1, 1])).toBeUndefined();
  });

  it('p-values follow the Kolmogorov distribution: the 5% critical value is 1.358', () => {
    // For large effective n, P(sqrt(ne) D > 1.358) = 0.05.
    const ne = 1e8;
    expect(ksPValue(1.358 / Math.sqrt(ne), ne)).toBeCloseTo(0.05, 3);
    expect(ksPValue(1.628 / Math.sqrt(ne), ne)).toBeCloseTo(0.01, 3);
    expect(ksPValue(0.5, 1000)).toBeLessThan(1e-10);
  });
});
