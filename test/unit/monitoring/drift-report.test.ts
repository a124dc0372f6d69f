import { describe, expect, it } from '@jest/globals';
import type { FeatureReference } from '#lib/model/card.ts';
import {
  buildDriftReport,
  featureDrift,
  statusOf,
  type SnapshotWindow,
} from '#lib/monitoring/drift-report.ts';

/** A reference with edges 1..9 (10 value bins), 100 training rows per value bin, `missing` missing rows. */
function reference(feature: string, missing = 0): FeatureReference {
  const edges = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const counts = [missing, ...Array(10).fill(100)];
  const rows = missing + 1000;
  return { feature, edges, counts, rows, missingShare: missing / rows, min: 0, max: 9.5, mean: 4.75 };
}

/** n values spread evenly over [lo, hi). */
const spread = (n: number, lo: number, hi: number) =>
  Float64Array.from({ length: n }, (_, i) => lo + ((hi - lo) * (i + 0.5)) / n);

const window: SnapshotWindow = {
  snapshotId: 's1',
  from: '2021-12-01',
  to: '2021-12-31',
  windowDays: 30,
  extended: false,
  rows: 1000,
  rowsInSnapshot: 5000,
};

describe('featureDrift', () => {
  it('a sample shaped like the training rows is stable with PSI ~0', () => {
    const f = featureDrift(reference('x'), spread(1000, 0, 10));
    expect(f.psi).toBeCloseTo(0, 10);
    expect(f.status).toBe('stable');
    expect(f.ks?.d).toBeCloseTo(0, 10);
  });

  it('a sample shifted into the top half drifts', () => {
    const f = featureDrift(reference('x'), spread(1000, 5, 10));
    expect(f.psi).toBeGreaterThan(0.2);
    expect(f.status).toBe('drifted');
    expect(f.ks?.d).toBeCloseTo(0.5, 10);
    expect(f.ks?.pValue).toBeLessThan(1e-10);
  });

  it('compares with the baseline window when one is given, and still reports PSI against the training rows', () => {
    const top = spread(1000, 5, 10);
    const f = featureDrift(reference('x'), top, top);
    expect(f.psi).toBeCloseTo(0, 10);
    expect(f.psiTrainingRows).toBeGreaterThan(0.2);
  });

  it('an all-missing sample drifts against a reference without missing values', () => {
    const f = featureDrift(
      reference('x'),
      Float64Array.from({ length: 50 }, () => Number.NaN),
    );
    expect(f.missingShare).toBe(1);
    expect(f.mean).toBeNull();
    expect(f.status).toBe('drifted');
    expect(f.ks).toBeUndefined();
  });

  it('a column the snapshot lacks is absent, with no PSI', () => {
    expect(featureDrift(reference('x'), undefined)).toMatchObject({ status: 'absent', psi: null, rows: 0 });
  });

  it('a reference whose counts do not fit its edges is unusable, not a crash', () => {
    const bad = { ...reference('x'), counts: [1, 2] };
    expect(featureDrift(bad, spread(10, 0, 10))).toMatchObject({ status: 'no-reference', psi: null });
  });

  it('status: stable below 0.1, shifting up to the threshold, drifted strictly above it', () => {
    expect(statusOf(0.05, 0.2)).toBe('stable');
    expect(statusOf(0.1, 0.2)).toBe('shifting');
    expect(statusOf(0.2, 0.2)).toBe('shifting');
    expect(statusOf(0.2001, 0.2)).toBe('drifted');
    expect(statusOf(0.06, 0.05)).toBe('drifted');
  });
});

describe('buildDriftReport', () => {
  const input = (columns: Map<string, Float64Array>, threshold?: number) =>
    buildDriftReport({
      checkedAt: '2022-01-05T06:00:00.000Z',
      model: { name: 'credit-risk', version: 'a'.repeat(64), trainedOnSnapshot: 's0' },
      reference: [reference('x'), reference('y'), reference('z')],
      snapshot: window,
      columns,
      baseline: { why: 'test' },
      options: threshold === undefined ? {} : { threshold },
    });

  it('retrains when a feature is above the threshold, naming it; reports the max and the baseline used', () => {
    const r = input(
      new Map([
        ['x', spread(1000, 0, 10)],
        ['y', spread(1000, 5, 10)],
      ]),
    );
    expect(r.maxPsiFeature).toBe('y');
    expect(r.maxPsi).toBe(r.features.find((f) => f.feature === 'y')?.psi);
    expect(r.decision.retrain).toBe(true);
    expect(r.decision.reasons).toEqual([expect.stringMatching(/^y: PSI \d+\.\d{4} > 0\.2$/)]);
    expect(r.features.find((f) => f.feature === 'z')?.status).toBe('absent');
    expect(r.notes.some((n) => n.startsWith('z: the snapshot has no such column'))).toBe(true);
    expect(r.baseline).toEqual({ kind: 'training-rows', why: 'test' });
    expect(r.snapshot).toBe(window);
  });

  it('does not retrain below the threshold, and the threshold is a parameter', () => {
    const columns = new Map([
      ['x', spread(1000, 0, 10)],
      ['y', spread(1000, 2, 10)],
    ]);
    const strict = input(columns, 0.05);
    const lax = input(columns, 5);
    expect(strict.maxPsi).toBe(lax.maxPsi);
    expect(strict.decision.retrain).toBe(true);
    expect(lax.decision.retrain).toBe(false);
    expect(lax.decision.reasons[0]).toMatch(/^no feature PSI above 5 \(max \d\.\d{4}, y\)$/);
  });
});
