/**
 * Small inline-SVG charts for report.html: no library, no script, no network. Each function
 * returns one <svg> element string with a <title> for screen readers.
 */

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dash?: boolean;
  /** Draw markers (with optional radii) instead of a line. */
  markers?: number[];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xDomain?: [number, number];
  yDomain?: [number, number];
  width?: number;
  height?: number;
  /** Where the legend sits inside the frame: away from where the data is. */
  legend?: 'top-left' | 'top-right' | 'bottom-right';
  /** Vertical reference lines, e.g. the decision threshold. */
  verticals?: { x: number; label: string; color: string }[];
  /** Both axes log10 (domains must be > 0; ticks at powers of ten and their 2x, 5x). */
  log?: boolean;
}

const M = { left: 56, right: 16, top: 28, bottom: 48 };

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

const r2 = (x: number) => (Math.round(x * 100) / 100).toString();

/**
 * The points (xs[i], ys[i]) less those closer than `resolution` (in domain units, Manhattan
 * distance) to the last kept one: a 100k-point ROC curve becomes a few hundred points that draw
 * the same picture. Takes the curve's coordinate arrays as they are (no pair per point).
 */
export function thin(xs: ArrayLike<number>, ys: ArrayLike<number>, resolution = 0.002): [number, number][] {
  const n = Math.min(xs.length, ys.length);
  if (n === 0) return [];
  const out: [number, number][] = [[xs[0], ys[0]]];
  let lastX = xs[0];
  let lastY = ys[0];
  for (let i = 1; i < n - 1; i++) {
    if (Math.abs(xs[i] - lastX) + Math.abs(ys[i] - lastY) >= resolution) {
      lastX = xs[i];
      lastY = ys[i];
      out.push([lastX, lastY]);
    }
  }
  if (n > 1) out.push([xs[n - 1], ys[n - 1]]);
  return out;
}

function ticks([lo, hi]: [number, number], count = 5): number[] {
  const step = (hi - lo) / count;
  return Array.from({ length: count + 1 }, (_, i) => lo + i * step);
}

