import { InputError } from '#lib/errors.ts';
import { isIsoDate } from '#lib/features/calendar.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import type { PredictionRecord } from '#lib/ports/prediction-log.ts';
import { PREDICTION_LOG_PREFIX } from '#lib/privacy/personal-data.ts';

/**
 * The prediction log's one format and layout, for every writer and reader
 * (docs/adr/0170-prediction-log-json-lines-by-date.md): one JSON object per line, keys in a fixed
 * order, under `predictions-log/date=YYYY-MM-DD/` (the UTC date of the answer) in the features
 * store. Locally each serving process appends to its own `<pid>-<start>.jsonl`; in AWS Firehose
 * names the objects. Lines, not Parquet: an erasure rewrites a file line by line
 * (lib/privacy/erase.ts) and the same reader works on both runtimes.
 */

export const PREDICTION_LOG_DATE_PREFIX = `${PREDICTION_LOG_PREFIX}date=`;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function predictionLogFolder(date: string): string {
  return `${PREDICTION_LOG_DATE_PREFIX}${date}/`;
}

/** One line, `\n` included. */
export function encodePredictionRecord(r: PredictionRecord): string {
  return `${JSON.stringify({
    time: r.time,
    requestId: r.requestId,
    customerId: r.customerId,
    modelVersion: r.modelVersion,
    snapshotId: r.snapshotId,
    probability: r.probability,
    prediction: r.prediction,
    threshold: r.threshold,
    reasons: r.reasons,
  })}\n`;
}

/** A record, or why the line is not one. */
export function parsePredictionLine(line: string): PredictionRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  const str = (k: string) => typeof o[k] === 'string' && (o[k] as string) !== '';
  for (const k of ['time', 'customerId', 'modelVersion', 'snapshotId']) if (!str(k)) return `no ${k}`;
  if (Number.isNaN(Date.parse(o.time as string))) return 'time is not a date';
  if (typeof o.probability !== 'number' || !(o.probability >= 0 && o.probability <= 1))
    return 'probability is not in [0, 1]';
  if (o.prediction !== 0 && o.prediction !== 1) return 'prediction is not 0 or 1';
  if (typeof o.threshold !== 'number') return 'no threshold';
  const reasons = Array.isArray(o.reasons) ? o.reasons.filter((x): x is string => typeof x === 'string') : [];
  return {
    requestId: typeof o.requestId === 'string' ? o.requestId : null,
    customerId: o.customerId as string,
    modelVersion: o.modelVersion as string,
    snapshotId: o.snapshotId as string,
    probability: o.probability,
    prediction: o.prediction,
    threshold: o.threshold,
    reasons,
    time: o.time as string,
  };
}

/** The UTC date (YYYY-MM-DD) of a record's answer. */
export function decisionDate(r: Pick<PredictionRecord, 'time'>): string {
  // The served path writes Date#toISOString (UTC, `Z`): its first ten characters are the date.
  const t = r.time;
  if (t.length === 24 && t.charCodeAt(23) === 90 /* Z */ && t.charCodeAt(10) === 84 /* T */)
    return t.slice(0, 10);
  return new Date(t).toISOString().slice(0, 10);
}

export interface PredictionLogRead {
  /** Oldest first (by time; ties keep file order). */
  records: PredictionRecord[];
  files: number;
  /** Lines that are not records (a line cut by a crash, say): counted, never used. */
  badLines: Array<{ key: string; line: number; reason: string }>;
}

export function checkDate(flag: string, value: string): string {
  // A calendar date: Date.parse would roll 2023-02-30 over to March 2.
  if (!isIsoDate(value))
    throw new InputError('BAD_DATE', `${flag} must be a date YYYY-MM-DD, got ${JSON.stringify(value)}`);
  return value;
}

/** Every record answered on or after `since` (a UTC date) and up to `until` (inclusive). */
export async function readPredictionLog(
  store: ObjectStore,
  options: { since?: string; until?: string } = {},
): Promise<PredictionLogRead> {
  const out: PredictionLogRead = { records: [], files: 0, badLines: [] };
  const decoder = new TextDecoder();
  for (const o of await store.list(PREDICTION_LOG_DATE_PREFIX)) {
    const date = o.key.slice(PREDICTION_LOG_DATE_PREFIX.length, PREDICTION_LOG_DATE_PREFIX.length + 10);
    if (!DATE.test(date)) continue;
    if (options.since !== undefined && date < options.since) continue;
    if (options.until !== undefined && date > options.until) continue;
    const bytes = await store.get(o.key);
    if (bytes === undefined) continue; // deleted since the listing (retention, erasure)
    out.files++;
    const lines = decoder.decode(bytes).split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      const r = parsePredictionLine(lines[i]);
      if (typeof r === 'string') out.badLines.push({ key: o.key, line: i + 1, reason: r });
      else out.records.push(r);
    }
  }
  // Stable: equal times keep the order of the files and lines they came from.
  out.records.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  return out;
}
