import { describe, expect, it } from '@jest/globals';
import type { MatchedOutcome } from '#lib/monitoring/outcomes.ts';
import { isoWeek, realizedAucGap, realizedPerformance, scoreDeciles } from '#lib/monitoring/performance.ts';
import { SeededRandom } from '#lib/data/random.ts';

function outcome(
  i: number,
  probability: number,
  status: 0 | 1,
  over: Partial<MatchedOutcome> = {},
): MatchedOutcome {
  return {
    id: String(1000 + i),
    decisionDate: '2026-12-01',
    status,
    modelVersion: 'a'.repeat(64),
    snapshotId: 's1',
    probability,
    prediction: probability >= 0.5 ? 1 : 0,
    threshold: 0.5,
    requestId: `r${i}`,
    time: `2026-12-01T10:00:${String(i % 60).padStart(2, '0')}.000Z`,
    ...over,
  };
}

/** AUC as the probability that a random positive outscores a random negative (ties: half). */
function pairwiseAuc(rows: readonly MatchedOutcome[]): number {
  let wins = 0;
  let pairs = 0;
  for (const p of rows.filter((r) => r.status === 1))
    for (const n of rows.filter((r) => r.status === 0)) {
      pairs++;
      wins += p.probability > n.probability ? 1 : p.probability === n.probability ? 0.5 : 0;
    }
  return wins / pairs;
}

/** KS: the largest gap between the score CDFs of positives and negatives. */
function twoSampleKs(rows: readonly MatchedOutcome[]): number {
  const cuts = [...new Set(rows.map((r) => r.probability))];
  const pos = rows.filter((r) => r.status === 1);
  const neg = rows.filter((r) => r.status === 0);
  let ks = 0;
  for (const c of cuts) {
    const fp = pos.filter((r) => r.probability <= c).length / pos.length;
    const fn = neg.filter((r) => r.probability <= c).length / neg.length;
    ks = Math.max(ks, Math.abs(fp - fn));
  }
  return ks;
}

function noisyOutcomes(n: number, seed: number, version = 'a'.repeat(64)): MatchedOutcome[] {
  const rng = new SeededRandom(seed);
  const rows: MatchedOutcome[] = [];
  for (let i = 0; i < n; i++) {
    // Rounded to 2 digits so that ties occur and are counted as halves.
    const p = Math.round(rng.next() * 100) / 100;
    rows.push(outcome(i, p, rng.next() < p * 0.6 + 0.05 ? 1 : 0, { modelVersion: version }));
  }
  return rows;
}

describe('realizedPerformance', () => {
  it('realized AUC and KS equal an independent pairwise count, with ties', () => {
    const rows = noisyOutcomes(400, 3);
    const [v] = realizedPerformance(rows, new Map()).versions;
    expect(v.rows).toBe(400);
    expect(v.positives).toBe(rows.filter((r) => r.status === 1).length);
    expect(v.realizedAuc).toBeCloseTo(pairwiseAuc(rows), 12);
    expect(v.ks).toBeCloseTo(twoSampleKs(rows), 12);
    expect(v.realizedAuc!).toBeGreaterThan(0.6);
  });

  it('ECE is the count-weighted |mean score - positive share| over 10 equal-width bins', () => {
    const rows = [
      outcome(0, 0.05, 0),
      outcome(1, 0.05, 1),
      outcome(2, 0.95, 1),
      outcome(3, 0.95, 1),
      outcome(4, 0.55, 0),
    ];
    const [v] = realizedPerformance(rows, new Map()).versions;
    // bins: [0,0.1): mean 0.05, share 0.5 -> 0.45 * 2/5; [0.5,0.6): 0.55 vs 0 -> 0.55 * 1/5; [0.9,1]: 0.95 vs 1 -> 0.05 * 2/5
    expect(v.ece).toBeCloseTo((0.45 * 2 + 0.55 + 0.05 * 2) / 5, 12);
  });

  it('one report row per version, beside its offline AUC, and a gap offline - realized', () => {
    const a = noisyOutcomes(100, 1, 'a'.repeat(64));
    const b = noisyOutcomes(50, 2, 'b'.repeat(64)).map((r) => ({ ...r, time: `2026-12-02T00:00:00.000Z` }));
    const report = realizedPerformance([...b, ...a], new Map([['a'.repeat(64), 0.8]]));
    expect(report.versions.map((v) => [v.modelVersion, v.rows, v.offlineAuc])).toEqual([
      ['a'.repeat(64), 100, 0.8],
      ['b'.repeat(64), 50, null],
    ]);
    expect(realizedAucGap(report.versions[0])).toBeCloseTo(0.8 - pairwiseAuc(a), 12);
    expect(realizedAucGap(report.versions[1])).toBeNull();
  });

  it('null AUC and KS while a version has one class only', () => {
    const [v] = realizedPerformance([outcome(0, 0.2, 0), outcome(1, 0.7, 0)], new Map()).versions;
    expect(v).toMatchObject({ rows: 2, positives: 0, realizedAuc: null, ks: null });
    expect(v.ece).toBeCloseTo((0.2 + 0.7) / 2, 12);
  });

  it('per ISO week of the decision date, each with its own AUC', () => {
    const w1 = [outcome(0, 0.9, 1), outcome(1, 0.1, 0)]; // 2026-12-01 is a Tuesday of W49
    const w2 = [0, 1, 2].map((i) =>
      outcome(10 + i, [0.2, 0.8, 0.5][i], [1, 0, 0][i] as 0 | 1, { decisionDate: '2026-12-08' }),
    );
    const [v] = realizedPerformance([...w1, ...w2], new Map()).versions;
    expect(v.weeks).toEqual([
      { week: '2026-W49', rows: 2, positives: 1, realizedAuc: 1 },
      { week: '2026-W50', rows: 3, positives: 1, realizedAuc: 0 },
    ]);
  });
});

describe('isoWeek', () => {
  it.each([
    ['2026-12-06', '2026-W49'], // Sunday closes the week
    ['2026-12-07', '2026-W50'],
    ['2021-01-03', '2020-W53'], // January days in the previous year's last week
    ['2024-12-30', '2025-W01'], // December days in the next year's first week
  ])('%s is %s', (date, week) => expect(isoWeek(date)).toBe(week));
});

describe('scoreDeciles', () => {
  it('ten groups of equal count by score, 1 the lowest, with their bad rate', () => {
    const rows = Array.from({ length: 20 }, (_, i) => outcome(i, i / 20, i >= 18 || i === 0 ? 1 : 0));
    const d = scoreDeciles(rows);
    expect(d.map((x) => x.rows)).toEqual(Array(10).fill(2));
    expect(d.map((x) => x.badRate)).toEqual([0.5, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('empty groups have a null bad rate when there are fewer than ten rows', () => {
    const d = scoreDeciles([outcome(0, 0.1, 1), outcome(1, 0.2, 0)]);
    expect(d.reduce((s, x) => s + x.rows, 0)).toBe(2);
    expect(d.filter((x) => x.rows === 0).every((x) => x.badRate === null)).toBe(true);
  });
});
