import { creditViews } from './credit-views.ts';
import { fairnessByAttribute, type FairnessAttribute } from './fairness.ts';
import { binaryMetrics } from './metrics.ts';
import { escapeHtml } from './report-svg.ts';

/**
 * Two model versions side by side on the same rows (`credit-risk models compare A B`): metrics,
 * deltas, fairness per protected attribute, the settings and lineage that differ
 * (docs/adr/0144-credit-views-champion-column-and-compare.md). Pure: the caller reads the cards,
 * chooses and scores the rows.
 */
export interface ComparedModel {
  version: string;
  createdAt: string | null;
  threshold: number;
  /** P(bad) of every compared row. */
  p: ArrayLike<number>;
  card: Record<string, unknown>;
}

export interface ModelFigures {
  version: string;
  createdAt: string | null;
  threshold: number;
  auc: number;
  gini: number;
  ks: number;
  brier: number;
  logloss: number;
  ece: number;
  approvalRate: number;
  badRateApproved: number | null;
  topDecileBadShare: number;
}

export interface Difference {
  key: string;
  a: unknown;
  b: unknown;
}

export interface Comparison {
  rows: { description: string; n: number; positives: number; from?: string; to?: string };
  a: ModelFigures;
  b: ModelFigures;
  /** b − a for every numeric figure. */
  delta: Record<string, number | null>;
  fairness: Record<string, { a: FairnessAttribute; b: FairnessAttribute }>;
  settings: Difference[];
  lineage: Difference[];
  warnings: string[];
}

function figures(m: ComparedModel, y: ArrayLike<number>): ModelFigures {
  const b = binaryMetrics(y, m.p, m.threshold);
  const v = creditViews(y, m.p, m.threshold);
  const at = v.cutoffs.find((c) => c.label === 'model threshold');
  return {
    version: m.version,
    createdAt: m.createdAt,
    threshold: m.threshold,
    auc: b.auc,
    gini: v.gini,
    ks: b.ks,
    brier: b.brier,
    logloss: b.logloss,
    ece: b.ece,
    approvalRate: at?.approvalRate ?? Number.NaN,
    badRateApproved: at?.badRateApproved ?? null,
    topDecileBadShare: v.deciles[0]?.cumulativeBadShare ?? Number.NaN,
  };
}

/** Leaves of a JSON value as dotted paths (arrays by index), for a flat diff. */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.set(prefix, value);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  out.set(prefix, value);
}

export function diff(a: unknown, b: unknown): Difference[] {
  const fa = new Map<string, unknown>();
  const fb = new Map<string, unknown>();
  flatten(a ?? {}, '', fa);
  flatten(b ?? {}, '', fb);
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  return keys
    .filter((k) => JSON.stringify(fa.get(k)) !== JSON.stringify(fb.get(k)))
    .map((k) => ({ key: k, a: fa.get(k) ?? null, b: fb.get(k) ?? null }));
}

/** The settings of a card: its lineage's when it has one, else what older cards kept. */
function settingsOf(card: Record<string, unknown>): unknown {
  const lineage = card.lineage as { settings?: unknown } | undefined;
  if (lineage?.settings) return lineage.settings;
  return {
    target: card.target,
    seed: card.seed,
    params: card.params,
    thresholdPolicy: (card.thresholdPolicy as { policy?: unknown } | undefined)?.policy,
    fractions: (card.split as { fractions?: unknown } | undefined)?.fractions,
  };
}

function lineageOf(card: Record<string, unknown>): unknown {
  const lineage = (card.lineage ?? {}) as Record<string, unknown>;
  const data = (card.data ?? {}) as Record<string, unknown>;
  return {
    codeVersion: lineage.codeVersion ?? card.codeVersion ?? null,
    snapshotId: lineage.snapshotId ?? data.snapshotId ?? null,
    manifestSha256: lineage.manifestSha256 ?? data.manifestSha256 ?? null,
    inputSha256: lineage.inputSha256 ?? null,
    libraries: lineage.libraries ?? null,
    runId: lineage.runId ?? null,
    features: card.features ?? null,
  };
}

