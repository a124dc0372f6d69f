import { describe, expect, it } from '@jest/globals';
import { evaluateGate } from '#lib/model/gate.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';
import {
  championSection,
  CHAMPION_SECTION_START,
  renderReport,
  withChampionSection,
  type ReportInput,
} from '#lib/model/report.ts';

function scored(n: number, seed: number) {
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const y: number[] = [];
  const p: number[] = [];
  const weak: number[] = [];
  const gender: string[] = [];
  for (let i = 0; i < n; i++) {
    const label = rand() < 0.1 ? 1 : 0;
    y.push(label);
    p.push(Math.min(0.99, Math.max(0.01, 0.1 + 0.25 * label + 0.3 * (rand() - 0.5))));
    weak.push(Math.min(0.99, Math.max(0.01, 0.1 + 0.05 * label + 0.3 * (rand() - 0.5))));
    gender.push(i < 10 ? 'X' : i % 2 ? 'F' : 'M');
  }
  return { y, p, weak, gender };
}

const { y, p, weak, gender } = scored(3000, 5);
const input: ReportInput = {
  card: {
    name: 'credit-risk',
    version: 'f'.repeat(64),
    threshold: 0.25,
    thresholdPolicy: 'max F1 on validation',
    features: ['age', 'income <per year> & "net"'],
    params: { trees: 100 },
  },
  test: { y, p },
  baseline: { name: 'logistic regression', p: weak },
  slices: { gender },
  importance: [
    { feature: 'age', gain: 10, splits: 4 },
    { feature: 'income <per year> & "net"', gain: 30, splits: 9 },
  ],
  gate: evaluateGate(binaryMetrics(y, p, 0.25), undefined),
};

const cell = (html: string, attrs: string) => {
  const m = new RegExp(`<td[^>]*${attrs}[^>]*>([^<]*)</td>`).exec(html);
  if (!m) throw new Error(`no cell with ${attrs}`);
  return m[1];
};

describe('renderReport', () => {
  const html = renderReport(input);

  it('is one self-contained page: inline SVG charts, no script, no external reference', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    const titles = [...html.matchAll(/<svg[^>]*>\s*<title>([^<]*)<\/title>/g)].map((m) => m[1]);
    expect(titles).toEqual([
      'ROC curve',
      'Precision-recall curve',
      'Calibration (ECE ' + binaryMetrics(y, p, 0.25).ece.toFixed(4) + ')',
      'Calibration, log scale',
      'Score distribution per class',
      'Feature importance (total split gain)',
      expect.stringMatching(/^KS \d\.\d{4} at /),
    ]);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|\bsrc=|\bhref=|@import|url\(/i);
  });

  it('shows the same numbers as binaryMetrics, for the model and the baseline', () => {
    const m = binaryMetrics(y, p, 0.25);
    const b = binaryMetrics(y, weak, 0.25);
    for (const key of [
      'auc',
      'prAuc',
      'ks',
      'brier',
      'logloss',
      'ece',
      'precision',
      'recall',
      'f1',
    ] as const) {
      expect(cell(html, `data-metric="${key}" data-model="model"`)).toBe(m[key].toFixed(4));
      expect(cell(html, `data-metric="${key}" data-model="baseline"`)).toBe(b[key].toFixed(4));
    }
    for (const k of ['tp', 'fp', 'tn', 'fn'] as const) {
      expect(cell(html, `data-cell="${k}"`)).toBe(m.confusion[k].toLocaleString('en-US'));
    }
  });

  it('says whether the simpler baseline is better, in both directions', () => {
    expect(html).toMatch(
      /data-baseline-better="false">The logistic regression baseline is not better than the model/,
    );
    const swapped = renderReport({
      ...input,
      test: { y, p: weak },
      baseline: { name: 'logistic regression', p },
    });
    expect(swapped).toMatch(/data-baseline-better="true">The logistic regression baseline is BETTER/);
  });

  it('has a slice table with metrics per value and a note for a tiny slice', () => {
    const fIdx = gender.flatMap((g, i) => (g === 'F' ? [i] : []));
    const f = binaryMetrics(
      fIdx.map((i) => y[i]),
      fIdx.map((i) => p[i]),
      0.25,
    );
    expect(html).toMatch(
      new RegExp(`data-slice="gender" data-value="F">.*?data-metric="auc">${f.auc.toFixed(4)}<`),
    );
    expect(html).toMatch(/data-slice="gender" data-value="X">.*?only 10 rows/);
  });

  it('takes the metrics the caller already has instead of computing them again', () => {
    const model = binaryMetrics(y, p, 0.25);
    const baseline = binaryMetrics(y, weak, 0.25);
    const generatedAt = '2026-12-07T00:00:00.000Z';
    const computed = renderReport({ ...input, generatedAt });
    const given = renderReport({
      ...input,
      generatedAt,
      testMetrics: model,
      baseline: { name: 'logistic regression', p: weak, metrics: baseline },
    });
    expect(given).toBe(computed);
    // The given numbers are the ones shown.
    const shown = renderReport({ ...input, generatedAt, testMetrics: { ...model, auc: 0.123456 } });
    expect(shown).toContain('data-metric="auc" data-model="model">0.1235<');
  });

  it('escapes names and shows the gate decision', () => {
    expect(html).toContain('income &lt;per year&gt; &amp; &quot;net&quot;');
    expect(html).not.toContain('income <per year>');
    expect(html).toContain(`data-gate="${input.gate?.pass ? 'pass' : 'fail'}"`);
  });

  it('renders without a baseline, slices, importance or gate', () => {
    const minimal = renderReport({
      card: { threshold: 0.5 },
      test: { y: [0, 1, 0, 1], p: [0.1, 0.9, 0.4, 0.6] },
    });
    expect(minimal).toContain('data-metric="auc" data-model="model">1.0000<');
    expect(minimal).not.toContain('data-model="baseline"');
    expect(minimal).not.toContain('id="slices"');
  });
});

