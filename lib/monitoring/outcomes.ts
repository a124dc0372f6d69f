import { createHash } from 'node:crypto';
import { InputError } from '#lib/errors.ts';
import { isIsoDate } from '#lib/features/calendar.ts';
import { ObjectExistsError, type ObjectStore } from '#lib/ports/object-store.ts';
import type { PredictionRecord } from '#lib/ports/prediction-log.ts';
import { isCustomerId } from '#lib/privacy/customer-id.ts';
import { PREDICTION_LOG_PREFIX } from '#lib/privacy/personal-data.ts';
import { decisionDate, readPredictionLog } from './prediction-log-records.ts';

/**
 * Loan outcomes joined back to the decisions they are the outcome of
 * (docs/adr/0171-outcomes-match-the-last-prediction-of-the-day.md,
 * docs/adr/0172-outcome-ingests-keyed-by-content.md).
 *
 * Input: a CSV with columns `id,decision_date,status` (decision_date the UTC date of the decision,
 * status 1 = defaulted). Each row is matched to the LAST prediction served for that id on that
 * date (the answer the lender acted on: an earlier one that day was superseded). Every row ends in
 * exactly one of three files, with counts that add up to the rows read:
 *   matched.jsonl  the outcome with the prediction it matched (what performance reads)
 *   unmatched.csv  a well-formed row with no prediction for that id and date, and why
 *   rejected.csv   a row that is not well-formed (line number, reason, original text)
 * under `predictions-log/outcomes/ingest=<sha256 of the file's bytes>/`, with summary.json written
 * last: a file whose summary exists was ingested, and ingesting it again changes nothing. The
 * rows hold customer ids, so they live under the prediction log's prefix: its retention rule and
 * its line-by-line erasure cover them (lib/privacy/personal-data.ts).
 */

export const OUTCOMES_PREFIX = `${PREDICTION_LOG_PREFIX}outcomes/`;
export const OUTCOME_COLUMNS = ['id', 'decision_date', 'status'] as const;

export interface OutcomeRow {
  /** 1-based line of the file (the header is line 1). */
  line: number;
  id: string;
  decisionDate: string;
  status: 0 | 1;
}

export interface RejectedRow {
  line: number;
  reason: string;
  text: string;
}

export interface MatchedOutcome {
  id: string;
  decisionDate: string;
  status: 0 | 1;
  modelVersion: string;
  snapshotId: string;
  probability: number;
  prediction: 0 | 1;
  threshold: number;
  requestId: string | null;
  /** The matched answer's time. */
  time: string;
}

export interface UnmatchedOutcome {
  line: number;
  id: string;
  decisionDate: string;
  status: 0 | 1;
  reason: string;
}

export interface IngestSummary {
  /** The name the file was given (a path or an S3 key): informative only. */
  source: string;
  sha256: string;
  ingestedAt: string;
  /** Data rows read (the header not counted) = matched + unmatched + rejected. */
  rows: number;
  matched: number;
  unmatched: number;
  rejected: number;
  /** Matched rows per model version. */
  byModelVersion: Record<string, number>;
  /** Predictions in the log when the file was matched. */
  predictionsRead: number;
}

export interface IngestResult {
  /** false: this very file was ingested before; `summary` is that ingest's. */
  ingested: boolean;
  folder: string;
  summary: IngestSummary;
  /** The first rows of each kind (for the terminal), empty when not ingested now. */
  unmatchedRows: UnmatchedOutcome[];
  rejectedRows: RejectedRow[];
}

function unquote(field: string): string {
  const t = field.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).trim() : t;
}

/**
 * The rows of an outcomes file, and the lines that are not rows (with why). A file without the
 * three columns in its header, or without a single data line, is an InputError: nothing of it is
 * usable. A repeated (id, decision_date) is rejected from its second line on: one outcome per
 * decision.
 */
