import { barChart, escapeHtml } from './report-svg.ts';
import type { ShapSummary } from './shap-summary.ts';

/**
 * The report's global SHAP section: mean |SHAP| per feature (bars) and a beeswarm of the top
 * features (one dot per sampled row: x = its SHAP value, colour = the feature's value from low,
 * blue, to high, red; grey when missing). Inline SVG like the rest of report.html.
 */
const SHAP_COLOR = '#7a3fa0';
const MISSING_COLOR = '#b0b0aa';

const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

/** Blue (rank 0) to red (rank 1) through a light middle. */
function rankColor(rank: number | null): string {
  if (rank === null) return MISSING_COLOR;
  const lerp = (a: number, b: number, t: number) => Math.round(a + (b - a) * t);
  const [from, mid, to] = [
    [31, 95, 168],
    [200, 190, 200],
    [194, 59, 59],
  ];
  const [a, b, t] = rank < 0.5 ? [from, mid, rank * 2] : [mid, to, rank * 2 - 1];
  return `rgb(${lerp(a[0], b[0], t)},${lerp(a[1], b[1], t)},${lerp(a[2], b[2], t)})`;
}

export function beeswarmChart(summary: ShapSummary, width = 1040): string {
  const rows = summary.points;
  if (rows.length === 0) return '';
  const labelWidth = 260;
  const rowHeight = 46;
  const top = 34;
  const bottom = 44;
  const height = top + rows.length * rowHeight + bottom;
  const plotLeft = labelWidth;
  const plotRight = width - 24;
  let lo = 0;
  let hi = 0;
  for (const r of rows)
    for (const p of r.points) {
      if (Number.isFinite(p.shap)) {
        lo = Math.min(lo, p.shap);
        hi = Math.max(hi, p.shap);
      }
    }
  const pad = (hi - lo) * 0.04 || 0.1;
  lo -= pad;
  hi += pad;
  const xOf = (v: number) => plotLeft + ((v - lo) / (hi - lo)) * (plotRight - plotLeft);
  const title = 'SHAP values of the top features (one dot per sampled test row)';
  const parts = [
    `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" class="chart" data-chart="beeswarm">`,
    `<title>${escapeHtml(title)}</title>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" class="chart-title">${escapeHtml(title)}</text>`,
    `<line x1="${xOf(0).toFixed(1)}" x2="${xOf(0).toFixed(1)}" y1="${top - 4}" y2="${height - bottom + 4}" class="grid"/>`,
  ];
  const dot = 2.6;
  rows.forEach((r, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    parts.push(
      `<text x="${labelWidth - 10}" y="${cy + 4}" text-anchor="end" class="tick">${escapeHtml(r.feature)}</text>`,
    );
    // A swarm: dots in the same pixel column stack outwards from the row's centre line.
    const stacks = new Map<number, number>();
    for (const p of r.points) {
      if (!Number.isFinite(p.shap)) continue;
      const x = xOf(p.shap);
      const column = Math.round(x / (dot * 1.6));
      const k = stacks.get(column) ?? 0;
      stacks.set(column, k + 1);
      const offset = Math.min(rowHeight / 2 - dot, Math.ceil(k / 2) * dot * 1.2) * (k % 2 === 0 ? 1 : -1);
      parts.push(
        `<circle cx="${x.toFixed(1)}" cy="${(cy + offset).toFixed(1)}" r="${dot}" fill="${rankColor(p.rank)}" fill-opacity="0.85"/>`,
      );
    }
  });
  const axisY = height - bottom + 16;
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    parts.push(
      `<text x="${xOf(v).toFixed(1)}" y="${axisY}" text-anchor="middle" class="tick">${v.toFixed(2)}</text>`,
    );
  }
  parts.push(
    `<text x="${(plotLeft + plotRight) / 2}" y="${axisY + 20}" text-anchor="middle" class="axis-label">SHAP value (log-odds; > 0 pushes toward default)</text>`,
    `<text x="${plotLeft}" y="${top - 8}" class="legend">colour: feature value <tspan fill="${rankColor(0)}">low</tspan> .. <tspan fill="${rankColor(1)}">high</tspan>, <tspan fill="${MISSING_COLOR}">missing</tspan></text>`,
    '</svg>',
  );
  return parts.join('');
}

export function shapSection(summary: ShapSummary): string {
  const bars = barChart(
    summary.importance.map((r) => ({
      label: r.feature,
      value: r.meanAbsShap,
      note: `${fmt(r.meanAbsShap)} (${fmt(100 * r.share, 1)}%), mean ${r.meanShap >= 0 ? '+' : ''}${fmt(r.meanShap)}`,
    })),
    { title: 'Global importance: mean |SHAP| (log-odds)', color: SHAP_COLOR },
  );
  return `<section id="shap">
<h2>SHAP (path-dependent TreeSHAP) on the test split</h2>
<p class="muted">Exact SHAP values of ${summary.rows.toLocaleString('en-US')} test rows: each row's margin is the bias ${fmt(summary.bias)} (log-odds) plus its features' contributions. Mean |SHAP| says how much a feature moves scores; unlike gain it is measured on scored rows, in the model's output units.</p>
${bars}
${beeswarmChart(summary)}
</section>`;
}
