import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import {
  binaryMetrics,
  chooseThreshold,
  isSliceNote,
  LOGLOSS_EPS,
  prCurve,
  predictLabel,
  reliabilityByQuantile,
  rocAucOf,
  rocCurve,
  rowsByGroup,
  sliceMetrics,
} from '#lib/model/metrics.ts';
import { describeWithPython } from '../../support/python.ts';

/** A deterministic, imbalanced scored sample: scores rounded to 2 decimals so ties are common. */
function sample(n: number, seed: number, decimals = 2): { y: number[]; p: number[] } {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const y: number[] = [];
  const p: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = rand() < 0.15 ? 1 : 0;
    const raw = Math.min(
      0.999,
      Math.max(0.001, 0.2 + 0.35 * label + 0.3 * (rand() - 0.5) + 0.2 * (rand() - 0.5)),
    );
    const f = 10 ** decimals;
    y.push(label);
    p.push(Math.round(raw * f) / f);
  }
  return { y, p };
}

describe('binaryMetrics on hand-computed cases', () => {
  it('gives tied scores half credit in ROC AUC', () => {
    // Pairs (pos, neg): (0.8,0.3) win, (0.8,0.5) win, (0.5,0.3) win, (0.5,0.5) tie -> 3.5 / 4.
    const m = binaryMetrics([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.3], 0.5);
    expect(m.auc).toBeCloseTo(0.875, 12);
  });

  it('computes PR AUC as average precision, not the trapezoid', () => {
    // Sorted: 0.9(1) 0.8(0) 0.7(1) 0.1(0). AP = 0.5*1 + 0.5*(2/3) = 0.8333...
    const m = binaryMetrics([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], 0.5);
    expect(m.prAuc).toBeCloseTo(0.5 + 1 / 3, 12);
    // KS: after 0.7, TPR = 1 and FPR = 0.5.
    expect(m.ks).toBeCloseTo(0.5, 12);
  });

  it('counts p >= threshold as positive in the confusion matrix', () => {
    const m = binaryMetrics([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1], 0.5);
    expect(m.confusion).toEqual({ tp: 2, fp: 1, tn: 1, fn: 0 });
    expect(m.precision).toBeCloseTo(2 / 3, 12);
    expect(m.recall).toBe(1);
    expect(m.f1).toBeCloseTo(0.8, 12);
    expect(predictLabel(0.5, 0.5)).toBe(1);
    expect(predictLabel(0.4999, 0.5)).toBe(0);
  });

  it('clips logloss so a confident mistake is finite', () => {
    const m = binaryMetrics([1, 0], [0, 0], 0.5);
    expect(Number.isFinite(m.logloss)).toBe(true);
    expect(m.logloss).toBeCloseTo(-Math.log(LOGLOSS_EPS) / 2, 6);
    expect(m.brier).toBeCloseTo(0.5, 12);
  });

  it('computes ECE over equal-width bins with the last bin closed at 1', () => {
    // Bin [0.1,0.2): p 0.1, 0.1, y 0, 1 -> |0.1 - 0.5| = 0.4 weight 2/4; bin [0.9,1]: p 1, 1, y 1, 1 -> 0.
    const m = binaryMetrics([0, 1, 1, 1], [0.1, 0.1, 1, 1], 0.5);
    expect(m.reliability).toEqual([
      { lower: 0.1, upper: 0.2, meanPredicted: 0.1, fractionPositive: 0.5, count: 2 },
      { lower: 0.9, upper: 1, meanPredicted: 1, fractionPositive: 1, count: 2 },
    ]);
    expect(m.ece).toBeCloseTo(0.2, 12);
  });

  it('leaves AUC, PR AUC and KS undefined (NaN) for a single class', () => {
    const m = binaryMetrics([0, 0, 0], [0.1, 0.2, 0.3], 0.5);
    expect(m.auc).toBeNaN();
    expect(m.prAuc).toBeNaN();
    expect(m.ks).toBeNaN();
    expect(m.brier).toBeCloseTo((0.01 + 0.04 + 0.09) / 3, 12);
  });

  it('rejects labels other than 0/1, scores outside [0, 1] and mismatched lengths', () => {
    expect(() => binaryMetrics([2], [0.5], 0.5)).toThrow(/label at row 0 is 2/);
    expect(() => binaryMetrics([1], [Number.NaN], 0.5)).toThrow(/score at row 0 is NaN/);
    expect(() => binaryMetrics([1, 0], [0.5], 0.5)).toThrow(/differ in length/);
    expect(() => binaryMetrics([], [], 0.5)).toThrow(/zero rows/);
  });
});

