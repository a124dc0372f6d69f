import { describe, expect, it } from '@jest/globals';
import { creditViews, ksCurves } from '#lib/model/credit-views.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';
import { Prng } from '#lib/model/gbdt/prng.ts';

function scored(n: number, seed: number): { y: Uint8Array; p: Float64Array; amount: Float64Array } {
  const r = new Prng(seed);
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  const amount = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const risk = r.next();
    y[i] = r.next() < risk * 0.3 ? 1 : 0;
    p[i] = Math.round(risk * 0.3 * 1000) / 1000; // ties, as trees give
    amount[i] = 100 + Math.floor(r.next() * 900);
  }
  return { y, p, amount };
}

describe('creditViews', () => {
  const { y, p, amount } = scored(5000, 3);
  const m = binaryMetrics(y, p, 0.1);
  const v = creditViews(y, p, 0.1, { amounts: amount, amountColumn: 'loan_amount' });

  it('gives Gini = 2 AUC - 1 and the KS of the metrics module', () => {
    expect(v.gini).toBeCloseTo(2 * m.auc - 1, 12);
    expect(v.ks).toBeCloseTo(m.ks, 12);
  });

  it('splits the rows into ten deciles, riskiest first, whose bads add up', () => {
    expect(v.deciles.map((d) => d.decile)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(v.deciles.reduce((s, d) => s + d.rows, 0)).toBe(5000);
    expect(v.deciles.reduce((s, d) => s + d.bads, 0)).toBe(m.positives);
    expect(v.deciles[9].cumulativeBadShare).toBeCloseTo(1, 12);
    expect(v.deciles[0].lift).toBeGreaterThan(1.5);
    expect(v.deciles[0].minScore).toBeGreaterThanOrEqual(v.deciles[1].maxScore);
  });

  it('has a cutoff row at the model threshold that matches the confusion matrix, with losses', () => {
    const row = v.cutoffs.find((c) => c.label === 'model threshold');
    const approved = m.confusion.tn + m.confusion.fn;
    expect(row?.approvalRate).toBeCloseTo(approved / 5000, 12);
    expect(row?.badRateApproved).toBeCloseTo(m.confusion.fn / approved, 12);
    let el = 0;
    let bad = 0;
    for (let i = 0; i < 5000; i++)
      if (p[i] < 0.1) {
        el += p[i] * amount[i];
        if (y[i]) bad += amount[i];
      }
    expect(row?.expectedLoss).toBeCloseTo(el, 6);
    expect(row?.badAmountApproved).toBe(bad);
    // cutoffs are ordered by threshold, approval rising with it
    const rates = v.cutoffs.map((c) => c.approvalRate);
    expect([...rates].sort((a, b) => a - b)).toEqual(rates);
  });

  it('leaves losses out when no amounts are given', () => {
    const plain = creditViews(y, p, 0.1);
    expect(plain.cutoffs[0].expectedLoss).toBeUndefined();
    expect(plain.amountColumn).toBeUndefined();
  });

  it('draws KS curves from 0 to 1 for both classes', () => {
    const c = ksCurves(y, p);
    expect(c.bads[0]).toBe(0);
    expect(c.bads.at(-1)).toBeCloseTo(1, 12);
    expect(c.goods.at(-1)).toBeCloseTo(1, 12);
    const gap = Math.max(...c.bads.map((b, i) => b - c.goods[i]));
    // the chart samples every 25th row, inside runs of tied scores too: close to KS, not equal
    expect(Math.abs(gap - v.ks)).toBeLessThan(0.01);
  });
});
