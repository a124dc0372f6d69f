import type { AlarmStatus } from './alarm-evaluation.ts';
import type { ChampionAge } from './champion-age.ts';
import type { FeatureDrift } from './drift-report.ts';
import type { RealizedPerformanceView } from './realized-performance-view.ts';

/**
 * The monitoring page (`credit-risk serve` GET /dashboard, `credit-risk monitor report --out`):
 * data in, one self-contained HTML string out. No script, no external asset: every chart is inline
 * SVG, so the file opens anywhere and renders the same in a headless browser. The CloudWatch
 * dashboard of the stack (infra/resources/observability.yml) has the same panels.
 */
export interface TrafficPoint {
  /** Start of the bucket, ms since the epoch. */
  at: number;
  requests: number;
  serverErrors: number;
  p99LatencyMs: number | null;
}

export interface VersionTrafficView {
  modelVersion: string;
  role: 'champion' | 'canary' | 'other';
  requests: number;
  predictions: number;
  clientErrors: number;
  serverErrors: number;
  p99LatencyMs: number | null;
  series: TrafficPoint[];
}

export interface CanaryView {
  modelName: string;
  champion: string | null;
  canary: { version: string; weight: number; deadline: string | null } | null;
  previousChampions: string[];
  championAge: ChampionAge | null;
  recent: Array<{ at: string; action: string; to: string | null; why: string }>;
}

export interface DriftView {
  reportKey: string;
  checkedAt: string;
  champion: string;
  snapshotId: string;
  threshold: number;
  maxPsi: number;
  maxPsiFeature: string | null;
  retrain: boolean;
  features: FeatureDrift[];
}

