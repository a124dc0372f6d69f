import { describe, expect, it } from '@jest/globals';
import { compareModels, comparisonHtml, comparisonText, diff } from '#lib/model/compare.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';

const y = [0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1];
const pa = [0.1, 0.2, 0.3, 0.8, 0.2, 0.6, 0.1, 0.4, 0.7, 0.2, 0.3, 0.5];
const pb = [0.2, 0.1, 0.5, 0.7, 0.3, 0.4, 0.2, 0.6, 0.9, 0.1, 0.2, 0.6];
const groups = { code_gender: y.map((_, i) => (i % 2 ? 'F' : 'M')) };
const card = (over: Record<string, unknown>) => ({
  lineage: {
    codeVersion: 'c1',
    snapshotId: 's1',
    runId: 'run-a',
    settings: { seed: 1, params: { numTrees: 10 } },
    ...over,
  },
});

describe('compareModels', () => {
  const c = compareModels({
    a: { version: 'a'.repeat(64), createdAt: '1', threshold: 0.5, p: pa, card: card({}) },
    b: {
      version: 'b'.repeat(64),
      createdAt: '2',
      threshold: 0.45,
      p: pb,
      card: card({ runId: 'run-b', settings: { seed: 1, params: { numTrees: 20 } } }),
    },
    y,
    groups,
    rows: { description: 'test rows' },
  });

  it('measures both on the same rows, each at its own threshold, with B - A deltas', () => {
    expect(c.rows).toMatchObject({ n: 12, positives: 4 });
    expect(c.a.auc).toBeCloseTo(binaryMetrics(y, pa, 0.5).auc, 12);
    expect(c.b.auc).toBeCloseTo(binaryMetrics(y, pb, 0.45).auc, 12);
    expect(c.delta.auc).toBeCloseTo(c.b.auc - c.a.auc, 12);
    expect(c.delta.gini).toBeCloseTo(2 * (c.b.auc - c.a.auc), 12);
    // approve = p below the model's own threshold
    expect(c.a.approvalRate).toBeCloseTo(pa.filter((p) => p < 0.5).length / 12, 12);
    expect(c.b.approvalRate).toBeCloseTo(pb.filter((p) => p < 0.45).length / 12, 12);
  });

  it('puts fairness side by side and lists only the settings and lineage that differ', () => {
    expect(Object.keys(c.fairness)).toEqual(['code_gender']);
    expect(c.fairness.code_gender.a.groups.map((g) => g.group).sort()).toEqual(['F', 'M']);
    expect(c.settings).toEqual([{ key: 'params.numTrees', a: 10, b: 20 }]);
    expect(c.lineage).toEqual([{ key: 'runId', a: 'run-a', b: 'run-b' }]);
  });

  it('prints a text table and a self-contained page', () => {
    expect(comparisonText(c)).toMatch(/^ROC AUC\s+\d\.\d{4}\s+\d\.\d{4}\s+[+-]?\d\.\d{4}$/m);
    expect(comparisonText(c)).toContain('  params.numTrees: 10 -> 20');
    const html = comparisonHtml(c);
    expect(html).toContain('<tr data-metric="auc">');
    expect(html).not.toMatch(/<script|https?:\/\//);
  });
});

describe('diff', () => {
  it('compares leaves by path, arrays by index, missing keys as null', () => {
    expect(diff({ a: [1, 2], b: { c: 1 } }, { a: [1, 3], b: { c: 1, d: 2 } })).toEqual([
      { key: 'a.1', a: 2, b: 3 },
      { key: 'b.d', a: null, b: 2 },
    ]);
  });
});