export function parseOutcomesCsv(text: string): {
  rows: OutcomeRow[];
  rejected: RejectedRow[];
  lines: number;
} {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0)
    throw new InputError(
      'EMPTY_OUTCOMES',
      'the outcomes file is empty: expected a header id,decision_date,status',
    );
  const header = lines[0].split(',').map((h) => unquote(h).toLowerCase());
  const at = OUTCOME_COLUMNS.map((c) => header.indexOf(c));
  if (at.some((i) => i < 0))
    throw new InputError(
      'BAD_OUTCOMES_HEADER',
      `the outcomes file's header must name the columns ${OUTCOME_COLUMNS.join(',')}; got ${JSON.stringify(lines[0].slice(0, 200))}`,
    );
  if (lines.length === 1)
    throw new InputError('EMPTY_OUTCOMES', 'the outcomes file has a header and no rows');
  const rows: OutcomeRow[] = [];
  const rejected: RejectedRow[] = [];
  const seen = new Map<string, number>();
  let dataLines = 0;
  for (let i = 1; i < lines.length; i++) {
    const text = lines[i];
    const line = i + 1;
    if (text.trim() === '') continue;
    dataLines++;
    const reject = (reason: string) => rejected.push({ line, reason, text });
    const fields = text.split(',');
    if (fields.length !== header.length) {
      reject(`${fields.length} fields, the header has ${header.length}`);
      continue;
    }
    const [id, date, status] = at.map((k) => unquote(fields[k]));
    if (!isCustomerId(id)) reject(`id ${JSON.stringify(id)} is not a customer id (1-20 digits)`);
    else if (!isIsoDate(date)) reject(`decision_date ${JSON.stringify(date)} is not a date YYYY-MM-DD`);
    else if (status !== '0' && status !== '1') reject(`status ${JSON.stringify(status)} is not 0 or 1`);
    else {
      const key = `${id}|${date}`;
      const first = seen.get(key);
      if (first !== undefined) reject(`a second outcome for id ${id} on ${date} (first on line ${first})`);
      else {
        seen.set(key, line);
        rows.push({ line, id, decisionDate: date, status: status === '1' ? 1 : 0 });
      }
    }
  }
  return { rows, rejected, lines: dataLines };
}

/** Each row against the last prediction for its id on its date. */
export function matchOutcomes(
  rows: readonly OutcomeRow[],
  predictions: readonly PredictionRecord[],
): { matched: MatchedOutcome[]; unmatched: UnmatchedOutcome[] } {
  // Oldest first in, so the last one of a day stays (equal times: the later line, as read).
  const last = new Map<string, PredictionRecord>();
  const servedDates = new Map<string, string[]>();
  for (const p of predictions) {
    const date = decisionDate(p);
    last.set(`${p.customerId}|${date}`, p);
    const dates = servedDates.get(p.customerId) ?? [];
    if (!dates.includes(date)) dates.push(date);
    servedDates.set(p.customerId, dates);
  }
  const matched: MatchedOutcome[] = [];
  const unmatched: UnmatchedOutcome[] = [];
  for (const r of rows) {
    const p = last.get(`${r.id}|${r.decisionDate}`);
    if (p) {
      matched.push({
        id: r.id,
        decisionDate: r.decisionDate,
        status: r.status,
        modelVersion: p.modelVersion,
        snapshotId: p.snapshotId,
        probability: p.probability,
        prediction: p.prediction,
        threshold: p.threshold,
        requestId: p.requestId,
        time: p.time,
      });
    } else {
      const dates = servedDates.get(r.id);
      unmatched.push({
        ...r,
        reason: dates
          ? `no prediction for this id on ${r.decisionDate} (served on ${dates.slice(-3).join(', ')})`
          : 'no prediction served for this id',
      });
    }
  }
  return { matched, unmatched };
}

function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function ingestFolder(sha256: string): string {
  return `${OUTCOMES_PREFIX}ingest=${sha256}/`;
}

/**
 * Ingests one outcomes file into `store` (the features store): parses, matches against the whole
 * prediction log up to the newest decision date of the file, writes the three files and the
 * summary. The same bytes a second time: nothing is written, the first ingest's summary returned.
 */