/** Log-axis ticks: 1, 2 and 5 times each power of ten inside [lo, hi] (only powers when the range is wide). */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const wide = Math.log10(hi / lo) > 3;
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of wide ? [1] : [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

function tickLabel(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

export function lineChart(series: Series[], o: ChartOptions): string {
  const width = o.width ?? 520;
  const height = o.height ?? 400;
  const t = o.log ? (v: number) => Math.log10(Math.max(v, Number.MIN_VALUE)) : (v: number) => v;
  const [x0, x1] = (o.xDomain ?? [0, 1]).map(t);
  const [y0, y1] = (o.yDomain ?? [0, 1]).map(t);
  const pw = width - M.left - M.right;
  const ph = height - M.top - M.bottom;
  const sx = (x: number) => M.left + ((t(x) - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => M.top + ph - ((t(y) - y0) / (y1 - y0 || 1)) * ph;
  const axisTicks = (lo: number, hi: number) => (o.log ? logTicks(10 ** lo, 10 ** hi) : ticks([lo, hi]));
  const parts: string[] = [];
  parts.push(
    `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" class="chart">`,
  );
  parts.push(`<title>${escapeHtml(o.title)}</title>`);
  parts.push(
    `<text x="${width / 2}" y="18" text-anchor="middle" class="chart-title">${escapeHtml(o.title)}</text>`,
  );
  for (const v of axisTicks(x0, x1)) {
    parts.push(`<line x1="${r2(sx(v))}" y1="${M.top}" x2="${r2(sx(v))}" y2="${M.top + ph}" class="grid"/>`);
    parts.push(
      `<text x="${r2(sx(v))}" y="${M.top + ph + 16}" text-anchor="middle" class="tick">${tickLabel(v)}</text>`,
    );
  }
  for (const v of axisTicks(y0, y1)) {
    parts.push(`<line x1="${M.left}" y1="${r2(sy(v))}" x2="${M.left + pw}" y2="${r2(sy(v))}" class="grid"/>`);
    parts.push(
      `<text x="${M.left - 6}" y="${r2(sy(v) + 4)}" text-anchor="end" class="tick">${tickLabel(v)}</text>`,
    );
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" class="frame"/>`);
  parts.push(
    `<text x="${M.left + pw / 2}" y="${height - 10}" text-anchor="middle" class="axis-label">${escapeHtml(o.xLabel)}</text>`,
  );
  parts.push(
    `<text x="14" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${M.top + ph / 2})" class="axis-label">${escapeHtml(o.yLabel)}</text>`,
  );
  for (const v of o.verticals ?? []) {
    parts.push(
      `<line x1="${r2(sx(v.x))}" y1="${M.top}" x2="${r2(sx(v.x))}" y2="${M.top + ph}" stroke="${v.color}" stroke-dasharray="3 3" stroke-width="1.5"/>`,
    );
    parts.push(
      `<text x="${r2(sx(v.x) + 4)}" y="${M.top + ph - 6}" class="tick" fill="${v.color}">${escapeHtml(v.label)}</text>`,
    );
  }
  for (const s of series) {
    if (s.markers) {
      s.points.forEach(([x, y], i) => {
        parts.push(
          `<circle cx="${r2(sx(x))}" cy="${r2(sy(y))}" r="${r2(s.markers?.[i] ?? 3)}" fill="${s.color}" fill-opacity="0.75"/>`,
        );
      });
      continue;
    }
    const d = s.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${r2(sx(x))} ${r2(sy(y))}`).join('');
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.dash ? 1.2 : 2}"${s.dash ? ' stroke-dasharray="5 4"' : ''}/>`,
    );
  }
  const legend = o.legend ?? 'top-left';
  const legendWidth = 16 + 6.2 * Math.max(...series.map((s) => s.name.length));
  const lx = legend === 'top-left' ? M.left + 8 : M.left + pw - 8 - legendWidth;
  const ly = legend === 'bottom-right' ? M.top + ph - 8 - series.length * 16 : M.top + 6;
  parts.push(
    `<rect x="${r2(lx - 4)}" y="${ly}" width="${r2(legendWidth + 8)}" height="${series.length * 16 + 4}" fill="#ffffff" fill-opacity="0.85"/>`,
  );
  series.forEach((s, i) => {
    const y = ly + 14 + i * 16;
    parts.push(`<rect x="${r2(lx)}" y="${y - 6}" width="12" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${r2(lx + 16)}" y="${y}" class="legend">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface Bar {
  label: string;
  value: number;
  note?: string;
}

/** Horizontal bars, largest first as given; values scaled to the largest. */
export function barChart(bars: Bar[], o: { title: string; color: string; width?: number }): string {
  const width = o.width ?? 1040;
  const rowHeight = 22;
  const labelWidth = 260;
  const noteWidth = 180;
  const height = 36 + bars.length * rowHeight;
  const max = Math.max(...bars.map((b) => b.value), Number.MIN_VALUE);
  const pw = width - labelWidth - noteWidth - 16;
  const parts: string[] = [
    `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" class="chart">`,
    `<title>${escapeHtml(o.title)}</title>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" class="chart-title">${escapeHtml(o.title)}</text>`,
  ];
  bars.forEach((b, i) => {
    const y = 30 + i * rowHeight;
    const w = Math.max(0, (b.value / max) * pw);
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end" class="tick">${escapeHtml(b.label)}</text>`,
    );
    parts.push(
      `<rect x="${labelWidth}" y="${y + 3}" width="${r2(w)}" height="${rowHeight - 7}" fill="${o.color}"/>`,
    );
    if (b.note)
      parts.push(
        `<text x="${r2(labelWidth + w + 6)}" y="${y + 14}" class="tick">${escapeHtml(b.note)}</text>`,
      );
  });
  parts.push('</svg>');
  return parts.join('');
}