export function compareModels(input: {
  a: ComparedModel;
  b: ComparedModel;
  y: ArrayLike<number>;
  /** Protected attribute groups of the rows. */
  groups: Record<string, ArrayLike<string>>;
  rows: { description: string; from?: string; to?: string };
  warnings?: string[];
}): Comparison {
  const { a, b, y } = input;
  const fa = figures(a, y);
  const fb = figures(b, y);
  const delta: Record<string, number | null> = {};
  for (const key of Object.keys(fa) as (keyof ModelFigures)[]) {
    const x = fa[key];
    const z = fb[key];
    if (typeof x === 'number' && typeof z === 'number' && key !== 'threshold') delta[key] = z - x;
    else if (key === 'badRateApproved')
      delta[key] = x !== null && z !== null ? (z as number) - (x as number) : null;
  }
  const fairA = fairnessByAttribute(y, a.p, a.threshold, input.groups);
  const fairB = fairnessByAttribute(y, b.p, b.threshold, input.groups);
  const fairness: Comparison['fairness'] = {};
  for (const k of Object.keys(fairA)) fairness[k] = { a: fairA[k], b: fairB[k] };
  let positives = 0;
  for (let i = 0; i < y.length; i++) positives += y[i];
  return {
    rows: { ...input.rows, n: y.length, positives },
    a: fa,
    b: fb,
    delta,
    fairness,
    settings: diff(settingsOf(a.card), settingsOf(b.card)),
    lineage: diff(lineageOf(a.card), lineageOf(b.card)),
    warnings: input.warnings ?? [],
  };
}

const fmt = (x: number | null | undefined, digits = 4) =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits);
const signed = (x: number | null | undefined, digits = 4) =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${x > 0 ? '+' : ''}${x.toFixed(digits)}`;

export const FIGURE_ROWS: [keyof ModelFigures, string][] = [
  ['auc', 'ROC AUC'],
  ['gini', 'Gini'],
  ['ks', 'KS'],
  ['brier', 'Brier score'],
  ['logloss', 'Log loss'],
  ['ece', 'ECE'],
  ['approvalRate', 'approval rate at its threshold'],
  ['badRateApproved', 'bad rate among approved'],
  ['topDecileBadShare', 'bad loans in the riskiest decile'],
];

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** The comparison as text for a terminal. */
export function comparisonText(c: Comparison): string {
  const lines: string[] = [];
  const s = (v: string) => v.slice(0, 12);
  lines.push(
    `rows: ${c.rows.description}: ${c.rows.n} rows, ${c.rows.positives} bad${c.rows.from ? ` (${c.rows.from}..${c.rows.to})` : ''}`,
  );
  for (const w of c.warnings) lines.push(`warning: ${w}`);
  const table = [['METRIC', `A ${s(c.a.version)}`, `B ${s(c.b.version)}`, 'B - A']];
  for (const [key, label] of FIGURE_ROWS)
    table.push([label, fmt(c.a[key] as number | null), fmt(c.b[key] as number | null), signed(c.delta[key])]);
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  for (const r of table)
    lines.push(
      r
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
  for (const [attribute, f] of Object.entries(c.fairness)) {
    lines.push(
      `fairness ${attribute}: adverse impact ratio A ${fmt(f.a.adverseImpactRatio, 3)}, B ${fmt(f.b.adverseImpactRatio, 3)}; equal-opportunity difference A ${fmt(f.a.equalOpportunityDifference, 3)}, B ${fmt(f.b.equalOpportunityDifference, 3)}`,
    );
    for (const g of f.a.groups) {
      const other = f.b.groups.find((x) => x.group === g.group);
      lines.push(
        `  ${g.group.padEnd(8)} ${String(g.rows).padStart(7)} rows  approval A ${fmt(g.approvalRate)} B ${fmt(other?.approvalRate)}  bad rate approved A ${fmt(g.badRateApproved)} B ${fmt(other?.badRateApproved)}`,
      );
    }
  }
  lines.push(c.settings.length === 0 ? 'settings: the same' : 'settings that differ:');
  for (const d of c.settings) lines.push(`  ${d.key}: ${show(d.a)} -> ${show(d.b)}`);
  lines.push(c.lineage.length === 0 ? 'lineage: the same' : 'lineage that differs:');
  for (const d of c.lineage) lines.push(`  ${d.key}: ${show(d.a)} -> ${show(d.b)}`);
  return lines.join('\n');
}

/** The comparison as one self-contained HTML page (no script, no network). */
export function comparisonHtml(c: Comparison): string {
  const s = (v: string) => escapeHtml(v.slice(0, 12));
  const metrics = FIGURE_ROWS.map(
    ([key, label]) =>
      `<tr data-metric="${key}"><td>${escapeHtml(label)}</td><td class="num">${fmt(c.a[key] as number | null)}</td><td class="num">${fmt(c.b[key] as number | null)}</td><td class="num">${signed(c.delta[key])}</td></tr>`,
  ).join('');
  const fairness = Object.entries(c.fairness)
    .map(([attribute, f]) => {
      const rows = f.a.groups
        .map((g) => {
          const o = f.b.groups.find((x) => x.group === g.group);
          return `<tr><td>${escapeHtml(g.group)}</td><td class="num">${g.rows}</td><td class="num">${g.positives}</td><td class="num">${fmt(g.approvalRate)}</td><td class="num">${fmt(o?.approvalRate)}</td><td class="num">${fmt(g.badRateApproved)}</td><td class="num">${fmt(o?.badRateApproved)}</td><td class="num">${fmt(g.truePositiveRate)}</td><td class="num">${fmt(o?.truePositiveRate)}</td></tr>`;
        })
        .join('');
      return `<h3>${escapeHtml(attribute)}</h3><p>Adverse impact ratio: A ${fmt(f.a.adverseImpactRatio, 3)}, B ${fmt(f.b.adverseImpactRatio, 3)}. Equal-opportunity difference: A ${fmt(f.a.equalOpportunityDifference, 3)}, B ${fmt(f.b.equalOpportunityDifference, 3)}.</p>
