import type { ModelLineage, PermutationImportance, RefitSummary } from './card.ts';
import { creditViews, ksCurves, type CreditViews } from './credit-views.ts';
import type { FairnessReport } from './fairness.ts';
import type { GateDecision } from './gate.ts';
import {
  binaryMetrics,
  isSliceNote,
  prCurve,
  reliabilityByQuantile,
  rocCurve,
  sliceMetrics,
  type BinaryMetrics,
  type ReliabilityBin,
} from './metrics.ts';
import { shapSection } from './report-shap.ts';
import { barChart, escapeHtml, lineChart, thin, type Series } from './report-svg.ts';
import type { ShapSummary } from './shap-summary.ts';
import type { StalenessRecord } from './staleness.ts';
import type { TuningRecord } from './tuning-plan.ts';

/**
 * report.html: one self-contained page a person reads to decide whether a model is fit to serve.
 * Inline SVG and CSS only: no script, no fonts, no images, no network, so it opens from S3, from
 * an e-mail attachment or offline, and shows the same thing in ten years.
 */

/** What the report shows about the model; the trainer maps its ModelCard onto this. */
export interface ReportModelInfo {
  name?: string;
  version?: string;
  createdAt?: string;
  /** The decision threshold (p >= threshold is positive), chosen on the validation split. */
  threshold: number;
  /** How the threshold was chosen, e.g. "max F1 on validation". */
  thresholdPolicy?: string;
  features?: string[];
  params?: Record<string, unknown>;
  seed?: number;
  snapshotId?: string;
  codeVersion?: string;
  trees?: number;
  trainSeconds?: number;
  peakRssBytes?: number;
  /** e.g. "out-of-time by loan_date: train <= 2021-06-30 < validation <= 2021-12-31 < test". */
  split?: string;
}

export interface ReportInput {
  card: ReportModelInfo;
  /** Labels and model scores on the test split. */
  test: { y: ArrayLike<number>; p: ArrayLike<number> };
  /** binaryMetrics of `test` at the card's threshold when the caller has it; else computed here. */
  testMetrics?: BinaryMetrics;
  /**
   * A simpler model scored on the same test rows; its threshold defaults to the model's. `metrics`:
   * its binaryMetrics at that threshold when the caller has them; else computed here.
   */
  baseline?: { name: string; p: ArrayLike<number>; threshold?: number; metrics?: BinaryMetrics };
  /** Slice columns aligned with the test rows, e.g. { gender: [...], ageBand: [...] }. */
  slices?: Record<string, ArrayLike<string>>;
  /** sliceMetrics of `slices` at the card's threshold when the caller has it; else computed here. */
  sliceMetrics?: ReturnType<typeof sliceMetrics>;
  /** Feature importance, any order (sorted by gain here). */
  importance?: { feature: string; gain: number; splits: number }[];
  /** Global SHAP summary of the test split (lib/model/shap-summary.ts). */
  shap?: ShapSummary;
  gate?: GateDecision;
  generatedAt?: string;
  /** The search that chose the params (card.tuning). */
  tuning?: TuningRecord;
  /** AUC and calibration per later month (card.staleness). */
  staleness?: StalenessRecord;
  /** The card's fairness section (per protected attribute and group). */
  fairness?: FairnessReport;
  /** Precomputed credit views (with losses when amounts were given); else computed from `test`. */
  credit?: CreditViews;
  featureValue?: {
    method: string;
    baselineAuc: number;
    features: PermutationImportance[];
    notHelping: string[];
  };
  lineage?: ModelLineage;
  refit?: RefitSummary;
  /**
   * The current champion scored on the same test rows. Known only at the evaluate step, which
   * renders championSection() into the report; at train time the section says it is pending.
   */
  champion?: ChampionColumn;
}

export interface ChampionColumn {
  version: string;
  p: ArrayLike<number>;
  threshold: number;
}

const MODEL_COLOR = '#1f5fa8';
const BASELINE_COLOR = '#d9822b';
const NEGATIVE_COLOR = '#5b8c5a';
const POSITIVE_COLOR = '#c23b3b';
const REFERENCE_COLOR = '#8a8a8a';

const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const int = (x: number) => Math.round(x).toLocaleString('en-US');

interface MetricRow {
  key: keyof BinaryMetrics;
  label: string;
  better: 'higher' | 'lower';
}

const HEADLINE: MetricRow[] = [
  { key: 'auc', label: 'ROC AUC', better: 'higher' },
  { key: 'prAuc', label: 'PR AUC (average precision)', better: 'higher' },
  { key: 'ks', label: 'KS', better: 'higher' },
  { key: 'brier', label: 'Brier score', better: 'lower' },
  { key: 'logloss', label: 'Log loss', better: 'lower' },
  { key: 'ece', label: 'ECE (10 equal-width bins)', better: 'lower' },
  { key: 'precision', label: 'Precision at threshold', better: 'higher' },
  { key: 'recall', label: 'Recall at threshold', better: 'higher' },
  { key: 'f1', label: 'F1 at threshold', better: 'higher' },
];

