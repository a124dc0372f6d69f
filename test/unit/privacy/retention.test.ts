import { describe, expect, it } from '@jest/globals';
import { DEFAULT_RETENTION } from '#lib/privacy/personal-data.ts';
import {
  deletionOrder,
  parsePeriodOverride,
  planRetention,
  type HomeEntry,
  type Protections,
} from '#lib/privacy/retention.ts';

const now = new Date('2026-12-06T12:00:00Z');
const daysAgo = (d: number) => now.getTime() - d * 86_400_000 - 1000;
const file = (path: string, age: number, size = 100): HomeEntry => ({ path, mtimeMs: daysAgo(age), size });
const none: Protections = { snapshots: new Map(), predictionRuns: new Map() };

describe('the local retention plan', () => {
  it('each store has its period; a unit goes when its newest file is older than the period', () => {
    const plan = planRetention(
      [
        file('store/raw/old.csv', 731),
        file('store/raw/new.csv', 729),
        file('data/loans-4000-seed42.csv', 800),
        file('data/loans-4000-seed42.csv.json', 800),
        file('store/features/snapshot=aaa/part-00000.parquet', 500),
        file('store/features/snapshot=aaa/manifest.json', 401),
        file('store/features/snapshot=bbb/part-00000.parquet', 500),
        file('store/features/snapshot=bbb/manifest.json', 10), // newest file decides
        file('store/quarantine/snapshot=aaa/quarantine.csv', 91),
        file('store/staging/xyz/raw_valid.parquet', 8),
        file('store/predictions/m/v1/snapshot=aaa/part-00000.parquet', 91),
        file('store/predictions-log/2026/01/01.jsonl', 401),
        file('store/monitoring/drift/2025-01-01.json', 401),
        file('store/candidates/abc/test-set.json', 31),
        file('logs/predict.jsonl.3.gz', 31),
        file('logs/predict.jsonl', 0),
        file('metrics/predict.emf.jsonl', 31),
        file('tmp/spill-1.tmp', 2),
        // no personal rows: never listed as expired
        file('store/features/CURRENT', 900),
        file('store/features/audit/0000000001.json', 900),
        file('store/models/credit-risk/abc/card.json', 900),
        file('pglite/base/5/16411', 900),
        file('runs/x/run.json', 900),
      ],
      DEFAULT_RETENTION,
      none,
      now,
    );
    expect(plan.expired.map((u) => [u.unit, u.store])).toEqual([
      ['data/loans-4000-seed42.csv', 'generated-raw'],
      ['logs/predict.jsonl.3.gz', 'logs'],
      ['metrics/predict.emf.jsonl', 'logs'],
      ['store/candidates/abc/', 'candidates'],
      ['store/features/snapshot=aaa/', 'snapshot'],
      ['store/monitoring/drift/2025-01-01.json', 'monitoring'],
      ['store/predictions-log/2026/01/01.jsonl', 'prediction-log'],
      ['store/predictions/m/v1/snapshot=aaa/', 'predictions'],
      ['store/quarantine/snapshot=aaa/', 'quarantine'],
      ['store/raw/old.csv', 'raw'],
      ['store/staging/xyz/', 'staging'],
      ['tmp/spill-1.tmp', 'scratch'],
    ]);
    expect(plan.expired[0].files).toEqual(['data/loans-4000-seed42.csv', 'data/loans-4000-seed42.csv.json']);
    expect(plan.withinPeriod).toEqual({ units: 3, files: 4, bytes: 400 });
    expect(plan.notCovered.files).toBe(5);
  });

  it('never deletes what a pointer names, and says why', () => {
    const plan = planRetention(
      [
        file('store/features/snapshot=cur/manifest.json', 900),
        file('store/features/snapshot=champ/manifest.json', 900),
        file('store/features/snapshot=old/manifest.json', 900),
        file('store/predictions/m/v1/snapshot=cur/manifest.json', 900),
        file('store/predictions/m/v1/snapshot=old/manifest.json', 900),
      ],
      DEFAULT_RETENTION,
      {
        snapshots: new Map([
          ['cur', 'features/CURRENT names it'],
          ['champ', 'the champion abc of credit-risk was trained on it'],
        ]),
        predictionRuns: new Map([['predictions/m/v1/snapshot=cur/', 'predictions/m/CURRENT names it']]),
      },
      now,
    );
    expect(plan.expired.map((u) => u.unit)).toEqual([
      'store/features/snapshot=old/',
      'store/predictions/m/v1/snapshot=old/',
    ]);
    expect(plan.protected.map((u) => [u.unit, u.keptBecause])).toEqual([
      ['store/features/snapshot=champ/', 'the champion abc of credit-risk was trained on it'],
      ['store/features/snapshot=cur/', 'features/CURRENT names it'],
      ['store/predictions/m/v1/snapshot=cur/', 'predictions/m/CURRENT names it'],
    ]);
  });

  it('deletes a manifest before the rest of its folder', () => {
    const plan = planRetention(
      [
        file('store/features/snapshot=a/online.parquet', 900),
        file('store/features/snapshot=a/manifest.json', 900),
        file('store/features/snapshot=a/part-00000.parquet', 900),
      ],
      DEFAULT_RETENTION,
      none,
      now,
    );
    expect(deletionOrder(plan.expired[0])[0]).toBe('store/features/snapshot=a/manifest.json');
  });

  it('a period can be overridden by store name; anything else is a clear message', () => {
    expect(parsePeriodOverride('raw=30', DEFAULT_RETENTION)).toEqual({ ...DEFAULT_RETENTION, rawDays: 30 });
    expect(parsePeriodOverride('predictionLog=5', DEFAULT_RETENTION)).toMatchObject({ predictionLogDays: 5 });
    for (const bad of ['raw', 'raws=3', 'raw=-1', 'raw=x'])
      expect(parsePeriodOverride(bad, DEFAULT_RETENTION)).toEqual(expect.stringContaining('STORE=DAYS'));
  });
});
