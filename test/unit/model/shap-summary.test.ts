import { describe, expect, it } from '@jest/globals';
import { renderReport } from '#lib/model/report.ts';
import { shapSummary } from '#lib/model/shap-summary.ts';

// Three features, 1,000 rows: "big" moves scores by +-2, "flag" (0/1, some missing) by +-0.5,
// "none" not at all. Bias 0.25 in the last column.
const rows = 1000;
const names = ['none', 'flag', 'big <&>'];
const matrix = new Float32Array(rows * 3);
const contributions = new Float64Array(rows * 4);
for (let r = 0; r < rows; r++) {
  const flag = r % 3 === 0 ? Number.NaN : r % 4 < 2 ? 1 : 0;
  matrix.set([r, flag, r / 10], r * 3);
  contributions.set([0, Number.isNaN(flag) ? 0 : flag ? 0.5 : -0.5, r < 500 ? -2 : 2, 0.25], r * 4);
}

describe('shapSummary', () => {
  const s = shapSummary(contributions, matrix, rows, names, { topFeatures: 2, sampleRows: 100 });

  it('ranks features by mean |SHAP| with their shares and signed means', () => {
    expect(s.rows).toBe(rows);
    expect(s.bias).toBe(0.25);
    expect(s.importance.map((r) => r.feature)).toEqual(['big <&>', 'flag', 'none']);
    expect(s.importance[0].meanAbsShap).toBeCloseTo(2, 12);
    expect(s.importance[0].meanShap).toBeCloseTo(0, 12);
    expect(s.importance[1].meanAbsShap).toBeCloseTo(0.333, 12);
    expect(s.importance[2]).toMatchObject({ meanAbsShap: 0, share: 0 });
    expect(s.importance.reduce((sum, r) => sum + r.share, 0)).toBeCloseTo(1, 12);
  });

  it('samples the same evenly spaced rows for each top feature, with value ranks and missing values', () => {
    expect(s.points.map((p) => p.feature)).toEqual(['big <&>', 'flag']);
    const [big, flag] = s.points;
    expect(big.points).toHaveLength(100);
    expect(big.points[0]).toEqual({ shap: -2, value: 0, rank: 0 });
    expect(big.points[99]).toEqual({ shap: 2, value: Math.fround(99.0), rank: 1 });
    // A 0/1 feature gets two ranks (mid-ranks of its ties), a missing value none.
    const ranks = new Set(flag.points.filter((p) => p.value !== null).map((p) => p.rank));
    expect(ranks.size).toBe(2);
    expect(flag.points[0]).toEqual({ shap: 0, value: null, rank: null });
  });

  it('refuses arrays that do not match the row count', () => {
    expect(() => shapSummary(contributions.subarray(4), matrix, rows, names)).toThrow(/expected 1000 x 4/);
    expect(() => shapSummary(contributions, matrix.subarray(3), rows, names)).toThrow(/expected 1000 x 3/);
  });

  it('report.html shows the section: bars of mean |SHAP| and a beeswarm, names escaped', () => {
    const html = renderReport({
      card: { threshold: 0.5 },
      test: { y: [0, 1, 0, 1], p: [0.1, 0.9, 0.2, 0.7] },
      shap: s,
    });
    expect(html).toContain('<section id="shap">');
    expect(html).toContain('data-chart="beeswarm"');
    expect(html).toContain('big &lt;&amp;&gt;');
    expect(html).not.toContain('big <&>');
    // One dot per sampled row of each top feature.
    const section = html.slice(html.indexOf('data-chart="beeswarm"'));
    expect(section.split('<circle').length - 1).toBe(200);
    // Without a summary there is no section.
    expect(renderReport({ card: { threshold: 0.5 }, test: { y: [0, 1], p: [0.2, 0.8] } })).not.toContain(
      'id="shap"',
    );
  });
});
