import { describe, expect, it } from '@jest/globals';
import {
  monthOf,
  monthsUntilAucLoss,
  stalenessByMonth,
  weightedSlope,
  type StalenessRecord,
} from '#lib/model/staleness.ts';

// Days since 1970-01-01: 2021-01-01 is 18628, 2021-02-01 is 18659, 2021-03-01 is 18687.
const JAN = 18628;
const FEB = 18659;
const MAR = 18687;

describe('stalenessByMonth', () => {
  it('scores each calendar month on its own, in month order, counting months from the training end', () => {
    // January ranks perfectly, February inverts every pair, March holds one class only.
    const days = [FEB, FEB, JAN, JAN, FEB, JAN, MAR, MAR];
    const y = [1, 0, 1, 0, 1, 0, 0, 0];
    const p = [0.2, 0.9, 0.8, 0.1, 0.3, 0.2, 0.1, 0.3];
    const r = stalenessByMonth({
      days,
      y,
      p,
      trainedUntil: '2020-12-31',
      timeColumn: 'loan_date',
      scoredOn: 'test',
      minRows: 1,
    });
    expect(r.months.map((m) => [m.month, m.monthsAfter, m.rows, m.positives])).toEqual([
      ['2021-01', 1, 3, 1],
      ['2021-02', 2, 3, 2],
      ['2021-03', 3, 2, 0],
    ]);
    expect(r.months[0].auc).toBe(1);
    expect(r.months[1].auc).toBe(0);
    expect(r.months[2].auc).toBeNull();
    expect(r.months[2].meanScore).toBeCloseTo(0.2);
    expect(r.months[1].positiveRate).toBeCloseTo(2 / 3);
    // One AUC point per month with both classes: 1 then 0, equal weights: -1 per month.
    expect(r.aucSlopePerMonth).toBeCloseTo(-1);
    expect(monthsUntilAucLoss(r, 0.01)).toBeCloseTo(0.01);
  });

  it('leaves months under minRows out of the slopes but lists them', () => {
    const days = [JAN, JAN, FEB, FEB, FEB, FEB];
    const r = stalenessByMonth({
      days,
      y: [1, 0, 1, 0, 1, 0],
      p: [0.9, 0.1, 0.9, 0.1, 0.8, 0.2],
      trainedUntil: '2021-01-15',
      timeColumn: 'd',
      scoredOn: 'test',
      minRows: 3,
    });
    expect(r.months.map((m) => m.monthsAfter)).toEqual([0, 1]);
    expect(r.aucSlopePerMonth).toBeNull();
  });
});

describe('weightedSlope and monthsUntilAucLoss', () => {
  it('fits a row-weighted line', () => {
    expect(
      weightedSlope([
        { x: 1, y: 0.8, w: 100 },
        { x: 2, y: 0.78, w: 100 },
        { x: 3, y: 0.76, w: 100 },
      ]),
    ).toBeCloseTo(-0.02);
    expect(weightedSlope([{ x: 1, y: 0.8, w: 1 }])).toBeNull();
  });

  it('reads no loss from a flat or rising AUC', () => {
    const flat = { aucSlopePerMonth: 0.001 } as StalenessRecord;
    expect(monthsUntilAucLoss(flat)).toBeNull();
    expect(monthsUntilAucLoss({ aucSlopePerMonth: -0.002 } as StalenessRecord, 0.01)).toBeCloseTo(5);
  });

  it('names months as YYYY-MM', () => {
    expect([monthOf(JAN), monthOf(FEB - 1), monthOf(MAR)]).toEqual(['2021-01', '2021-01', '2021-03']);
  });
});