describe('curves', () => {
  it('ROC runs from (0,0) to (1,1) and its trapezoid equals the AUC', () => {
    const { y, p } = sample(500, 7);
    const roc = rocCurve(y, p);
    expect([roc.fpr[0], roc.tpr[0]]).toEqual([0, 0]);
    expect([roc.fpr.at(-1), roc.tpr.at(-1)]).toEqual([1, 1]);
    let area = 0;
    for (let k = 1; k < roc.fpr.length; k++)
      area += ((roc.fpr[k] - roc.fpr[k - 1]) * (roc.tpr[k] + roc.tpr[k - 1])) / 2;
    expect(area).toBeCloseTo(binaryMetrics(y, p, 0.5).auc, 12);
    expect(roc.thresholds[0]).toBeGreaterThan(Math.max(...p));
  });

  it('PR recall is non-decreasing and ends at 1', () => {
    const { y, p } = sample(300, 3);
    const pr = prCurve(y, p);
    for (let k = 1; k < pr.recall.length; k++) expect(pr.recall[k]).toBeGreaterThanOrEqual(pr.recall[k - 1]);
    expect(pr.recall.at(-1)).toBe(1);
  });
});

describe('reliabilityByQuantile', () => {
  it('makes bins of about equal count that never split tied scores and cover every row', () => {
    const { y, p } = sample(1000, 21);
    const bins = reliabilityByQuantile(y, p, 10);
    expect(bins.reduce((s, b) => s + b.count, 0)).toBe(1000);
    for (let k = 1; k < bins.length; k++) expect(bins[k].lower).toBeGreaterThan(bins[k - 1].upper);
    const positives = y.reduce((s, v) => s + v, 0);
    expect(bins.reduce((s, b) => s + b.fractionPositive * b.count, 0)).toBeCloseTo(positives, 9);
  });
});

describe('chooseThreshold', () => {
  it('max-f1 picks the highest threshold reaching the best F1', () => {
    // Thresholds: 0.9 -> tp1 fp0 F1=2/3; 0.8 -> tp1 fp1 F1=0.5; 0.7 -> tp2 fp1 F1=0.8; 0.1 -> tp2 fp2 F1=2/3.
    expect(chooseThreshold([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], { kind: 'max-f1' })).toBe(0.7);
  });

  it('cost policy trades false negatives against false positives', () => {
    const y = [1, 0, 1, 0];
    const p = [0.9, 0.8, 0.7, 0.1];
    // FN cost 10: catching every positive (threshold 0.7, one FP) beats missing one.
    expect(chooseThreshold(y, p, { kind: 'cost', falseNegativeCost: 10, falsePositiveCost: 1 })).toBe(0.7);
    // FP cost 10 and the top score a negative: predicting nobody positive (2 FNs = 2) beats any FP,
    // so the threshold lies just above every score.
    const yTopNegative = [0, 1, 0, 1];
    const t = chooseThreshold(yTopNegative, p, { kind: 'cost', falseNegativeCost: 1, falsePositiveCost: 10 });
    expect(t).toBeGreaterThan(0.9);
    expect(t).toBeLessThan(0.9 + 1e-12);
    expect(binaryMetrics(yTopNegative, p, t).confusion).toEqual({ tp: 0, fp: 0, tn: 2, fn: 2 });
    // The same costs on the original order: one FN at 0.9 (cost 1) beats nobody (cost 2).
    expect(chooseThreshold(y, p, { kind: 'cost', falseNegativeCost: 1, falsePositiveCost: 10 })).toBe(0.9);
  });

  it('fixed returns the value and rejects one outside [0, 1]', () => {
    expect(chooseThreshold([1], [0.3], { kind: 'fixed', value: 0.42 })).toBe(0.42);
    expect(() => chooseThreshold([1], [0.3], { kind: 'fixed', value: 1.5 })).toThrow(/\[0, 1\]/);
  });
});

describe('sliceMetrics', () => {
  it('gives notes instead of NaN for small or single-class groups', () => {
    const { y, p } = sample(400, 11);
    const gender = y.map((_, i) => (i < 390 ? (i % 2 === 0 ? 'F' : 'M') : 'X'));
    const band = y.map((label, i) => (label === 0 && i % 3 === 0 ? 'all-negative' : 'mixed'));
    const out = sliceMetrics(y, p, 0.4, { gender, band }, { minRows: 30 });
    expect(Object.keys(out.gender)).toEqual(['F', 'M', 'X']);
    const f = out.gender.F;
    expect(isSliceNote(f)).toBe(false);
    const fIdx = gender.flatMap((g, i) => (g === 'F' ? [i] : []));
    expect(f).toEqual(
      binaryMetrics(
        fIdx.map((i) => y[i]),
        fIdx.map((i) => p[i]),
        0.4,
      ),
    );
    expect(out.gender.X).toEqual({
      n: 10,
      positives: expect.any(Number),
      note: expect.stringMatching(/only 10 rows/),
    });
    expect(out.band['all-negative']).toMatchObject({
      positives: 0,
      note: expect.stringMatching(/single class/),
    });
    expect(JSON.stringify(out)).not.toMatch(/null|NaN/);
  });

  it('gives every group exactly what binaryMetrics gives its rows (losses summed once per row)', () => {
    const { y, p } = sample(3000, 5, 3);
    const region = y.map((_, i) => ['north', 'south', 'east', 'west'][(i * 7) % 4]);
    const band = p.map((_, i) => (i % 3 === 0 ? 'renter' : 'owner'));
    const out = sliceMetrics(y, p, 0.35, { region, band });
    for (const [column, values] of Object.entries({ region, band })) {
      for (const key of new Set(values)) {
        const rows = values.flatMap((v, i) => (v === key ? [i] : []));
        const expected = binaryMetrics(
          rows.map((i) => y[i]),
          rows.map((i) => p[i]),
          0.35,
          { reuse: false },
        );
        expect(out[column][key]).toEqual(expected);
      }
    }
    expect(sliceMetrics(y, p, 0.35, {})).toEqual({});
  });
});

