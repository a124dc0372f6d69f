import { describe, expect, it } from '@jest/globals';
import { Prng } from '#lib/model/gbdt/prng.ts';
import {
  binaryMetrics,
  chooseThreshold,
  prCurve,
  reliabilityByQuantile,
  rocCurve,
  type ReliabilityBin,
} from '#lib/model/metrics.ts';

/** reliabilityByQuantile as it was: a comparator sort of row indices by score, then index. */
function referenceQuantileBins(y: ArrayLike<number>, p: ArrayLike<number>, bins: number): ReliabilityBin[] {
  const n = y.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[a] - p[b] || a - b);
  const out: ReliabilityBin[] = [];
  let start = 0;
  for (let b = 1; b <= bins && start < n; b++) {
    let end = Math.round((b * n) / bins);
    while (end < n && end > start && p[order[end]] === p[order[end - 1]]) end++;
    if (end <= start) continue;
    let sumP = 0;
    let sumY = 0;
    for (let k = start; k < end; k++) {
      sumP += p[order[k]];
      sumY += y[order[k]];
    }
    const count = end - start;
    out.push({
      lower: p[order[start]],
      upper: p[order[end - 1]],
      meanPredicted: sumP / count,
      fractionPositive: sumY / count,
      count,
    });
    start = end;
  }
  return out;
}

/** Scores with many ties, zeros of both signs, exact 0 and 1, and labels with both classes. */
function scoredCase(prng: Prng, n: number): { y: Uint8Array; p: Float64Array } {
  const levels = 1 + Math.floor(prng.next() * 40);
  const y = new Uint8Array(n);
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = prng.next();
    p[i] = u < 0.05 ? 0 : u < 0.1 ? -0 : u < 0.12 ? 1 : Math.floor(prng.next() * levels) / levels;
    y[i] = prng.next() < 0.2 + 0.6 * Math.abs(p[i]) ? 1 : 0;
  }
  y[0] = 0;
  y[1] = 1;
  return { y, p };
}

describe('reliabilityByQuantile without a comparator sort', () => {
  it('gives the bins of the row-index sort, zero bounds keeping the sign of their first and last row', () => {
    const prng = new Prng(17);
    for (let c = 0; c < 300; c++) {
      const { y, p } = scoredCase(prng, 2 + Math.floor(prng.next() * 400));
      const bins = 1 + Math.floor(prng.next() * 25);
      const got = reliabilityByQuantile(y, p, bins);
      const want = referenceQuantileBins(y, p, bins);
      expect(got).toHaveLength(want.length);
      got.forEach((bin, k) => {
        expect(Object.is(bin.lower, want[k].lower)).toBe(true);
        expect(Object.is(bin.upper, want[k].upper)).toBe(true);
        expect(bin.meanPredicted).toBe(want[k].meanPredicted);
        expect(bin.fractionPositive).toBe(want[k].fractionPositive);
        expect(bin.count).toBe(want[k].count);
      });
    }
  });
});

describe('metrics on the same scored arrays again', () => {
  it('gives the same results as on fresh copies, call after call', () => {
    const { y, p } = scoredCase(new Prng(5), 5000);
    const fresh = () => Float64Array.from(p);
    const first = binaryMetrics(y, p, 0.5);
    expect(binaryMetrics(y, p, 0.5)).toEqual(first);
    expect(binaryMetrics(y, p, 0.3)).toEqual(binaryMetrics(Uint8Array.from(y), fresh(), 0.3));
    expect(rocCurve(y, p)).toEqual(rocCurve(y, fresh()));
    expect(prCurve(y, p)).toEqual(prCurve(y, fresh()));
    expect(chooseThreshold(y, p, { kind: 'max-f1' })).toBe(chooseThreshold(y, fresh(), { kind: 'max-f1' }));
  });

  it('sees scores and labels changed in place since the last call', () => {
    const { y, p } = scoredCase(new Prng(6), 5000);
    const before = binaryMetrics(y, p, 0.5);
    for (let i = 0; i < p.length; i += 3) p[i] = 1 - p[i];
    const afterScores = binaryMetrics(y, p, 0.5);
    expect(afterScores.auc).not.toBe(before.auc);
    expect(afterScores).toEqual(binaryMetrics(Uint8Array.from(y), Float64Array.from(p), 0.5));
    y[2] = 1 - y[2];
    expect(binaryMetrics(y, p, 0.5)).toEqual(binaryMetrics(Uint8Array.from(y), Float64Array.from(p), 0.5));
    // A zero turned into its negative is a change too (it can move a threshold's sign).
    const zeros = Float64Array.from([0, 0.5, 0.25, 1]);
    const labels = Uint8Array.from([0, 1, 0, 1]);
    const t0 = rocCurve(labels, zeros).thresholds;
    zeros[0] = -0;
    expect(Object.is(rocCurve(labels, zeros).thresholds.at(-1), -0)).toBe(true);
    expect(Object.is(t0.at(-1), 0)).toBe(true);
  });
});