<table><thead><tr><th>group</th><th>rows</th><th>bad</th><th>approval A</th><th>approval B</th><th>bad rate approved A</th><th>B</th><th>true-positive rate A</th><th>B</th></tr></thead><tbody>${rows}</tbody></table>`;
    })
    .join('\n');
  const diffTable = (d: Difference[]) =>
    d.length === 0
      ? '<p>The same.</p>'
      : `<table><thead><tr><th>field</th><th>A</th><th>B</th></tr></thead><tbody>${d
          .map(
            (x) =>
              `<tr><td><code>${escapeHtml(x.key)}</code></td><td><code>${escapeHtml(show(x.a))}</code></td><td><code>${escapeHtml(show(x.b))}</code></td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Compare ${s(c.a.version)} and ${s(c.b.version)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:24px}table{border-collapse:collapse;margin:6px 0 12px}th,td{padding:4px 10px;border-bottom:1px solid #e5e5e0;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}.warn{color:#b3261e}</style></head>
<body>
<h1>Model A ${s(c.a.version)} vs B ${s(c.b.version)}</h1>
<p>Rows: ${escapeHtml(c.rows.description)}: ${c.rows.n} rows, ${c.rows.positives} bad${c.rows.from ? ` (${escapeHtml(c.rows.from)}..${escapeHtml(c.rows.to ?? '')})` : ''}. Each model at its own threshold; approve = prediction 0.</p>
${c.warnings.map((w) => `<p class="warn">${escapeHtml(w)}</p>`).join('\n')}
<h2>Metrics on the same rows</h2>
<table><thead><tr><th>metric</th><th>A</th><th>B</th><th>B − A</th></tr></thead><tbody>${metrics}</tbody></table>
<h2>Fairness</h2>
${fairness || '<p>No protected attribute in these rows.</p>'}
<h2>Settings that differ</h2>
${diffTable(c.settings)}
<h2>Lineage that differs</h2>
${diffTable(c.lineage)}
</body>
</html>
`;
}