describe('binaryMetrics without reuse', () => {
  it('gives the same numbers as with it, for a fresh array and for one asked again', () => {
    const { y, p } = sample(2000, 8, 2);
    const reused = binaryMetrics(y, p, 0.3);
    expect(binaryMetrics(y, p, 0.3, { reuse: false })).toEqual(reused);
    expect(binaryMetrics(y, p, 0.3)).toEqual(reused);
    // An array changed in place after a reused call: without reuse, its new numbers.
    const q = Float64Array.from(p);
    binaryMetrics(y, q, 0.3);
    q.reverse();
    expect(binaryMetrics(y, q, 0.3, { reuse: false })).toEqual(binaryMetrics(y, Array.from(q), 0.3));
  });
});

describeWithPython('binaryMetrics agrees with scikit-learn', (python) => {
  const script = String.raw`
import json, sys
import numpy as np
from sklearn.metrics import (roc_auc_score, average_precision_score, brier_score_loss, log_loss,
                             roc_curve, precision_recall_curve, confusion_matrix)
d = json.load(sys.stdin)
y = np.array(d["y"], dtype=int); p = np.array(d["p"], dtype=float); t = d["t"]
fpr, tpr, _ = roc_curve(y, p)
prec, rec, thr = precision_recall_curve(y, p)
f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-300), 0)[:-1]
tn, fp, fn, tp = confusion_matrix(y, (p >= t).astype(int)).ravel()
idx = np.minimum((p * 10).astype(int), 9)
ece = sum((idx == b).sum() / len(p) * abs(p[idx == b].mean() - y[idx == b].mean()) for b in range(10) if (idx == b).any())
print(json.dumps({
  "auc": roc_auc_score(y, p), "ap": average_precision_score(y, p), "ks": float(np.max(np.abs(tpr - fpr))),
  "brier": brier_score_loss(y, p), "logloss": log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)),
  "confusion": {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}, "ece": float(ece),
  "maxF1": float(f1.max()), "maxF1Threshold": float(thr[np.flatnonzero(f1 == f1.max()).max()]),
}))
`;
  const sklearn = (y: number[], p: number[], t: number) => {
    const r = spawnSync(python, ['-c', script], { input: JSON.stringify({ y, p, t }), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as Record<string, number> & { confusion: Record<string, number> };
  };

  it.each([
    ['2,000 rows with many tied scores', 2000, 42, 2],
    ['1,500 rows without ties', 1500, 9, 12],
  ])('on %s', (_name, n, seed, decimals) => {
    const { y, p } = sample(n, seed, decimals);
    const t = chooseThreshold(y, p, { kind: 'max-f1' });
    const m = binaryMetrics(y, p, t);
    const ref = sklearn(y, p, t);
    expect(m.auc).toBeCloseTo(ref.auc, 10);
    expect(m.prAuc).toBeCloseTo(ref.ap, 10);
    expect(m.ks).toBeCloseTo(ref.ks, 10);
    expect(m.brier).toBeCloseTo(ref.brier, 10);
    expect(m.logloss).toBeCloseTo(ref.logloss, 10);
    expect(m.ece).toBeCloseTo(ref.ece, 10);
    expect(m.confusion).toEqual(ref.confusion);
    expect(m.f1).toBeCloseTo(ref.maxF1, 10);
    expect(t).toBe(ref.maxF1Threshold);
  });
});

describe('rowsByGroup', () => {
  it("gives each value's rows in ascending order, the groups in the order they first appear", () => {
    const groups = rowsByGroup(['b', 'a', 'b', 'c', 'a', 'b']);
    expect([...groups].map(([key, rows]) => [key, Array.from(rows)])).toEqual([
      ['b', [0, 2, 5]],
      ['a', [1, 4]],
      ['c', [3]],
    ]);
    expect(rowsByGroup([]).size).toBe(0);
  });
});

describe('rocAucOf', () => {
  it("equals binaryMetrics' AUC, and is NaN with a single class", () => {
    const { y, p } = sample(400, 11);
    expect(rocAucOf(y, p)).toBe(binaryMetrics(y, p, 0.5).auc);
    expect(rocAucOf([1, 1], [0.2, 0.4])).toBeNaN();
    expect(() => rocAucOf([1, 2], [0.2, 0.4])).toThrow(/label at row 1/);
  });
});