export function renderReport(input: ReportInput): string {
  const { card, test } = input;
  const model = input.testMetrics ?? binaryMetrics(test.y, test.p, card.threshold);
  const baseline = input.baseline
    ? (input.baseline.metrics ??
      binaryMetrics(test.y, input.baseline.p, input.baseline.threshold ?? card.threshold))
    : undefined;
  const title = `${card.name ?? 'model'} ${card.version ? card.version.slice(0, 12) : ''}`.trim();
  const sections = [
    header(input, model),
    input.gate ? gateSection(input.gate) : '',
    headlineSection(model, baseline, input.baseline?.name),
    chartsSection(input, model, baseline),
    input.importance && input.importance.length > 0 ? importanceSection(input.importance) : '',
    input.shap ? shapSection(input.shap) : '',
    input.slices && Object.keys(input.slices).length > 0 ? sliceSection(input) : '',
    input.staleness ? stalenessSection(input.staleness) : '',
    input.tuning ? tuningSection(input.tuning) : '',
    creditSection(input.test, card.threshold, input.credit),
    input.fairness && Object.keys(input.fairness).length > 0 ? fairnessSection(input.fairness) : '',
    input.featureValue ? featureValueSection(input.featureValue) : '',
    championSection({ test: input.test, threshold: card.threshold, champion: input.champion }),
    detailsSection(card, input.refit, input.lineage),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model report: ${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${sections.filter(Boolean).join('\n')}
</main>
</body>
</html>
`;
}

function header(input: ReportInput, m: BinaryMetrics): string {
  const { card } = input;
  const facts: [string, string][] = [
    ['Version', card.version ?? 'not registered yet'],
    ['Trained', card.createdAt ?? 'n/a'],
    ['Feature snapshot', card.snapshotId ?? 'n/a'],
    ['Test rows', `${int(m.n)} (${int(m.positives)} positive, ${fmt((100 * m.positives) / m.n, 2)}%)`],
    [
      'Threshold',
      `${fmt(card.threshold)}${card.thresholdPolicy ? ` (${card.thresholdPolicy})` : ''}; p >= threshold is positive`,
    ],
  ];
  if (card.split) facts.push(['Split', card.split]);
  return `<header>
<h1>Model report: ${escapeHtml(card.name ?? 'model')}</h1>
<dl class="facts">${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>
${input.generatedAt ? `<p class="muted">Generated ${escapeHtml(input.generatedAt)}. All metrics are on the test split.</p>` : '<p class="muted">All metrics are on the test split.</p>'}
</header>`;
}

function gateSection(gate: GateDecision): string {
  const rows = gate.checks
    .map(
      (c) =>
        `<tr class="${c.pass ? 'ok' : 'fail'}"><td>${c.pass ? 'pass' : 'FAIL'}</td><td><code>${escapeHtml(c.rule)}</code></td><td>${escapeHtml(c.message)}</td></tr>`,
    )
    .join('');
  return `<section id="gate">
<h2>Quality gate: <span class="${gate.pass ? 'ok' : 'fail'}" data-gate="${gate.pass ? 'pass' : 'fail'}">${gate.pass ? 'passed' : 'failed'}</span></h2>
<table><thead><tr><th>result</th><th>rule</th><th>detail</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

function headlineSection(m: BinaryMetrics, b: BinaryMetrics | undefined, baselineName = 'baseline'): string {
  const head = b
    ? `<tr><th>metric</th><th>model</th><th>${escapeHtml(baselineName)}</th><th>model − baseline</th></tr>`
    : '<tr><th>metric</th><th>model</th></tr>';
  const rows = HEADLINE.map((row) => {
    const mv = m[row.key] as number;
    const cells = [
      `<td>${escapeHtml(row.label)}</td>`,
      `<td class="num" data-metric="${row.key}" data-model="model">${fmt(mv)}</td>`,
    ];
    if (b) {
      const bv = b[row.key] as number;
      const diff = mv - bv;
      const modelBetter = row.better === 'higher' ? diff > 0 : diff < 0;
      cells.push(`<td class="num" data-metric="${row.key}" data-model="baseline">${fmt(bv)}</td>`);
      cells.push(
        `<td class="num ${diff === 0 ? '' : modelBetter ? 'ok' : 'fail'}">${diff > 0 ? '+' : ''}${fmt(diff)}</td>`,
      );
    }
    return `<tr>${cells.join('')}</tr>`;
  }).join('');
  const verdict = b ? baselineVerdict(m, b, baselineName) : '';
  return `<section id="metrics">
<h2>Headline metrics</h2>
${verdict}
<table class="metrics"><thead>${head}</thead><tbody>${rows}</tbody></table>
${confusionTable(m)}
</section>`;
}

function baselineVerdict(m: BinaryMetrics, b: BinaryMetrics, name: string): string {
  const better = b.auc > m.auc;
  const text = better
    ? `The ${name} baseline is BETTER than the model on test ROC AUC (${fmt(b.auc)} vs ${fmt(m.auc)}): the simpler model should be considered.`
    : `The ${name} baseline is not better than the model: test ROC AUC ${fmt(b.auc)} vs ${fmt(m.auc)} (model ahead by ${fmt(m.auc - b.auc)}).`;
  return `<p class="verdict ${better ? 'fail' : 'ok'}" data-baseline-better="${better}">${escapeHtml(text)}</p>`;
}

function confusionTable(m: BinaryMetrics): string {
  const c = m.confusion;
  return `<h3>Confusion matrix at threshold ${fmt(m.threshold)}</h3>
<table class="confusion">
<thead><tr><th></th><th>predicted 0</th><th>predicted 1</th></tr></thead>
<tbody>
<tr><th>actual 0</th><td class="num" data-cell="tn">${int(c.tn)}</td><td class="num" data-cell="fp">${int(c.fp)}</td></tr>
<tr><th>actual 1</th><td class="num" data-cell="fn">${int(c.fn)}</td><td class="num" data-cell="tp">${int(c.tp)}</td></tr>
</tbody></table>`;
}

/** `bm`: the baseline's metrics (renderReport's), when there is a baseline. */
function chartsSection(input: ReportInput, m: BinaryMetrics, bm: BinaryMetrics | undefined): string {
  const { y, p } = input.test;
  const roc = rocCurve(y, p);
  const rocSeries: Series[] = [
    {
      name: `model (AUC ${fmt(m.auc)})`,
      color: MODEL_COLOR,
      points: thin(roc.fpr, roc.tpr),
    },
  ];
  const pr = prCurve(y, p);
  const prSeries: Series[] = [
    {
      name: `model (AP ${fmt(m.prAuc)})`,
      color: MODEL_COLOR,
      points: thin(pr.recall, pr.precision),
    },
  ];
  if (input.baseline && bm) {
    const broc = rocCurve(y, input.baseline.p);
    rocSeries.push({
      name: `${input.baseline.name} (AUC ${fmt(bm.auc)})`,
      color: BASELINE_COLOR,
      points: thin(broc.fpr, broc.tpr),
    });
    const bpr = prCurve(y, input.baseline.p);
    prSeries.push({
      name: `${input.baseline.name} (AP ${fmt(bm.prAuc)})`,
      color: BASELINE_COLOR,
      points: thin(bpr.recall, bpr.precision),
    });
  }
  rocSeries.push({
    name: 'chance',
    color: REFERENCE_COLOR,
    dash: true,
    points: [
      [0, 0],
      [1, 1],
    ],
  });
  const rate = m.positives / m.n;
  prSeries.push({
    name: `base rate ${fmt(rate, 3)}`,
    color: REFERENCE_COLOR,
    dash: true,
    points: [
      [0, rate],
      [1, rate],
    ],
  });

  // 20 equal-count bins: the linear chart here and the log-axes one (logCalibration) share them.
  const reliability = reliabilityByQuantile(y, p, 20);
  const calMax = niceCeil(
    Math.max(...reliability.map((r) => Math.max(r.meanPredicted, r.fractionPositive)), 0.01),
  );
  const maxCount = Math.max(...reliability.map((r) => r.count));
  const calibration = lineChart(
    [
      {
        name: 'model: 20 equal-count bins',
        color: MODEL_COLOR,
        points: reliability.map((r) => [r.meanPredicted, r.fractionPositive]),
        markers: reliability.map((r) => 2.5 + 3.5 * Math.sqrt(r.count / maxCount)),
      },
      {
        name: 'perfect calibration',
        color: REFERENCE_COLOR,
        dash: true,
        points: [
          [0, 0],
          [calMax, calMax],
        ],
      },
    ],
    {
      title: `Calibration (ECE ${fmt(m.ece)})`,
      xLabel: 'mean predicted probability',
      yLabel: 'observed fraction positive',
      xDomain: [0, calMax],
      yDomain: [0, calMax],
    },
  );

  return `<section id="curves">
<h2>Curves</h2>
<div class="grid">
${lineChart(rocSeries, { title: 'ROC curve', xLabel: 'false positive rate', yLabel: 'true positive rate', legend: 'bottom-right' })}
${lineChart(prSeries, { title: 'Precision-recall curve', xLabel: 'recall', yLabel: 'precision', legend: 'top-right' })}
${calibration}
${logCalibration(reliability)}
${scoreDistribution(y, p, input.card.threshold)}
</div>
</section>`;
}

/** Per-class histograms as shares of each class, so a rare positive class is still visible. */
function scoreDistribution(y: ArrayLike<number>, p: ArrayLike<number>, threshold: number): string {
  const bins = 40;
  let maxP = 0;
  for (let i = 0; i < p.length; i++) maxP = Math.max(maxP, p[i]);
  const hi = niceCeil(Math.max(maxP, threshold, 0.01));
  const counts = [new Float64Array(bins), new Float64Array(bins)];
  const totals = [0, 0];
  for (let i = 0; i < y.length; i++) {
    const b = Math.min(bins - 1, Math.floor((p[i] / hi) * bins));
    counts[y[i]][b]++;
    totals[y[i]]++;
  }
  const steps = (cls: 0 | 1): [number, number][] => {
    const pts: [number, number][] = [];
    for (let b = 0; b < bins; b++) {
      const share = totals[cls] > 0 ? counts[cls][b] / totals[cls] : 0;
      pts.push([(b / bins) * hi, share], [((b + 1) / bins) * hi, share]);
    }
    return pts;
  };
  const neg = steps(0);
  const pos = steps(1);
  const yMax = niceCeil(Math.max(...neg.map((q) => q[1]), ...pos.map((q) => q[1]), 0.01));
  return lineChart(
    [
      { name: `actual 0 (${int(totals[0])} rows)`, color: NEGATIVE_COLOR, points: neg },
      { name: `actual 1 (${int(totals[1])} rows)`, color: POSITIVE_COLOR, points: pos },
    ],
    {
      title: 'Score distribution per class',
      xLabel: 'predicted probability',
      yLabel: 'share of the class',
      xDomain: [0, hi],
      yDomain: [0, yMax],
      legend: 'top-right',
      verticals: [{ x: threshold, label: `threshold ${fmt(threshold, 3)}`, color: '#333333' }],
    },
  );
}

function importanceSection(importance: { feature: string; gain: number; splits: number }[]): string {
  const sorted = [...importance].sort((a, b) => b.gain - a.gain || a.feature.localeCompare(b.feature));
  const total = sorted.reduce((s, r) => s + r.gain, 0) || 1;
  const chart = barChart(
    sorted.map((r) => ({
      label: r.feature,
      value: r.gain,
      note: `${fmt((100 * r.gain) / total, 1)}% of gain, ${int(r.splits)} splits`,
    })),
    { title: 'Feature importance (total split gain)', color: MODEL_COLOR },
  );
  return `<section id="importance">
<h2>Feature importance</h2>
<p class="muted">Gain is the total loss reduction of the splits on a feature; splits counts how often it was used.</p>
${chart}
</section>`;
}

function sliceSection(input: ReportInput): string {
  const slices =
    input.sliceMetrics ?? sliceMetrics(input.test.y, input.test.p, input.card.threshold, input.slices ?? {});
  const rows: string[] = [];
  for (const [column, groups] of Object.entries(slices)) {
    for (const [value, m] of Object.entries(groups)) {
      const id = `data-slice="${escapeHtml(column)}" data-value="${escapeHtml(value)}"`;
      if (isSliceNote(m)) {
        rows.push(
          `<tr ${id}><td>${escapeHtml(column)}</td><td>${escapeHtml(value)}</td><td class="num">${int(m.n)}</td><td class="num">${int(m.positives)}</td><td colspan="6" class="muted">${escapeHtml(m.note)}</td></tr>`,
        );
        continue;
      }
      rows.push(
        `<tr ${id}><td>${escapeHtml(column)}</td><td>${escapeHtml(value)}</td><td class="num">${int(m.n)}</td><td class="num">${int(m.positives)}</td>` +
          `<td class="num" data-metric="auc">${fmt(m.auc)}</td><td class="num">${fmt(m.prAuc)}</td><td class="num">${fmt(m.ks)}</td>` +
          `<td class="num">${fmt(m.ece)}</td><td class="num">${fmt(m.precision)}</td><td class="num">${fmt(m.recall)}</td></tr>`,
      );
    }
  }
  return `<section id="slices">
<h2>Metrics per slice</h2>
<p class="muted">Same threshold for every slice. Small or single-class slices get a note instead of metrics.</p>
<table class="slices"><thead><tr><th>slice</th><th>value</th><th>rows</th><th>positives</th><th>ROC AUC</th><th>PR AUC</th><th>KS</th><th>ECE</th><th>precision</th><th>recall</th></tr></thead>
<tbody>${rows.join('')}</tbody></table>
</section>`;
}

/** AUC and ECE of each later month: how fast the model goes stale (lib/model/staleness.ts). */
function stalenessSection(s: StalenessRecord): string {
  const counted = s.months.filter((m) => m.rows >= s.minRows);
  const x = counted.map((m) => m.monthsAfter);
  // Whole months on the axis: its five ticks fall on integers when the span is a multiple of 5.
  const xDomain: [number, number] = [Math.min(0, ...x), Math.ceil(Math.max(1, ...x) / 5) * 5];
  const aucs = counted.map((m) => m.auc).filter((a): a is number => a !== null);
  const lo = aucs.length > 0 ? Math.floor(Math.min(...aucs) * 20) / 20 : 0.5;
  const chart =
    counted.length > 0
      ? `<div class="grid">${lineChart(
          [
            {
              name: 'ROC AUC',
              color: MODEL_COLOR,
              points: counted.filter((m) => m.auc !== null).map((m) => [m.monthsAfter, m.auc as number]),
            },
          ],
          {
            title: 'AUC by month after the training data',
            xLabel: 'months after the training data',
            yLabel: 'ROC AUC',
            xDomain,
            yDomain: [Math.max(0, Math.min(lo, 0.95)), 1],
            height: 300,
            legend: 'bottom-right',
          },
        )}${lineChart(
          [{ name: 'ECE', color: POSITIVE_COLOR, points: counted.map((m) => [m.monthsAfter, m.ece]) }],
          {
            title: 'Calibration error by month',
            xLabel: 'months after the training data',
            yLabel: 'ECE',
            xDomain,
            yDomain: [0, niceCeil(Math.max(0.01, ...counted.map((m) => m.ece)))],
            height: 300,
            legend: 'top-left',
          },
        )}</div>`
      : '';
  const slope = (v: number | null, unit: string) =>
    v === null
      ? 'n/a (fewer than two months to fit)'
      : `${v >= 0 ? '+' : ''}${Math.abs(v) < 5e-5 ? v.toExponential(1) : v.toFixed(4)} ${unit}`;
  const rows = s.months
    .map(
      (m) =>
        `<tr data-month="${escapeHtml(m.month)}"><td>${escapeHtml(m.month)}</td><td class="num">${m.monthsAfter}</td><td class="num">${int(m.rows)}</td><td class="num">${int(m.positives)}</td>` +
        `<td class="num" data-metric="auc">${m.auc === null ? 'n/a' : fmt(m.auc)}</td><td class="num">${fmt(m.ece)}</td><td class="num">${fmt(m.meanScore)}</td><td class="num">${fmt(m.positiveRate)}</td></tr>`,
    )
    .join('');
  return `<section id="staleness">
<h2>Staleness by month</h2>
<p class="muted">Trained on data up to ${escapeHtml(s.trainedUntil)}; scored on ${escapeHtml(s.scoredOn)}, month by month (by ${escapeHtml(s.timeColumn)}).
AUC changes ${escapeHtml(slope(s.aucSlopePerMonth, 'per month'))}, ECE ${escapeHtml(slope(s.eceSlopePerMonth, 'per month'))} (row-weighted fit over months of at least ${int(s.minRows)} rows).</p>
${chart}
<table class="staleness"><thead><tr><th>month</th><th>months after</th><th>rows</th><th>positives</th><th>ROC AUC</th><th>ECE</th><th>mean score</th><th>positive rate</th></tr></thead>
<tbody>${rows}</tbody></table>
</section>`;
}

/** The tuning search: its rungs, every trial, and the settings chosen (lib/model/tuning-plan.ts). */
function tuningSection(t: TuningRecord): string {
  const chosen = t.configs[t.chosen.id];
  const keys = Object.keys(chosen) as (keyof typeof chosen)[];
  const trials = [...t.trials]
    .sort((a, b) => b.rung - a.rung || b.validAuc - a.validAuc || a.id - b.id)
    .map((r) => {
      const c = t.configs[r.id];
      const mark = r.id === t.chosen.id ? ' class="ok"' : '';
      return (
        `<tr data-trial="${r.id}" data-rung="${r.rung}"${mark}><td class="num">${r.id}${r.id === 0 ? ' (defaults)' : ''}</td><td class="num">${r.rung}</td><td class="num">${int(r.trainRows)}</td>` +
        `<td class="num">${fmt(r.validAuc)}</td><td class="num">${fmt(r.validLogloss)}</td><td class="num">${r.trees}</td><td class="num">${fmt(r.seconds, 1)}</td>` +
        `<td><code>${escapeHtml(keys.map((k) => `${k} ${String(c[k])}`).join(', '))}</code></td>` +
        '</tr>'
      );
    })
    .join('');
  const rungs = t.rungs
    .map(
      (r) =>
        `rung ${r.rung}: ${r.configs} configurations on ${fmt(100 * r.fraction, 1)}% of the training rows`,
    )
    .join('; ');
  return `<section id="tuning">
<h2>Tuning</h2>
<p>${escapeHtml(t.method)} (eta ${t.settings.eta}, seed ${t.settings.seed}) over ${t.settings.trials} configurations, scored on the ${escapeHtml(t.scoredOn)} split only: ${escapeHtml(rungs)}.
Chosen: configuration <strong data-chosen="${t.chosen.id}">${t.chosen.id}</strong>${t.chosen.isDefaults ? ' (the defaults)' : ''}${t.chosen.validAuc === null ? '' : `, validation AUC ${fmt(t.chosen.validAuc)} at rung ${t.chosen.rung}`}; stopped by the ${escapeHtml(t.stoppedBy)} after ${fmt(t.seconds, 1)} s.</p>
<table class="tuning"><thead><tr><th>config</th><th>rung</th><th>rows</th><th>validation AUC</th><th>validation logloss</th><th>trees</th><th>seconds</th><th>settings</th></tr></thead>
<tbody>${trials}</tbody></table>
</section>`;
}

function detailsSection(card: ReportModelInfo, refit?: RefitSummary, lineage?: ModelLineage): string {
  const facts: [string, string][] = [];
  if (refit) facts.push(['Final fit', refit.method]);
  if (lineage) {
    facts.push(['Training run', lineage.runId ?? 'n/a (trained by hand)']);
    facts.push(['Raw input sha256', lineage.inputSha256 ?? 'n/a']);
    facts.push(['Settings sha256', lineage.settingsSha256]);
    facts.push([
      'Libraries',
      Object.entries(lineage.libraries)
        .map(([k, v]) => `${k} ${v ?? 'n/a'}`)
        .join(', '),
    ]);
    if (lineage.codeVersion) facts.push(['Code version source', lineage.codeVersionSource]);
  }
  if (card.trees !== undefined) facts.push(['Trees', String(card.trees)]);
  if (card.seed !== undefined) facts.push(['Seed', String(card.seed)]);
  if (card.codeVersion) facts.push(['Code version', card.codeVersion]);
  if (card.trainSeconds !== undefined) facts.push(['Training wall time', `${fmt(card.trainSeconds, 1)} s`]);
  if (card.peakRssBytes !== undefined) facts.push(['Peak RSS', `${fmt(card.peakRssBytes / 2 ** 20, 0)} MiB`]);
  const params = card.params
    ? `<h3>Parameters</h3><table class="kv">${Object.entries(card.params)
        .map(
          ([k, v]) =>
            `<tr><th>${escapeHtml(k)}</th><td><code>${escapeHtml(JSON.stringify(v))}</code></td></tr>`,
        )
        .join('')}</table>`
    : '';
  const features = card.features
    ? `<h3>Features, in model input order</h3><ol class="features">${card.features.map((f) => `<li><code>${escapeHtml(f)}</code></li>`).join('')}</ol>`
    : '';
  if (facts.length === 0 && !params && !features) return '';
  return `<section id="details">
<h2>Training details</h2>
<dl class="facts">${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>
${params}
${features}
</section>`;
}

/** Calibration on log axes: a 3% base rate puts most bins near zero, where a linear axis hides them. */
function logCalibration(reliability: readonly ReliabilityBin[]): string {
  const bins = reliability.filter((r) => r.meanPredicted > 0 && r.fractionPositive > 0);
  if (bins.length < 2) return '';
  const lo = Math.min(...bins.map((r) => Math.min(r.meanPredicted, r.fractionPositive)));
  const hi = Math.max(...bins.map((r) => Math.max(r.meanPredicted, r.fractionPositive)));
  const domain: [number, number] = [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
  return lineChart(
    [
      {
        name: 'model: 20 equal-count bins (empty bins left out)',
        color: MODEL_COLOR,
        points: bins.map((r) => [r.meanPredicted, r.fractionPositive]),
        markers: bins.map(() => 4),
      },
      {
        name: 'perfect calibration',
        color: REFERENCE_COLOR,
        dash: true,
        points: [
          [domain[0], domain[0]],
          [domain[1], domain[1]],
        ],
      },
    ],
    {
      title: 'Calibration, log scale',
      xLabel: 'mean predicted probability (log)',
      yLabel: 'observed fraction positive (log)',
      xDomain: domain,
      yDomain: domain,
      log: true,
    },
  );
}

const pct = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(digits)}%`;

/** Gini, the KS chart, the decile gains/lift table and the cutoff table (approve = score below the cutoff). */
function creditSection(
  test: { y: ArrayLike<number>; p: ArrayLike<number> },
  threshold: number,
  given?: CreditViews,
): string {
  const v = given ?? creditViews(test.y, test.p, threshold);
  const curves = ksCurves(test.y, test.p);
  const chart = lineChart(
    [
      {
        name: 'bad loans (cumulative share)',
        color: POSITIVE_COLOR,
        points: curves.population.map((x, i) => [x, curves.bads[i]]),
      },
      {
        name: 'good loans (cumulative share)',
        color: NEGATIVE_COLOR,
        points: curves.population.map((x, i) => [x, curves.goods[i]]),
      },
    ],
    {
      title: `KS ${fmt(v.ks)} at ${pct(v.ksPopulationShare)} of the rows (score ${fmt(v.ksScore)})`,
      xLabel: 'share of rows, riskiest first',
      yLabel: 'cumulative share of the class',
      legend: 'bottom-right',
      verticals: [{ x: v.ksPopulationShare, label: 'KS', color: '#333333' }],
    },
  );
  const deciles = v.deciles
    .map(
      (d) =>
        `<tr data-decile="${d.decile}"><td class="num">${d.decile}</td><td class="num">${int(d.rows)}</td><td class="num">${int(d.bads)}</td><td class="num">${pct(d.badRate, 2)}</td><td class="num">${fmt(d.minScore)}-${fmt(d.maxScore)}</td><td class="num">${pct(d.cumulativeBadShare)}</td><td class="num">${fmt(d.lift, 2)}</td><td class="num">${fmt(d.cumulativeLift, 2)}</td></tr>`,
    )
    .join('');
  const losses = v.cutoffs.some((c) => c.expectedLoss !== undefined);
  const cutoffs = v.cutoffs
    .map(
      (c) =>
        `<tr${c.label === 'model threshold' ? ' class="ok"' : ''}><td>${escapeHtml(c.label)}</td><td class="num">${fmt(c.threshold)}</td><td class="num">${pct(c.approvalRate)}</td><td class="num">${pct(c.badRateApproved, 2)}</td><td class="num">${pct(c.badsDeclined)}</td>` +
        (losses
          ? `<td class="num">${int(c.expectedLoss ?? 0)}</td><td class="num">${int(c.badAmountApproved ?? 0)}</td>`
          : '') +
        '</tr>',
    )
    .join('');
  return `<section id="credit">
<h2>Credit views</h2>
<p data-gini="${fmt(v.gini)}">Gini ${fmt(v.gini)} (2 x AUC - 1), KS ${fmt(v.ks)}. Bad = the positive class; approve = score below the cutoff.</p>
<div class="grid">${chart}</div>
<h3>Deciles (riskiest tenth first): gains and lift</h3>
<table class="deciles"><thead><tr><th>decile</th><th>rows</th><th>bad</th><th>bad rate</th><th>scores</th><th>cumulative bad captured</th><th>lift</th><th>cumulative lift</th></tr></thead><tbody>${deciles}</tbody></table>
<h3>Cutoffs</h3>
<table class="cutoffs"><thead><tr><th>cutoff</th><th>threshold</th><th>approval rate</th><th>bad rate among approved</th><th>bad loans declined</th>${losses ? `<th>expected loss (${escapeHtml(v.amountColumn ?? 'amount')} x score)</th><th>bad amount approved</th>` : ''}</tr></thead><tbody>${cutoffs}</tbody></table>
${losses ? '' : '<p class="muted">The table has no loan-amount column (the amountColumn option of trainModel), so the cutoffs have no expected loss.</p>'}
</section>`;
}

function fairnessSection(fairness: FairnessReport): string {
  const blocks = Object.entries(fairness).map(([attribute, f]) => {
    const rows = f.groups
      .map(
        (g) =>
          `<tr data-attribute="${escapeHtml(attribute)}" data-group="${escapeHtml(g.group)}"${g.inRatio ? '' : ' class="muted"'}><td>${escapeHtml(g.group)}</td><td class="num">${int(g.rows)}</td><td class="num">${int(g.positives)}</td><td class="num">${g.auc === null ? 'n/a' : fmt(g.auc)}</td><td class="num" data-approval="${g.approvalRate}">${pct(g.approvalRate)}</td><td class="num">${pct(g.badRateApproved, 2)}</td><td class="num">${pct(g.truePositiveRate)}</td><td class="num">${pct(g.goodApprovalRate)}</td></tr>`,
      )
      .join('');
    const air = f.adverseImpactRatio;
    const flagged = air !== null && air < 0.8;
    return `<h3>${escapeHtml(attribute)}</h3>
<p class="verdict ${flagged ? 'fail' : 'ok'}" data-air="${air ?? ''}">Adverse impact ratio ${air === null ? 'n/a' : fmt(air, 3)}${f.lowestApproval && f.highestApproval ? ` (lowest approval ${pct(f.lowestApproval.rate)} for ${escapeHtml(f.lowestApproval.group)}, highest ${pct(f.highestApproval.rate)} for ${escapeHtml(f.highestApproval.group)})` : ''}${flagged ? ': below the four-fifths rule' : ''}; equal-opportunity difference ${f.equalOpportunityDifference === null ? 'n/a' : fmt(f.equalOpportunityDifference, 3)}.</p>
<table class="fairness"><thead><tr><th>group</th><th>rows</th><th>bad</th><th>ROC AUC</th><th>approval rate</th><th>bad rate among approved</th><th>true-positive rate (bad declined)</th><th>good approved</th></tr></thead><tbody>${rows}</tbody></table>`;
  });
  const min = Object.values(fairness)[0]?.minGroupRows ?? 0;
  return `<section id="fairness">
<h2>Fairness</h2>
<p class="muted">Protected attributes are never model inputs; they travel with the test rows. Approve = the model predicts 0. Groups under ${min} rows are greyed and left out of the ratios.</p>
${blocks.join('\n')}
</section>`;
}

function featureValueSection(v: NonNullable<ReportInput['featureValue']>): string {
  const rows = v.features
    .map(
      (f) =>
        `<tr${v.notHelping.includes(f.feature) ? ' class="fail"' : ''}><td><code>${escapeHtml(f.feature)}</code></td><td class="num">${fmt(f.aucDrop)}</td><td class="num">${fmt(f.loglossRise, 5)}</td></tr>`,
    )
    .join('');
  return `<section id="feature-value">
<h2>Feature value (permutation importance)</h2>
<p class="muted">${escapeHtml(v.method)}; validation AUC ${fmt(v.baselineAuc)} before shuffling. ${v.notHelping.length > 0 ? `Not helping (AUC drop under 0.0005): ${escapeHtml(v.notHelping.join(', '))}.` : 'Every feature helps.'}</p>
<table><thead><tr><th>feature</th><th>validation AUC lost</th><th>logloss gained</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

/** Marks the champion section in a train-time report, so the evaluate step can replace it. */
export const CHAMPION_SECTION_START = '<!-- champion-section -->';
export const CHAMPION_SECTION_END = '<!-- /champion-section -->';

/**
 * The candidate against the current champion on the same test rows: headline and credit metrics
 * side by side. Rendered pending at train time; the evaluate step (which scores the champion)
 * renders it again with the champion and the gate, and puts it in place with withChampionSection.
 */
export function championSection(input: {
  test: { y: ArrayLike<number>; p: ArrayLike<number> };
  threshold: number;
  champion?: ChampionColumn | null;
  championVersion?: string | null;
  gate?: GateDecision;
}): string {
  let body: string;
  if (!input.champion) {
    body = input.gate
      ? `<p class="muted">${input.championVersion ? `The champion ${escapeHtml(input.championVersion.slice(0, 12))} could not be scored on these rows.` : 'No champion: this is the first model.'}</p>`
      : '<p class="muted">Pending: the pipeline\'s evaluate step scores the current champion on these test rows and fills this section in.</p>';
  } else {
    const { y, p } = input.test;
    const c = input.champion;
    const mine = binaryMetrics(y, p, input.threshold);
    const theirs = binaryMetrics(y, c.p, c.threshold);
    const mv = creditViews(y, p, input.threshold);
    const tv = creditViews(y, c.p, c.threshold);
    const approval = (v: CreditViews) => v.cutoffs.find((x) => x.label === 'model threshold');
    const rows: [string, number, number, 'higher' | 'lower', number][] = [
      ['ROC AUC', mine.auc, theirs.auc, 'higher', 4],
      ['Gini', mv.gini, tv.gini, 'higher', 4],
      ['KS', mine.ks, theirs.ks, 'higher', 4],
      ['Brier score', mine.brier, theirs.brier, 'lower', 5],
      ['Log loss', mine.logloss, theirs.logloss, 'lower', 5],
      ['ECE', mine.ece, theirs.ece, 'lower', 4],
      [
        'Approval rate at its threshold',
        approval(mv)?.approvalRate ?? NaN,
        approval(tv)?.approvalRate ?? NaN,
        'higher',
        4,
      ],
      [
        'Bad rate among approved',
        approval(mv)?.badRateApproved ?? NaN,
        approval(tv)?.badRateApproved ?? NaN,
        'lower',
        4,
      ],
      [
        'Top-decile bad capture',
        mv.deciles[0]?.cumulativeBadShare ?? NaN,
        tv.deciles[0]?.cumulativeBadShare ?? NaN,
        'higher',
        4,
      ],
    ];
    const table = rows
      .map(([label, a, b, better, digits]) => {
        const d = a - b;
        const good = better === 'higher' ? d > 0 : d < 0;
        return `<tr><td>${escapeHtml(label)}</td><td class="num" data-model="candidate">${fmt(a, digits)}</td><td class="num" data-model="champion">${fmt(b, digits)}</td><td class="num ${d === 0 || !Number.isFinite(d) ? '' : good ? 'ok' : 'fail'}">${d > 0 ? '+' : ''}${fmt(d, digits)}</td></tr>`;
      })
      .join('');
    const deciles = mv.deciles
      .map(
        (d, i) =>
          `<tr><td class="num">${d.decile}</td><td class="num">${pct(d.badRate, 2)}</td><td class="num">${pct(tv.deciles[i]?.badRate, 2)}</td><td class="num">${pct(d.cumulativeBadShare)}</td><td class="num">${pct(tv.deciles[i]?.cumulativeBadShare)}</td></tr>`,
      )
      .join('');
    body = `<p>Champion <code>${escapeHtml(c.version.slice(0, 12))}</code> scored on the same ${int(mine.n)} test rows.</p>
<table class="champion"><thead><tr><th>metric</th><th>candidate</th><th>champion</th><th>candidate − champion</th></tr></thead><tbody>${table}</tbody></table>
<h3>Deciles side by side</h3>
<table><thead><tr><th>decile</th><th>bad rate, candidate</th><th>bad rate, champion</th><th>bad captured, candidate</th><th>bad captured, champion</th></tr></thead><tbody>${deciles}</tbody></table>`;
  }
  return `${CHAMPION_SECTION_START}<section id="champion">
<h2>Against the champion (same test rows)</h2>
${input.gate ? gateSection(input.gate) : ''}
${body}
</section>${CHAMPION_SECTION_END}`;
}

/** The report with its champion section replaced (or added before </main> in an older report). */
export function withChampionSection(html: string, section: string): string {
  const start = html.indexOf(CHAMPION_SECTION_START);
  const end = html.indexOf(CHAMPION_SECTION_END);
  if (start >= 0 && end > start)
    return html.slice(0, start) + section + html.slice(end + CHAMPION_SECTION_END.length);
  const close = html.lastIndexOf('</main>');
  return close >= 0 ? html.slice(0, close) + section + '\n' + html.slice(close) : html + section;
}

/** Rounds up to a tidy axis limit: 0.037 -> 0.04, 0.42 -> 0.5, 0.93 -> 1. */
function niceCeil(x: number): number {
  if (x >= 0.5) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(x));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (step * magnitude >= x) return Math.min(1, step * magnitude);
  }
  return 1;
}

const STYLE = `
:root { color-scheme: light; }
body { margin: 0; background: #f6f6f3; color: #1d1d1b; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 12px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #e2e2dc; }
h3 { font-size: 15px; margin: 18px 0 8px; }
.muted { color: #6b6b66; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin: 0; }
dl.facts dt { color: #6b6b66; }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; word-break: break-all; }
table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ecece7; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #d4d4cc; font-weight: 600; }
td.num { text-align: right; }
.ok { color: #1e7b34; }
.fail { color: #b3261e; font-weight: 600; }
.verdict { padding: 8px 12px; border-left: 4px solid currentColor; background: #fafaf7; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
svg.chart { max-width: 100%; height: auto; }
svg .grid { stroke: #ecece7; stroke-width: 1; }
svg .frame { fill: none; stroke: #9a9a94; stroke-width: 1; }
svg .tick, svg .legend { font-size: 11px; fill: #4a4a46; }
svg .axis-label { font-size: 12px; fill: #1d1d1b; }
svg .chart-title { font-size: 14px; font-weight: 600; fill: #1d1d1b; }
ol.features { columns: 3; margin: 0; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
`;
