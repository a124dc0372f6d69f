import { binaryMetrics, scoresByClass } from './metrics.ts';

/**
 * What a credit-risk team reads besides ROC AUC (docs/adr/0144-credit-views-champion-column-and-compare.md):
 * Gini, the KS statistic and where it is reached, the decile gains/lift table and a cutoff table.
 * Positive (1) = a bad loan; a higher score = riskier; approve = score below the cutoff (the
 * serving rule: predict 1 when p >= threshold).
 */
export interface Decile {
  /** 1 = the riskiest tenth of the rows (highest scores). */
  decile: number;
  rows: number;
  bads: number;
  badRate: number;
  minScore: number;
  maxScore: number;
  /** Share of all bad loans in deciles 1..this one (the gains curve). */
  cumulativeBadShare: number;
  /** badRate / overall bad rate. */
  lift: number;
  cumulativeLift: number;
}

export interface Cutoff {
  /** Approve when score < threshold. */
  threshold: number;
  /** Why this row is in the table: a target approval rate, or the model's own threshold. */
  label: string;
  approvalRate: number;
  /** Bad loans among the approved; null when nobody is approved. */
  badRateApproved: number | null;
  /** Share of all bad loans that are declined. */
  badsDeclined: number;
  /** Sum over approved loans of score x amount (loss given default 1), when amounts are given. */
  expectedLoss?: number;
  /** Sum of the amounts of approved loans that went bad, when amounts are given. */
  badAmountApproved?: number;
}

export interface CreditViews {
  gini: number;
  ks: number;
  /** Share of the rows (riskiest first) at which the KS gap is widest, and the score there. */
  ksPopulationShare: number;
  ksScore: number;
  deciles: Decile[];
  cutoffs: Cutoff[];
  /** Name of the amount column used for losses, when one was given. */
  amountColumn?: string;
}

/** Target approval rates of the cutoff table (plus the model's threshold). */
export const CUTOFF_APPROVAL_RATES = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95] as const;

/**
 * Scores from the highest to the lowest with their labels. Positives and negatives are sorted apart
 * with the native numeric sort and merged (a comparator sort of row indices costs ~0.1 s on 116k
 * rows, see metrics.ts); within tied scores positives come first.
 */
function riskiestFirst(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
): { scores: Float64Array; labels: Uint8Array } {
  const n = y.length;
  const { pos, neg } = scoresByClass(y, p);
  const scores = new Float64Array(n);
  const labels = new Uint8Array(n);
  for (let k = 0, i = pos.length - 1, j = neg.length - 1; k < n; k++) {
    if (j < 0 || (i >= 0 && pos[i] >= neg[j])) {
      scores[k] = pos[i--];
      labels[k] = 1;
    } else scores[k] = neg[j--];
  }
  return { scores, labels };
}

export function creditViews(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  threshold: number,
  options: { amounts?: ArrayLike<number>; amountColumn?: string } = {},
): CreditViews {
  const n = y.length;
  const { scores, labels } = riskiestFirst(y, p);
  let totalBad = 0;
  for (let i = 0; i < n; i++) totalBad += labels[i];
  const totalGood = n - totalBad;
  const overall = n > 0 ? totalBad / n : 0;

  // KS over rank order: the widest gap between the cumulative bad and good shares, taken at the
  // end of a run of tied scores (a cutoff cannot split ties).
  let cumBad = 0;
  let ks = 0;
  let ksAt = 0;
  for (let k = 0; k < n; k++) {
    cumBad += labels[k];
    if (k + 1 < n && scores[k + 1] === scores[k]) continue;
    const gap = Math.abs(cumBad / (totalBad || 1) - (k + 1 - cumBad) / (totalGood || 1));
    if (gap > ks) {
      ks = gap;
      ksAt = k;
    }
  }

  const deciles: Decile[] = [];
  let cumulative = 0;
  for (let d = 0; d < 10; d++) {
    const lo = Math.floor((d * n) / 10);
    const hi = Math.floor(((d + 1) * n) / 10);
    if (hi <= lo) continue;
    let bads = 0;
    for (let k = lo; k < hi; k++) bads += labels[k];
    cumulative += bads;
    const badRate = bads / (hi - lo);
    deciles.push({
      decile: d + 1,
      rows: hi - lo,
      bads,
      badRate,
      minScore: scores[hi - 1],
      maxScore: scores[lo],
      cumulativeBadShare: totalBad > 0 ? cumulative / totalBad : 0,
      lift: overall > 0 ? badRate / overall : 0,
      cumulativeLift: overall > 0 ? cumulative / hi / overall : 0,
    });
  }

  const ascending = scores.slice().reverse();
  const rows: { threshold: number; label: string }[] = CUTOFF_APPROVAL_RATES.map((a) => ({
    threshold: ascending[Math.min(n - 1, Math.floor(a * n))] ?? 1,
    label: `approve ${Math.round(a * 100)}%`,
  }));
  rows.push({ threshold, label: 'model threshold' });
  const cutoffs = rows
    .map((row) => cutoffRow(y, p, row.threshold, row.label, totalBad, options.amounts))
    .sort((a, b) => a.threshold - b.threshold || a.label.localeCompare(b.label));

  return {
    gini: 2 * binaryMetrics(y, p, threshold).auc - 1,
    ks,
    ksPopulationShare: n > 0 ? (ksAt + 1) / n : 0,
    ksScore: n > 0 ? scores[ksAt] : Number.NaN,
    deciles,
    cutoffs,
    ...(options.amounts && options.amountColumn ? { amountColumn: options.amountColumn } : {}),
  };
}

function cutoffRow(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  threshold: number,
  label: string,
  totalBad: number,
  amounts: ArrayLike<number> | undefined,
): Cutoff {
  let approved = 0;
  let approvedBad = 0;
  let expectedLoss = 0;
  let badAmount = 0;
  for (let i = 0; i < y.length; i++) {
    if (!(p[i] < threshold)) continue;
    approved++;
    approvedBad += y[i];
    if (amounts) {
      const a = Number.isFinite(amounts[i]) ? amounts[i] : 0;
      expectedLoss += p[i] * a;
      if (y[i] === 1) badAmount += a;
    }
  }
  return {
    threshold,
    label,
    approvalRate: y.length > 0 ? approved / y.length : 0,
    badRateApproved: approved > 0 ? approvedBad / approved : null,
    badsDeclined: totalBad > 0 ? (totalBad - approvedBad) / totalBad : 0,
    ...(amounts ? { expectedLoss, badAmountApproved: badAmount } : {}),
  };
}

/** The KS chart's two curves: cumulative bad and good shares by share of rows, riskiest first. */
export function ksCurves(
  y: ArrayLike<number>,
  p: ArrayLike<number>,
  points = 200,
): { population: number[]; bads: number[]; goods: number[] } {
  const n = y.length;
  const { labels } = riskiestFirst(y, p);
  let totalBad = 0;
  for (let i = 0; i < n; i++) totalBad += labels[i];
  const totalGood = n - totalBad;
  const population = [0];
  const bads = [0];
  const goods = [0];
  let cum = 0;
  const step = Math.max(1, Math.floor(n / points));
  for (let k = 0; k < n; k++) {
    cum += labels[k];
    if ((k + 1) % step === 0 || k === n - 1) {
      population.push((k + 1) / n);
      bads.push(cum / (totalBad || 1));
      goods.push((k + 1 - cum) / (totalGood || 1));
    }
  }
  return { population, bads, goods };
}
