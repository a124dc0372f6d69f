import { describe, expect, it } from '@jest/globals';
import { drawOutcomes, labelFeaturesOf, outcomesCsv } from '#lib/data/outcomes.ts';
import { riskScore, sigmoid } from '#lib/data/label.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { customerRow } from '../serving/fake-ports.ts';

/** `credit-risk data outcomes`: outcomes drawn from the generator's label relation. */
function rows(n: number): Map<string, CustomerFeatureRow> {
  const out = new Map<string, CustomerFeatureRow>();
  for (let i = 0; i < n; i++) {
    const id = String(7000000 + i);
    // Half first-time, young, low-income applicants (high risk), half long-history, mid-age, high-income.
    out.set(
      id,
      i % 2 === 0
        ? customerRow({
            id,
            nbLoans: 1,
            nbLoansBeforeLastDate: 0,
            sumLoanAmountBeforeLastDate: 0,
            birthday: '2005-01-01',
            jobStartDate: null,
            flagOwnCar: 0,
            amtIncomeTotal: 30000,
            previousLoanDate: null,
            lastLoanDate: '2024-03-01',
          })
        : customerRow({ id, nbLoans: 15, birthday: '1982-01-01', amtIncomeTotal: 400000 }),
    );
  }
  return out;
}

describe('drawOutcomes', () => {
  const store = rows(4000);
  const decisions = [...store.keys()].map((id) => ({ id, decisionDate: '2026-12-06' }));
  const lookup = async (id: string) => store.get(id);

  it('is the same for the same seed whatever the order, and different for another seed', async () => {
    const a = await drawOutcomes(decisions, lookup, { seed: 1 });
    const b = await drawOutcomes([...decisions].reverse(), lookup, { seed: 1 });
    const c = await drawOutcomes(decisions, lookup, { seed: 2 });
    const byId = (d: typeof a) => Object.fromEntries(d.outcomes.map((o) => [o.id, o.status]));
    expect(byId(b)).toEqual(byId(a));
    expect(byId(c)).not.toEqual(byId(a));
  });

  it('follows the label relation: the risky half defaults at about its sigmoid(z), the safe half far less', async () => {
    const { outcomes } = await drawOutcomes(decisions, lookup, { seed: 3 });
    const rate = (parity: number) => {
      const group = outcomes.filter((_, i) => i % 2 === parity);
      return group.reduce((s, o) => s + o.status, 0) / group.length;
    };
    const risky = sigmoid(riskScore(labelFeaturesOf(store.get('7000000')!, '2026-12-06')));
    const safe = sigmoid(riskScore(labelFeaturesOf(store.get('7000001')!, '2026-12-06')));
    expect(risky).toBeGreaterThan(5 * safe);
    // Noise N(0, 0.6) on z moves the mean rate a little above sigmoid(z) for small rates.
    expect(rate(0)).toBeGreaterThan(risky * 0.8);
    expect(rate(0)).toBeLessThan(risky * 1.6);
    expect(rate(1)).toBeLessThan(rate(0) / 3);
  });

  it('a customer no longer in the store, or a date before its last loan, is skipped with the reason', async () => {
    const r = await drawOutcomes(
      [
        { id: '1', decisionDate: '2026-12-06' },
        { id: '7000000', decisionDate: '2020-01-01' },
      ],
      lookup,
      { seed: 1 },
    );
    expect(r.outcomes).toEqual([]);
    expect(r.skipped.map((s) => s.reason)).toEqual([
      'not in the online store',
      expect.stringContaining('before customer 7000000'),
    ]);
  });

  it('writes id,decision_date,status', () => {
    expect(outcomesCsv([{ id: '1', decisionDate: '2026-12-06', status: 1 }])).toBe(
      'id,decision_date,status\n1,2026-12-06,1\n',
    );
  });
});