export async function ingestOutcomes(
  store: ObjectStore,
  file: { bytes: Uint8Array; source: string },
  now: Date,
  progress: (line: string) => void = () => {},
): Promise<IngestResult> {
  const sha256 = createHash('sha256').update(file.bytes).digest('hex');
  const folder = ingestFolder(sha256);
  const summaryKey = `${folder}summary.json`;
  const previous = await store.get(summaryKey);
  if (previous) {
    return {
      ingested: false,
      folder,
      summary: JSON.parse(new TextDecoder().decode(previous)) as IngestSummary,
      unmatchedRows: [],
      rejectedRows: [],
    };
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(file.bytes);
  const { rows, rejected, lines } = parseOutcomesCsv(text);
  progress(`outcomes: ${lines} rows read, ${rejected.length} rejected; reading the prediction log`);
  let oldest: string | undefined;
  let newest: string | undefined;
  for (const r of rows) {
    if (oldest === undefined || r.decisionDate < oldest) oldest = r.decisionDate;
    if (newest === undefined || r.decisionDate > newest) newest = r.decisionDate;
  }
  // The folders are the UTC date the record was WRITTEN (Firehose: received); a record answered
  // just before midnight can sit in the next day's folder: read one day more, match on its time.
  const log =
    rows.length > 0 && newest !== undefined
      ? await readPredictionLog(store, { since: oldest, until: nextDate(newest) })
      : undefined;
  const { matched, unmatched } = matchOutcomes(rows, log?.records ?? []);
  progress(
    `outcomes: ${matched.length} matched, ${unmatched.length} unmatched (${log?.records.length ?? 0} predictions read)`,
  );
  const byModelVersion: Record<string, number> = {};
  for (const m of matched) byModelVersion[m.modelVersion] = (byModelVersion[m.modelVersion] ?? 0) + 1;
  await store.put(`${folder}matched.jsonl`, matched.map((m) => `${JSON.stringify(m)}\n`).join(''));
  await store.put(
    `${folder}unmatched.csv`,
    [
      'line,id,decision_date,status,reason',
      ...unmatched.map((u) => [u.line, u.id, u.decisionDate, u.status, csvField(u.reason)].join(',')),
    ]
      .join('\n')
      .concat('\n'),
  );
  await store.put(
    `${folder}rejected.csv`,
    ['line,reason,text', ...rejected.map((r) => [r.line, csvField(r.reason), csvField(r.text)].join(','))]
      .join('\n')
      .concat('\n'),
  );
  const summary: IngestSummary = {
    source: file.source,
    sha256,
    ingestedAt: now.toISOString(),
    rows: lines,
    matched: matched.length,
    unmatched: unmatched.length,
    rejected: rejected.length,
    byModelVersion,
    predictionsRead: log?.records.length ?? 0,
  };
  try {
    // Last, and only once: two ingests of one file racing write the same three files, one summary.
    await store.put(summaryKey, JSON.stringify(summary, null, 2), { ifAbsent: true });
  } catch (e) {
    if (!(e instanceof ObjectExistsError)) throw e;
    const first = await store.get(summaryKey);
    return {
      ingested: false,
      folder,
      summary: JSON.parse(new TextDecoder().decode(first!)) as IngestSummary,
      unmatchedRows: [],
      rejectedRows: [],
    };
  }
  return { ingested: true, folder, summary, unmatchedRows: unmatched, rejectedRows: rejected };
}

/**
 * Every matched outcome of every complete ingest (one with its summary), one per (id, decision
 * date): where two files carry the same decision, the later ingest's row stands.
 */
export async function readMatchedOutcomes(
  store: ObjectStore,
): Promise<{ outcomes: MatchedOutcome[]; ingests: IngestSummary[] }> {
  const ingests: IngestSummary[] = [];
  for (const o of await store.list(OUTCOMES_PREFIX)) {
    if (!o.key.endsWith('/summary.json')) continue;
    const bytes = await store.get(o.key);
    if (bytes) ingests.push(JSON.parse(new TextDecoder().decode(bytes)) as IngestSummary);
  }
  ingests.sort((a, b) =>
    a.ingestedAt < b.ingestedAt ? -1 : a.ingestedAt > b.ingestedAt ? 1 : a.sha256 < b.sha256 ? -1 : 1,
  );
  const byDecision = new Map<string, MatchedOutcome>();
  for (const ingest of ingests) {
    const bytes = await store.get(`${ingestFolder(ingest.sha256)}matched.jsonl`);
    if (!bytes) continue;
    for (const line of new TextDecoder().decode(bytes).split('\n')) {
      if (line.trim() === '') continue;
      const m = JSON.parse(line) as MatchedOutcome;
      byDecision.set(`${m.id}|${m.decisionDate}`, m);
    }
  }
  return { outcomes: [...byDecision.values()], ingests };
}
