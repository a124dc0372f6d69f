import { binaryMetrics } from './metrics.ts';
import { take } from './split.ts';
import { isoDay } from './table.ts';

/**
 * Staleness, measured (docs/adr/0147-retraining-cadence-from-staleness.md): a model trained on
 * data up to month T, scored on each later month on its own, AUC and calibration per month. The
 * trainer records it on every card for the months of its out-of-time test split (card.staleness);
 * `credit-risk staleness` measures a trained model on any later table (e.g. one with drift).
 */

export interface StalenessMonth {
  /** Calendar month, YYYY-MM. */
  month: string;
  /** Months after the month the model's training and validation data end in (0 = that month, 1 = the next). */
  monthsAfter: number;
  rows: number;
  positives: number;
  /** ROC AUC of the month's rows; null when the month holds a single class. */
  auc: number | null;
  /** Expected calibration error (10 equal-width bins, as the card's metrics). */
  ece: number;
  /** Mean predicted probability and observed positive rate: calibration in the large. */
  meanScore: number;
  positiveRate: number;
  logloss: number;
}

export interface StalenessRecord {
  timeColumn: string;
  /** The last day of the data the model saw (training and validation), YYYY-MM-DD. */
  trainedUntil: string;
  /** Which rows: the card's own out-of-time test split, or a table measured later. */
  scoredOn: string;
  months: StalenessMonth[];
  /**
   * Least-squares slopes over the months with rows >= minRows, weighted by rows: AUC and ECE
   * change per month further from the training data (null with fewer than two such months).
   */
  aucSlopePerMonth: number | null;
  eceSlopePerMonth: number | null;
  /** Months below this many rows are listed but left out of the slopes (their AUC is noise). */
  minRows: number;
}

/** Months under this many rows are left out of the slopes. */
export const STALENESS_MIN_MONTH_ROWS = 200;

/** YYYY-MM of a day number (days since 1970-01-01, as date columns are read). */
export function monthOf(day: number): string {
  return isoDay(day).slice(0, 7);
}

function monthIndex(month: string): number {
  const [y, m] = month.split('-').map(Number);
  return y * 12 + (m - 1);
}

/** Weighted least-squares slope of y over x; null with fewer than two distinct x. */
export function weightedSlope(points: readonly { x: number; y: number; w: number }[]): number | null {
  const used = points.filter((p) => Number.isFinite(p.y) && p.w > 0);
  if (new Set(used.map((p) => p.x)).size < 2) return null;
  let sw = 0;
  let sx = 0;
  let sy = 0;
  for (const p of used) {
    sw += p.w;
    sx += p.w * p.x;
    sy += p.w * p.y;
  }
  const mx = sx / sw;
  const my = sy / sw;
  let sxy = 0;
  let sxx = 0;
  for (const p of used) {
    sxy += p.w * (p.x - mx) * (p.y - my);
    sxx += p.w * (p.x - mx) ** 2;
  }
  return sxx === 0 ? null : sxy / sxx;
}

/**
 * Per calendar month of `days`: rows, AUC, ECE, mean score and positive rate of (y, p), in month
 * order, with monthsAfter counted from the month of trainedUntil.
 */
export function stalenessByMonth(input: {
  days: ArrayLike<number>;
  y: ArrayLike<number>;
  p: ArrayLike<number>;
  trainedUntil: string;
  timeColumn: string;
  scoredOn: string;
  minRows?: number;
}): StalenessRecord {
  const { days, y, p } = input;
  const byMonth = new Map<string, number[]>();
  // A table has a few hundred distinct days: each day's rows list is found once, not formatted
  // per row (1.5M test rows at 10M made that 0.7 s).
  const byDay = new Map<number, number[]>();
  for (let i = 0; i < days.length; i++) {
    if (!Number.isFinite(days[i])) continue;
    const day = Math.floor(days[i]);
    let rows = byDay.get(day);
    if (!rows) {
      const m = monthOf(day);
      rows = byMonth.get(m);
      if (!rows) byMonth.set(m, (rows = []));
      byDay.set(day, rows);
    }
    rows.push(i);
  }
  const origin = monthIndex(input.trainedUntil.slice(0, 7));
  const months: StalenessMonth[] = [...byMonth.keys()].sort().map((month) => {
    const rows = byMonth.get(month) as number[];
    const yy = take(y, rows);
    const pp = take(p, rows);
    const m = binaryMetrics(yy, pp, 0.5, { reuse: false });
    let sum = 0;
    for (const v of pp) sum += v;
    return {
      month,
      monthsAfter: monthIndex(month) - origin,
      rows: rows.length,
      positives: m.positives,
      auc: m.positives === 0 || m.positives === rows.length ? null : m.auc,
      ece: m.ece,
      meanScore: sum / rows.length,
      positiveRate: m.positives / rows.length,
      logloss: m.logloss,
    };
  });
  const minRows = input.minRows ?? STALENESS_MIN_MONTH_ROWS;
  const counted = months.filter((m) => m.rows >= minRows);
  return {
    timeColumn: input.timeColumn,
    trainedUntil: input.trainedUntil,
    scoredOn: input.scoredOn,
    months,
    aucSlopePerMonth: weightedSlope(
      counted.map((m) => ({ x: m.monthsAfter, y: m.auc ?? Number.NaN, w: m.rows })),
    ),
    eceSlopePerMonth: weightedSlope(counted.map((m) => ({ x: m.monthsAfter, y: m.ece, w: m.rows }))),
    minRows,
  };
}

/**
 * Months until the AUC is expected to have lost `tolerance` (from the slope), or null when it does
 * not decline. What the retraining cadence is read from (docs/adr/0147).
 */
export function monthsUntilAucLoss(record: StalenessRecord, tolerance = 0.01): number | null {
  const slope = record.aucSlopePerMonth;
  if (slope === null || slope >= 0) return null;
  return tolerance / -slope;
}
