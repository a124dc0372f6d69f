import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { InputError } from '#lib/errors.ts';
import {
  ingestOutcomes,
  matchOutcomes,
  parseOutcomesCsv,
  readMatchedOutcomes,
} from '#lib/monitoring/outcomes.ts';
import { encodePredictionRecord, predictionLogFolder } from '#lib/monitoring/prediction-log-records.ts';
import type { PredictionRecord } from '#lib/ports/prediction-log.ts';

function record(
  customerId: string,
  time: string,
  probability: number,
  modelVersion = 'v1',
): PredictionRecord {
  return {
    requestId: `req-${customerId}-${time}`,
    customerId,
    modelVersion,
    snapshotId: 'snap',
    probability,
    prediction: probability >= 0.5 ? 1 : 0,
    threshold: 0.5,
    reasons: [],
    time,
  };
}

const bytes = (s: string) => new TextEncoder().encode(s);

describe('parseOutcomesCsv', () => {
  it('keeps well-formed rows and rejects the rest with a reason and the line', () => {
    const { rows, rejected, lines } = parseOutcomesCsv(
      [
        'id,decision_date,status',
        '5008827,2026-12-01,1',
        'abc,2026-12-01,0',
        '5008828,2026-02-30,0',
        '5008829,2026-12-01,2',
        '5008830,2026-12-01',
        '5008827,2026-12-01,0',
        '"5008831",2026-12-02,0',
        '',
      ].join('\r\n'),
    );
    expect(lines).toBe(7);
    expect(rows).toEqual([
      { line: 2, id: '5008827', decisionDate: '2026-12-01', status: 1 },
      { line: 8, id: '5008831', decisionDate: '2026-12-02', status: 0 },
    ]);
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([
      [3, 'id "abc" is not a customer id (1-20 digits)'],
      [4, 'decision_date "2026-02-30" is not a date YYYY-MM-DD'],
      [5, 'status "2" is not 0 or 1'],
      [6, '2 fields, the header has 3'],
      [7, 'a second outcome for id 5008827 on 2026-12-01 (first on line 2)'],
    ]);
  });

  it('columns in any order; a file without them or without rows is an InputError', () => {
    expect(parseOutcomesCsv('status,id,decision_date\n1,42,2026-12-01\n').rows).toEqual([
      { line: 2, id: '42', decisionDate: '2026-12-01', status: 1 },
    ]);
    expect(() => parseOutcomesCsv('id,date,status\n1,2026-12-01,1\n')).toThrow(
      expect.objectContaining({ code: 'BAD_OUTCOMES_HEADER' }),
    );
    expect(() => parseOutcomesCsv('id,decision_date,status\n')).toThrow(InputError);
    expect(() => parseOutcomesCsv('')).toThrow(expect.objectContaining({ code: 'EMPTY_OUTCOMES' }));
  });
});

describe('matchOutcomes', () => {
  it('takes the LAST prediction of that id on that UTC date; other dates and ids stay unmatched', () => {
    const log = [
      record('1', '2026-12-01T08:00:00.000Z', 0.2),
      record('1', '2026-12-01T23:59:59.999Z', 0.7, 'v2'),
      record('1', '2026-12-02T00:00:00.000Z', 0.9),
      record('2', '2026-12-01T12:00:00.000Z', 0.4),
    ];
    const { matched, unmatched } = matchOutcomes(
      [
        { line: 2, id: '1', decisionDate: '2026-12-01', status: 1 },
        { line: 3, id: '2', decisionDate: '2026-12-03', status: 0 },
        { line: 4, id: '3', decisionDate: '2026-12-01', status: 0 },
      ],
      log,
    );
    expect(matched).toEqual([
      expect.objectContaining({
        id: '1',
        status: 1,
        probability: 0.7,
        modelVersion: 'v2',
        time: '2026-12-01T23:59:59.999Z',
      }),
    ]);
    expect(unmatched.map((u) => [u.line, u.reason])).toEqual([
      [3, 'no prediction for this id on 2026-12-03 (served on 2026-12-01)'],
      [4, 'no prediction served for this id'],
    ]);
  });
});

