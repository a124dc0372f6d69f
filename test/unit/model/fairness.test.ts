import { describe, expect, it } from '@jest/globals';
import { fairnessByAttribute } from '#lib/model/fairness.ts';

/** Ten rows per gender; threshold 0.5: approve = p < 0.5. */
const y = [0, 0, 0, 0, 1, 0, 0, 0, 1, 1, /* M */ 0, 0, 0, 0, 0, 0, 1, 0, 1, 0];
const p = [
  0.1, 0.2, 0.3, 0.6, 0.7, 0.1, 0.2, 0.4, 0.3, 0.9, /* M */ 0.1, 0.1, 0.2, 0.3, 0.4, 0.2, 0.8, 0.1, 0.2, 0.3,
];
const gender = [...Array(10).fill('F'), ...Array(10).fill('M')] as string[];

describe('fairnessByAttribute', () => {
  const f = fairnessByAttribute(y, p, 0.5, { code_gender: gender }, { minGroupRows: 5 }).code_gender;
  const byGroup = Object.fromEntries(f.groups.map((g) => [g.group, g]));

  it('counts approval (prediction 0), bad rate among the approved and the true-positive rate per group', () => {
    // F: approved p<0.5 -> rows 0,1,2,5,6,7,8 = 7 of 10; bad among them: row 8 -> 1/7; bads 4,8,9 -> declined 4,9 = 2/3
    expect(byGroup.F).toMatchObject({ rows: 10, positives: 3, approvalRate: 0.7, inRatio: true });
    expect(byGroup.F.badRateApproved).toBeCloseTo(1 / 7, 12);
    expect(byGroup.F.truePositiveRate).toBeCloseTo(2 / 3, 12);
    expect(byGroup.F.goodApprovalRate).toBeCloseTo(6 / 7, 12);
    // M: approved all but row 16 -> 9/10; bads 16, 18 -> declined 16 only
    expect(byGroup.M).toMatchObject({ rows: 10, positives: 2, approvalRate: 0.9, truePositiveRate: 0.5 });
    expect(byGroup.M.badRateApproved).toBeCloseTo(1 / 9, 12);
  });

  it('gives the adverse impact ratio as the lowest group approval rate over the highest', () => {
    expect(f.adverseImpactRatio).toBeCloseTo(0.7 / 0.9, 12);
    expect(f.lowestApproval).toEqual({ group: 'F', rate: 0.7 });
    expect(f.highestApproval).toEqual({ group: 'M', rate: 0.9 });
    expect(f.equalOpportunityDifference).toBeCloseTo(2 / 3 - 0.5, 12);
  });

  it('lists a group too small for the ratios but leaves it out of them', () => {
    const g = [...gender.slice(0, 18), 'X', 'X'];
    const r = fairnessByAttribute(y, p, 0.5, { g }, { minGroupRows: 5 }).g;
    expect(r.groups.map((x) => [x.group, x.inRatio])).toEqual([
      ['F', true],
      ['M', true],
      ['X', false],
    ]);
    const counted = r.groups.filter((x) => x.inRatio).map((x) => x.approvalRate);
    expect(r.adverseImpactRatio).toBeCloseTo(Math.min(...counted) / Math.max(...counted), 12);
  });

  it('has no ratio with a single group, and no AUC for a single-class group', () => {
    const r = fairnessByAttribute(
      [0, 0, 0],
      [0.1, 0.2, 0.9],
      0.5,
      { a: ['x', 'x', 'x'] },
      { minGroupRows: 1 },
    ).a;
    expect(r.adverseImpactRatio).toBeNull();
    expect(r.groups[0].auc).toBeNull();
    expect(r.groups[0].truePositiveRate).toBeNull();
  });
});