describe('calibration on log axes', () => {
  it('draws the bins and the diagonal from corner to corner', () => {
    const html = renderReport(input);
    const svg = /<svg[^>]*>\s*<title>Calibration, log scale<\/title>[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
    expect(svg.match(/<circle /g)?.length).toBeGreaterThanOrEqual(3);
    // the dashed "perfect calibration" line runs from the bottom-left to the top-right of the frame
    const d = /<path d="M([\d.]+) ([\d.]+)L([\d.]+) ([\d.]+)"[^>]*stroke-dasharray/.exec(svg);
    expect(d).not.toBeNull();
    const [x0, y0, x1, y1] = (d ?? []).slice(1).map(Number);
    expect(x1).toBeGreaterThan(x0);
    expect(y1).toBeLessThan(y0);
  });
});

describe('the champion section', () => {
  const pending = renderReport(input);

  it('is pending in a train-time report, between markers the evaluate step replaces', () => {
    expect(pending).toContain(CHAMPION_SECTION_START);
    expect(pending).toMatch(/Pending: the pipeline's evaluate step scores the current champion/);
  });

  it('shows the champion scored on the same rows, with candidate - champion', () => {
    const section = championSection({
      test: { y, p },
      threshold: 0.25,
      champion: { version: 'c'.repeat(64), p: weak, threshold: 0.25 },
      championVersion: 'c'.repeat(64),
      gate: evaluateGate(binaryMetrics(y, p, 0.25), binaryMetrics(y, weak, 0.25)),
    });
    const html = withChampionSection(pending, section);
    expect(html).not.toContain('Pending:');
    expect(html.match(/<section id="champion">/g)).toHaveLength(1);
    expect(html).toContain(
      `Champion <code>${'c'.repeat(12)}</code> scored on the same ${y.length.toLocaleString('en-US')} test rows.`,
    );
    const auc = (who: string) =>
      Number(
        new RegExp(
          `<td>ROC AUC</td><td class="num" data-model="candidate">([0-9.]+)</td><td class="num" data-model="${who}">([0-9.]+)`,
        ).exec(html)?.[who === 'champion' ? 2 : 1],
      );
    expect(auc('champion')).toBeCloseTo(binaryMetrics(y, weak, 0.25).auc, 4);
    // an older report without markers gets the section before </main>
    const old = pending.replace(CHAMPION_SECTION_START, '').replace(/<!-- \/champion-section -->/, '');
    expect(
      withChampionSection(old.replace(/<section id="champion">[\s\S]*?<\/section>/, ''), section),
    ).toMatch(/<section id="champion">[\s\S]*<\/main>/);
  });
});