describe('ingestOutcomes', () => {
  let dir: string;
  let store: FsObjectStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cr-outcomes-'));
    store = new FsObjectStore(dir);
    // Two writers' files for one day, as two serve workers leave them.
    await store.put(
      `${predictionLogFolder('2026-12-01')}101.jsonl`,
      encodePredictionRecord(record('1', '2026-12-01T08:00:00.000Z', 0.2)) +
        encodePredictionRecord(record('2', '2026-12-01T09:00:00.000Z', 0.8)),
    );
    await store.put(
      `${predictionLogFolder('2026-12-01')}102.jsonl`,
      encodePredictionRecord(record('1', '2026-12-01T10:00:00.000Z', 0.6)) + '{"cut by a cra',
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = 'id,decision_date,status\n1,2026-12-01,1\n2,2026-12-01,0\n3,2026-12-01,1\nx,2026-12-01,1\n';

  it('every row lands once: matched, unmatched or rejected, and the counts add up', async () => {
    const r = await ingestOutcomes(
      store,
      { bytes: bytes(file), source: 'a.csv' },
      new Date('2026-12-20T00:00:00Z'),
    );
    expect(r.ingested).toBe(true);
    expect(r.summary).toMatchObject({
      rows: 4,
      matched: 2,
      unmatched: 1,
      rejected: 1,
      byModelVersion: { v1: 2 },
    });
    expect(r.summary.predictionsRead).toBe(3);
    const { outcomes } = await readMatchedOutcomes(store);
    expect(outcomes.map((o) => [o.id, o.probability, o.status])).toEqual([
      ['1', 0.6, 1],
      ['2', 0.8, 0],
    ]);
    const unmatched = new TextDecoder().decode((await store.get(`${r.folder}unmatched.csv`))!);
    expect(unmatched).toBe(
      'line,id,decision_date,status,reason\n4,3,2026-12-01,1,no prediction served for this id\n',
    );
    const rejected = new TextDecoder().decode((await store.get(`${r.folder}rejected.csv`))!);
    expect(rejected).toContain('5,"id ""x"" is not a customer id (1-20 digits)",');
  });

  it('the same file again changes nothing: no object is written, the first summary is answered', async () => {
    const first = await ingestOutcomes(
      store,
      { bytes: bytes(file), source: 'a.csv' },
      new Date('2026-12-20T00:00:00Z'),
    );
    const before = await Promise.all(
      (await store.list('')).map(async (o) => [
        o.key,
        statSync(join(dir, o.key)).mtimeMs,
        await store.get(o.key),
      ]),
    );
    // Even with more predictions logged since: a file's ingest is fixed once done.
    const again = await ingestOutcomes(
      store,
      { bytes: bytes(file), source: 'renamed.csv' },
      new Date('2026-12-21T00:00:00Z'),
    );
    expect(again.ingested).toBe(false);
    expect(again.summary).toEqual(first.summary);
    const after = await Promise.all(
      (await store.list('')).map(async (o) => [
        o.key,
        statSync(join(dir, o.key)).mtimeMs,
        await store.get(o.key),
      ]),
    );
    expect(after).toEqual(before);
    expect((await readMatchedOutcomes(store)).outcomes).toHaveLength(2);
  });

  it('a later file with the same decision replaces that outcome, and only it', async () => {
    await ingestOutcomes(store, { bytes: bytes(file), source: 'a.csv' }, new Date('2026-12-20T00:00:00Z'));
    await ingestOutcomes(
      store,
      { bytes: bytes('id,decision_date,status\n2,2026-12-01,1\n'), source: 'b.csv' },
      new Date('2026-12-21T00:00:00Z'),
    );
    const { outcomes, ingests } = await readMatchedOutcomes(store);
    expect(ingests).toHaveLength(2);
    expect(outcomes.map((o) => [o.id, o.status]).sort()).toEqual([
      ['1', 1],
      ['2', 1],
    ]);
  });
});

describe('retention of the prediction log and its outcomes (credit-risk data retention)', () => {
  it('the files the writers and the ingest make fall under the prediction-log rule', async () => {
    const { planRetention } = await import('#lib/privacy/retention.ts');
    const { DEFAULT_RETENTION } = await import('#lib/privacy/personal-data.ts');
    const now = new Date('2028-01-01T00:00:00Z');
    const old = now.getTime() - (DEFAULT_RETENTION.predictionLogDays + 1) * 86_400_000;
    const paths = [
      `store/${predictionLogFolder('2026-12-01')}4242.jsonl`,
      'store/predictions-log/outcomes/ingest=ab/matched.jsonl',
      'store/predictions-log/outcomes/ingest=ab/summary.json',
    ];
    const plan = planRetention(
      paths.map((path) => ({ path, mtimeMs: old, size: 10 })),
      DEFAULT_RETENTION,
      { snapshots: new Map(), predictionRuns: new Map() },
      now,
    );
    expect(plan.expired.map((u) => [u.unit, u.store])).toEqual(
      [...paths].sort().map((p) => [p, 'prediction-log']),
    );
  });
});