export interface DashboardData {
  generatedAt: string;
  /** Where the figures come from (the local home), shown in the header. */
  source: string;
  traffic: { bucketSeconds: number; versions: VersionTrafficView[] };
  canary: CanaryView;
  drift: DriftView | null;
  performance: RealizedPerformanceView | null;
  alarms: AlarmStatus[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const short = (version: string) => version.slice(0, 12);

function fixed(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

function percent(x: number | null): string {
  return x === null || !Number.isFinite(x) ? '-' : `${(x * 100).toFixed(2)}%`;
}

function hhmm(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

interface Series {
  name: string;
  points: Array<{ x: number; y: number | null }>;
}

/** A line chart over shared x values; a null y breaks the line. Labels are plain text. */
export function lineChart(
  title: string,
  series: Series[],
  options: { xLabel?: (x: number) => string; yUnit?: string; threshold?: number } = {},
): string {
  const W = 560;
  const H = 200;
  const L = 48;
  const B = 28;
  const T = 22;
  const R = 12;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter((y): y is number => y !== null);
  if (options.threshold !== undefined) ys.push(options.threshold);
  if (xs.length === 0 || ys.length === 0)
    return `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" width="${W}" height="60" viewBox="0 0 ${W} 60"><text x="8" y="20" class="t">${escapeHtml(title)}</text><text x="8" y="44">no data yet</text></svg>`;
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const y1 = Math.max(...ys) * 1.1 || 1;
  const sx = (x: number) => L + (x1 === x0 ? (W - L - R) / 2 : ((x - x0) / (x1 - x0)) * (W - L - R));
  const sy = (y: number) => H - B - (y / y1) * (H - B - T);
  const label = options.xLabel ?? ((x: number) => String(x));
  const parts: string[] = [
    `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<text x="4" y="14" class="t">${escapeHtml(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#999"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#999"/>`,
    `<text x="${L - 4}" y="${T + 4}" text-anchor="end">${escapeHtml(fixed(y1, y1 < 10 ? 3 : 0))}</text>`,
    `<text x="${L - 4}" y="${H - B}" text-anchor="end">0${escapeHtml(options.yUnit ?? '')}</text>`,
    `<text x="${L}" y="${H - 8}">${escapeHtml(label(x0))}</text>`,
    `<text x="${W - R}" y="${H - 8}" text-anchor="end">${escapeHtml(label(x1))}</text>`,
  ];
  if (options.threshold !== undefined) {
    const y = sy(options.threshold);
    parts.push(
      `<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#d62728" stroke-dasharray="4 3"/>`,
      `<text x="${W - R}" y="${y - 3}" text-anchor="end" fill="#d62728">alarm ${options.threshold}</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    let path = '';
    let pen = false;
    for (const p of s.points) {
      if (p.y === null) {
        pen = false;
        continue;
      }
      path += `${pen ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`;
      pen = true;
    }
    parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of s.points)
      if (p.y !== null)
        parts.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    parts.push(`<text x="${L + 8 + i * 140}" y="${T + 12}" fill="${color}">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Two histograms side by side per group (shares of each side's rows), baseline and current. */
export function histogramChart(
  title: string,
  labels: string[],
  baseline: number[],
  current: number[],
): string {
  const W = 560;
  const H = 190;
  const L = 40;
  const B = 46;
  const T = 22;
  const share = (xs: number[]) => {
    const total = xs.reduce((a, b) => a + b, 0);
    return xs.map((x) => (total > 0 ? x / total : 0));
  };
  const a = share(baseline);
  const b = share(current);
  const top = Math.max(...a, ...b, 0.01) * 1.1;
  const slot = (W - L - 8) / Math.max(1, labels.length);
  const bar = Math.max(2, slot * 0.38);
  const sy = (v: number) => (v / top) * (H - B - T);
  const parts = [
    `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<text x="4" y="14" class="t">${escapeHtml(title)}</text>`,
    `<rect x="${W - 190}" y="6" width="10" height="10" fill="${COLORS[0]}"/><text x="${W - 176}" y="15">baseline</text>`,
    `<rect x="${W - 110}" y="6" width="10" height="10" fill="${COLORS[1]}"/><text x="${W - 96}" y="15">current</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - 8}" y2="${H - B}" stroke="#999"/>`,
    `<text x="${L - 4}" y="${T + 4}" text-anchor="end">${(top * 100).toFixed(0)}%</text>`,
  ];
  labels.forEach((label, i) => {
    const x = L + i * slot + slot * 0.1;
    const ha = sy(a[i]);
    const hb = sy(b[i]);
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${(H - B - ha).toFixed(1)}" width="${bar.toFixed(1)}" height="${ha.toFixed(1)}" fill="${COLORS[0]}"><title>${escapeHtml(`${label}: baseline ${(a[i] * 100).toFixed(1)}%`)}</title></rect>`,
      `<rect x="${(x + bar).toFixed(1)}" y="${(H - B - hb).toFixed(1)}" width="${bar.toFixed(1)}" height="${hb.toFixed(1)}" fill="${COLORS[1]}"><title>${escapeHtml(`${label}: current ${(b[i] * 100).toFixed(1)}%`)}</title></rect>`,
      `<text x="${(x + bar).toFixed(1)}" y="${H - B + 12}" text-anchor="end" transform="rotate(-30 ${(x + bar).toFixed(1)} ${H - B + 12})" font-size="9">${escapeHtml(label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

function trafficPanel(traffic: DashboardData['traffic']): string {
  const { versions, bucketSeconds } = traffic;
  if (versions.length === 0)
    return panel('traffic', 'Requests per model version', '<p class="empty">no requests recorded yet</p>');
  const rows = versions
    .map(
      (v) =>
        `<tr data-version="${escapeHtml(v.modelVersion)}"><td title="${escapeHtml(v.modelVersion)}"><code>${escapeHtml(short(v.modelVersion))}</code></td><td>${v.role}</td>` +
        `<td data-metric="requests">${v.requests}</td><td data-metric="predictions">${v.predictions}</td>` +
        `<td data-metric="clientErrors">${v.clientErrors}</td><td data-metric="serverErrors">${v.serverErrors}</td>` +
        `<td data-metric="errorRate">${percent(v.requests > 0 ? v.serverErrors / v.requests : null)}</td>` +
        `<td data-metric="p99LatencyMs">${fixed(v.p99LatencyMs, 2)}</td></tr>`,
    )
    .join('');
  const perMinute = 60 / bucketSeconds;
  const chart = (title: string, y: (p: TrafficPoint) => number | null, unit = '', threshold?: number) =>
    lineChart(
      title,
      versions.map((v) => ({
        name: `${short(v.modelVersion)} (${v.role})`,
        points: v.series.map((p) => ({ x: p.at, y: y(p) })),
      })),
      { xLabel: hhmm, yUnit: unit, threshold },
    );
  return panel(
    'traffic',
    'Requests per model version',
    `<table><thead><tr><th>version</th><th>role</th><th>requests</th><th>200</th><th>4xx</th><th>5xx</th><th>5xx rate</th><th>p99 ms</th></tr></thead><tbody>${rows}</tbody></table>` +
      `<p class="note">buckets of ${bucketSeconds} s; the rate is per minute</p>` +
      `<div class="charts">${chart('requests per minute', (p) => p.requests * perMinute)}` +
      chart('5xx rate', (p) => (p.requests > 0 ? p.serverErrors / p.requests : null)) +
      chart('p99 latency (ms)', (p) => p.p99LatencyMs, ' ms') +
      '</div>',
  );
}

function canaryPanel(c: CanaryView): string {
  const age = c.championAge;
  const state = c.canary
    ? `canary <code title="${escapeHtml(c.canary.version)}">${escapeHtml(short(c.canary.version))}</code> at weight <span data-metric="canaryWeight">${c.canary.weight}</span>${c.canary.deadline ? `, deadline ${escapeHtml(c.canary.deadline)}` : ''}`
    : 'no canary';
  const history = c.recent
    .map(
      (e) =>
        `<tr><td>${escapeHtml(e.at)}</td><td>${escapeHtml(e.action)}</td><td><code>${escapeHtml(e.to ? short(e.to) : '-')}</code></td><td>${escapeHtml(e.why)}</td></tr>`,
    )
    .join('');
  return panel(
    'canary',
    'Canary and champion',
    `<dl><dt>model</dt><dd>${escapeHtml(c.modelName)}</dd>` +
      `<dt>champion</dt><dd data-metric="champion">${c.champion ? `<code title="${escapeHtml(c.champion)}">${escapeHtml(short(c.champion))}</code>` : 'none yet'}</dd>` +
      `<dt>champion age</dt><dd data-metric="championAgeDays">${age ? `${age.days.toFixed(2)} days (since ${escapeHtml(age.since)})` : '-'}</dd>` +
      `<dt>canary</dt><dd data-metric="canaryState">${state}</dd>` +
      `<dt>previous champions</dt><dd>${c.previousChampions.length}</dd></dl>` +
      (history
        ? `<table><thead><tr><th>at</th><th>action</th><th>version</th><th>why</th></tr></thead><tbody>${history}</tbody></table>`
        : ''),
  );
}

function driftPanel(d: DriftView | null): string {
  if (!d)
    return panel(
      'drift',
      'Drift per feature',
      '<p class="empty">no drift report yet (credit-risk monitor drift writes one)</p>',
    );
  const rows = d.features
    .map(
      (f) =>
        `<tr data-feature="${escapeHtml(f.feature)}" class="${f.status}"><td>${escapeHtml(f.feature)}</td><td>${f.status}</td><td data-metric="psi">${fixed(f.psi, 4)}</td>` +
        `<td>${f.ks ? fixed(f.ks.d, 3) : '-'}</td><td>${f.rows}</td><td>${fixed(f.referenceMean, 4)}</td><td>${fixed(f.mean, 4)}</td></tr>`,
    )
    .join('');
  const charts = d.features
    .filter((f) => f.groups)
    .map((f) =>
      histogramChart(
        `${f.feature}: PSI ${fixed(f.psi, 4)}`,
        f.groups!.labels,
        f.groups!.baseline,
        f.groups!.current,
      ),
    )
    .join('');
  return panel(
    'drift',
    'Drift per feature',
    `<p>report <code>${escapeHtml(d.reportKey)}</code> checked ${escapeHtml(d.checkedAt)}, champion <code>${escapeHtml(short(d.champion))}</code>, snapshot <code>${escapeHtml(d.snapshotId)}</code>; ` +
      `max PSI <span data-metric="maxPsi">${fixed(d.maxPsi, 4)}</span>${d.maxPsiFeature ? ` (${escapeHtml(d.maxPsiFeature)})` : ''}, threshold ${d.threshold}: ${d.retrain ? '<b>retrain</b>' : 'no retraining'}</p>` +
      `<table><thead><tr><th>feature</th><th>status</th><th>PSI</th><th>KS D</th><th>rows</th><th>training mean</th><th>mean now</th></tr></thead><tbody>${rows}</tbody></table>` +
      (charts
        ? `<div class="charts">${charts}</div>`
        : '<p class="note">this report predates the recorded histograms: run credit-risk monitor drift again</p>'),
  );
}

function performancePanel(p: RealizedPerformanceView | null): string {
  if (!p || p.versions.length === 0)
    return panel(
      'performance',
      'Realized performance',
      '<p class="empty">no outcomes yet (credit-risk monitor outcomes --input FILE.csv joins them)</p>',
    );
  const rows = p.versions
    .map(
      (v) =>
        `<tr data-version="${escapeHtml(v.modelVersion)}"><td><code>${escapeHtml(short(v.modelVersion))}</code></td><td>${v.rows}</td><td>${v.positives}</td>` +
        `<td data-metric="realizedAuc">${fixed(v.realizedAuc, 4)}</td><td data-metric="offlineAuc">${fixed(v.offlineAuc, 4)}</td><td>${fixed(v.ks, 4)}</td><td>${fixed(v.ece, 4)}</td></tr>`,
    )
    .join('');
  const weeks = [...new Set(p.versions.flatMap((v) => v.weeks.map((w) => w.week)))].sort();
  const chart = lineChart(
    'realized AUC by week',
    p.versions.map((v) => ({
      name: short(v.modelVersion),
      points: weeks.map((week, i) => ({
        x: i,
        y: v.weeks.find((w) => w.week === week)?.realizedAuc ?? null,
      })),
    })),
    { xLabel: (i) => weeks[i] ?? '' },
  );
  const deciles = p.versions
    .map((v) =>
      lineChart(
        `${short(v.modelVersion)}: bad rate by score decile`,
        [{ name: 'bad rate', points: v.deciles.map((d) => ({ x: d.decile, y: d.badRate })) }],
        { xLabel: (x) => `decile ${x}` },
      ),
    )
    .join('');
  return panel(
    'performance',
    'Realized performance',
    `<table><thead><tr><th>version</th><th>rows</th><th>positives</th><th>realized AUC</th><th>offline AUC</th><th>KS</th><th>ECE</th></tr></thead><tbody>${rows}</tbody></table>` +
      `<div class="charts">${chart}${deciles}</div>`,
  );
}

function alarmsPanel(alarms: AlarmStatus[]): string {
  const rows = alarms
    .map(
      (a) =>
        `<tr data-alarm="${a.rule.id}" class="${a.state}"><td>${escapeHtml(a.rule.title)}</td><td class="state" data-metric="state">${a.state}</td>` +
        `<td data-metric="latest">${a.latest === null ? '-' : escapeHtml(String(Number(a.latest.toPrecision(6))))}</td><td>&gt; ${a.rule.threshold}</td>` +
        `<td>${escapeHtml(a.rule.measures)}; ${a.rule.datapointsToAlarm} of ${a.rule.evaluationPeriods} x ${a.rule.periodSeconds} s; missing: ${a.rule.treatMissingData}</td>` +
        `<td>${escapeHtml(a.reason)}</td><td>${escapeHtml(a.source)}</td></tr>`,
    )
    .join('');
  const count = (s: string) => alarms.filter((a) => a.state === s).length;
  return panel(
    'alarms',
    'Alarms',
    `<p><span data-metric="alarmsInAlarm">${count('ALARM')}</span> in ALARM, ${count('OK')} OK, ${count('INSUFFICIENT_DATA')} INSUFFICIENT_DATA; the CloudWatch alarms' thresholds and rules, on the local figures</p>` +
      `<table><thead><tr><th>alarm</th><th>state</th><th>latest</th><th>threshold</th><th>rule</th><th>why</th><th>local source</th></tr></thead><tbody>${rows}</tbody></table>`,
  );
}

function panel(id: string, title: string, body: string): string {
  return `<section class="panel" id="panel-${id}"><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:0 0 8px}
.panel{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin:12px 0}
table{border-collapse:collapse;margin:6px 0}th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
td[data-metric]{font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:8px}.chart{background:#fff;border:1px solid #eee}
.chart text{font-size:11px;fill:#444}.chart text.t{font-size:12px;font-weight:600}
.ALARM .state{color:#fff;background:#d62728}.OK .state{color:#fff;background:#2ca02c}.INSUFFICIENT_DATA .state{background:#ddd}
tr.drifted td{background:#fde2e2}tr.shifting td{background:#fff4d6}
.empty{color:#777}.note{color:#777;font-size:12px}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dd{margin:0}
`;

export function buildDashboardPage(data: DashboardData): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>credit-risk monitoring</title><style>${STYLE}</style></head><body>` +
    `<h1>credit-risk monitoring</h1><p class="note">generated ${escapeHtml(data.generatedAt)} from ${escapeHtml(data.source)}</p>` +
    trafficPanel(data.traffic) +
    canaryPanel(data.canary) +
    driftPanel(data.drift) +
    performancePanel(data.performance) +
    alarmsPanel(data.alarms) +
    '</body></html>'
  );
}
