import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateGate } from '#lib/model/gate.ts';
import { Prng } from '#lib/model/gbdt/prng.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';
import { trainModel } from '#lib/model/train.ts';
import { gateFactsOf } from '#lib/registry/candidate.ts';

/**
 * The governance parts of trainModel on real tables: a linear target on which the logistic
 * baseline wins (the gate must stop the GBDT), protected columns that never become features,
 * small-data refit, and a pure-noise feature that permutation importance calls out.
 */
const dir = mkdtempSync(join(tmpdir(), 'train-governance-'));

function writeTable(name: string, n: number, seed: number, linear: boolean): string {
  const r = new Prng(seed);
  const lines = ['loan_id,x1,x2,x3,noise,code_gender,status'];
  for (let i = 0; i < n; i++) {
    const x = [r.next() * 4 - 2, r.next() * 4 - 2, r.next() * 4 - 2];
    const z = linear
      ? 1.2 * x[0] - 0.8 * x[1] + 0.5 * x[2] - 1
      : (x[0] > 0.5 ? 1.5 : -1) + (x[1] * x[2] > 0 ? 1 : -1);
    const y = r.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    const gender = r.next() < 0.5 ? 'F' : 'M';
    lines.push([i, ...x.map((v) => v.toFixed(5)), r.next().toFixed(5), gender, y].join(','));
  }
  const path = join(dir, `${name}.csv`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

describe('trainModel governance', () => {
  it('on a linear target the logistic baseline wins, and the gate rejects the GBDT with that reason', async () => {
    const input = writeTable('linear', 6000, 1, true);
    const trained = await trainModel({
      input,
      target: 'status',
      ignore: ['loan_id'],
      protectedColumns: ['code_gender'],
      seed: 1,
      params: { numTrees: 60, numLeaves: 31, numThreads: 1, learningRate: 0.3 },
      refit: 'never',
    });
    const card = trained.card;
    expect(card.baseline.metrics.test.auc).toBeGreaterThan(card.metrics.test.auc);
    const challenger = binaryMetrics(trained.testPredictions.y, trained.testPredictions.p, card.threshold);
    const facts = gateFactsOf(card as unknown as Record<string, unknown>);
    expect(facts.baselineAuc).toBe(card.baseline.metrics.test.auc);
    const d = evaluateGate(challenger, undefined, { minTestRows: 100, minTestPositives: 10 }, facts);
    expect(d.pass).toBe(false);
    expect(d.reasons).toEqual([expect.stringMatching(/^auc_not_above_baseline: /)]);
  });

  it('never uses a protected column as a feature, measures it, and calls out a noise feature', async () => {
    const input = writeTable('trees', 6000, 2, false);
    const trained = await trainModel({
      input,
      target: 'status',
      ignore: ['loan_id'],
      protectedColumns: ['code_gender'],
      seed: 2,
      params: { numTrees: 80, numThreads: 1 },
    });
    const card = trained.card;
    expect(card.features).toEqual(['x1', 'x2', 'x3', 'noise']);
    expect(Object.keys(card.fairness ?? {})).toEqual(['code_gender']);
    const g = card.fairness?.code_gender;
    const rates = (g?.groups ?? []).map((x) => x.approvalRate);
    expect(g?.adverseImpactRatio).toBeCloseTo(Math.min(...rates) / Math.max(...rates), 12);
    expect(card.featureValue?.notHelping).toContain('noise');
    expect(card.featureValue?.features[0].feature).not.toBe('noise');
    expect(card.credit?.gini).toBeCloseTo(2 * card.metrics.test.auc - 1, 12);
    expect(trained.reportHtml).toContain('<section id="fairness">');
    expect(trained.reportHtml).toContain('<section id="credit">');
  });

  it('refits small tables on train + validation with the early-stopped tree count; the card says which', async () => {
    const input = writeTable('small', 3000, 3, false);
    const common = {
      input,
      target: 'status',
      ignore: ['loan_id'],
      protectedColumns: ['code_gender'],
      seed: 3,
      params: { numTrees: 200, earlyStoppingRounds: 20, numThreads: 1 },
    };
    const refit = await trainModel(common);
    const plain = await trainModel({ ...common, refit: 'never' });
    const r = refit.card.training.refit;
    expect(r).toMatchObject({ policy: 'auto', applied: true, rows: 2550 });
    expect(r?.trees).toBe(plain.card.training.trees);
    expect(refit.model.trees.length).toBe(plain.model.trees.length);
    expect(plain.card.training.refit).toMatchObject({ policy: 'never', applied: false });
    // same threshold and validation metrics (from the train-only fit), another model
    expect(refit.card.threshold).toBe(plain.card.threshold);
    expect(refit.card.metrics.valid.auc).toBe(plain.card.metrics.valid.auc);
    expect(refit.version).not.toBe(plain.version);
  });
});
