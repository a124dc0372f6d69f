import { describe, expect, it } from '@jest/globals';
import { fitLogistic, predictLogistic, type LogisticModel } from '#lib/model/logistic.ts';
import { syntheticTable } from './synthetic-data.ts';

/**
 * The gradient of the fitted loss (mean logloss + l2/2 |w|^2, the bias unpenalised) over all the
 * rows, on the model's standardised and imputed design: zero at the minimiser.
 */
function gradient(model: LogisticModel, columns: Float64Array[], label: Uint8Array, l2: number): number[] {
  const n = label.length;
  const p = predictLogistic(model, columns, n);
  const F = columns.length;
  const D = model.weights.length;
  const g = new Array<number>(D + 1).fill(0);
  for (let i = 0; i < n; i++) {
    const r = p[i] - label[i];
    for (let f = 0; f < F; f++) {
      const v = columns[f][i];
      g[f] += r * (Number.isNaN(v) ? 0 : (v - model.means[f]) / model.stds[f]);
    }
    model.indicatorOf.forEach((f, k) => {
      g[F + k] += r * (Number.isNaN(columns[f][i]) ? 1 : 0);
    });
    g[D] += r;
  }
  return g.map((v, d) => v / n + (d < D ? l2 * model.weights[d] : 0));
}

describe('fitLogistic', () => {
  it.each([
    ['5,000 rows: exact Newton steps', 5000],
    ['80,000 rows: a warm start on 1 row in 8, then steps with that sample’s Hessian', 80_000],
  ])('stops at the minimiser, every gradient component under 1e-9 (%s)', (_, rows) => {
    const t = syntheticTable(rows, 11);
    const model = fitLogistic(t.columns, t.label);
    expect(model.warmStartIterations > 0).toBe(rows >= 64_000);
    expect(model.indicatorOf.length).toBeGreaterThan(0);
    for (const g of gradient(model, t.columns, t.label, 1e-4)) expect(Math.abs(g)).toBeLessThan(1e-9);
  });

  it('predicts each row as the bias plus the weighted standardised values, in feature order, to the bit', () => {
    const t = syntheticTable(3000, 12);
    const model = fitLogistic(t.columns, t.label);
    const p = predictLogistic(model, t.columns, t.label.length);
    const F = t.columns.length;
    for (let i = 0; i < t.label.length; i++) {
      let z = model.bias;
      for (let f = 0; f < F; f++) {
        const v = t.columns[f][i];
        z += model.weights[f] * (Number.isNaN(v) ? 0 : (v - model.means[f]) / model.stds[f]);
      }
      model.indicatorOf.forEach((f, k) => {
        z += model.weights[F + k] * (Number.isNaN(t.columns[f][i]) ? 1 : 0);
      });
      expect(p[i]).toBe(1 / (1 + Math.exp(-z)));
    }
  });
});
