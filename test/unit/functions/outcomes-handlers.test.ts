import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHandler as createIngest } from '#functions/ingest-outcomes/handler.ts';
import { createHandler as createPerformance } from '#functions/realized-performance/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { ingestOutcomes, readMatchedOutcomes } from '#lib/monitoring/outcomes.ts';
import { encodePredictionRecord, predictionLogFolder } from '#lib/monitoring/prediction-log-records.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { PredictionRecord } from '#lib/ports/prediction-log.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { captureJsonLines } from '../../support/stdout.ts';

/**
 * The two outcome functions over directory object stores (raw, features, models in their S3 key
 * layout). The EMF lines the performance function prints are what CloudWatch turns into metrics:
 * the RealizedAucGapAlarm's metric name and dimensions (infra/resources/outcomes.yml) are asserted
 * here against them.
 */
const context = { awsRequestId: 'r', functionName: 'f' } as unknown as Context;
let dir: string;
let raw: FsObjectStore;
let features: FsObjectStore;
let models: FsObjectStore;

function s3Event(key: string, bucket = 'credit-risk-test-raw') {
  const e = JSON.parse(readFileSync('events/start-pipeline.json', 'utf8'));
  e.detail.bucket.name = bucket;
  e.detail.object.key = key;
  return e;
}

function rec(id: string, p: number, version: string, time = '2026-12-01T10:00:00.000Z'): PredictionRecord {
  return {
    requestId: null,
    customerId: id,
    modelVersion: version,
    snapshotId: 's',
    probability: p,
    prediction: p >= 0.5 ? 1 : 0,
    threshold: 0.5,
    reasons: [],
    time,
  };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cr-outcome-fns-'));
  raw = new FsObjectStore(join(dir, 'raw'));
  features = new FsObjectStore(join(dir, 'features'));
  models = new FsObjectStore(join(dir, 'models'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ingest-outcomes', () => {
  it('ingests a drop under outcomes/, deletes it, and a repeated event changes nothing', async () => {
    await features.put(
      `${predictionLogFolder('2026-12-01')}a.jsonl`,
      encodePredictionRecord(rec('1', 0.9, 'v')) + encodePredictionRecord(rec('2', 0.1, 'v')),
    );
    await raw.put(
      'outcomes/batch-1.csv',
      'id,decision_date,status\n1,2026-12-01,1\n2,2026-12-01,0\n3,2026-12-01,0\n',
    );
    const ingest = createIngest({ rawStore: raw, featuresStore: features, clock: fixedClock('2026-12-20') });
    const { result } = await captureJsonLines(() => ingest(s3Event('outcomes/batch-1.csv'), context));
    expect(result.files).toEqual([
      {
        key: 'outcomes/batch-1.csv',
        status: 'ingested',
        summary: expect.objectContaining({
          rows: 3,
          matched: 2,
          unmatched: 1,
          rejected: 0,
          source: 's3://credit-risk-test-raw/outcomes/batch-1.csv',
        }),
      },
    ]);
    expect(await raw.get('outcomes/batch-1.csv')).toBeUndefined();
    expect((await readMatchedOutcomes(features)).outcomes).toHaveLength(2);
    const again = await captureJsonLines(() => ingest(s3Event('outcomes/batch-1.csv'), context));
    expect(again.result.files).toEqual([
      {
        key: 'outcomes/batch-1.csv',
        status: 'skipped',
        reason: 'gone: ingested and removed by an earlier delivery',
      },
    ]);
  });

  it('a file refused whole moves to outcomes-refused/ with its reason; nothing is lost', async () => {
    await raw.put('outcomes/wrong.csv', 'customer,when,label\n1,2026-12-01,1\n');
    const ingest = createIngest({ rawStore: raw, featuresStore: features, clock: fixedClock('2026-12-20') });
    const { result } = await captureJsonLines(() => ingest(s3Event('outcomes/wrong.csv'), context));
    expect(result.files).toEqual([
      expect.objectContaining({ status: 'refused', code: 'BAD_OUTCOMES_HEADER' }),
    ]);
    expect(new TextDecoder().decode(await raw.get('outcomes-refused/wrong.csv'))).toBe(
      'customer,when,label\n1,2026-12-01,1\n',
    );
    expect(new TextDecoder().decode(await raw.get('outcomes-refused/wrong.csv.reason.txt'))).toMatch(
      /^BAD_OUTCOMES_HEADER: /,
    );
    expect(await raw.get('outcomes/wrong.csv')).toBeUndefined();
  });

  it('an event that is not an S3 object event is a BAD_OUTCOMES_EVENT', async () => {
    const ingest = createIngest({ rawStore: raw, featuresStore: features, clock: fixedClock('2026-12-20') });
    await expect(captureJsonLines(() => ingest({ hello: 1 }, context))).rejects.toMatchObject({
      code: 'BAD_OUTCOMES_EVENT',
    });
  });
});

describe('realized-performance', () => {
  async function registerVersion(auc: number): Promise<string> {
    const registry = new ModelRegistry(models);
    const { version } = await registry.register({
      model: new TextEncoder().encode(`model ${auc}`),
      card: JSON.stringify({
        threshold: 0.5,
        features: ['x'],
        data: { snapshotId: 's' },
        metrics: { test: { auc } },
      }),
      report: '<p>r</p>',
    });
    return version;
  }

  it("emits realizedAuc and realizedAucGap per version, and the champion's on service alone (the alarm's metric)", async () => {
    const champion = await registerVersion(0.9);
    const retired = await registerVersion(0.8);
    await new ModelRegistry(models).promote(champion);
    // Champion: 3 of 4 pairs ordered right (AUC 0.75, gap 0.15). Retired: perfectly ordered (AUC 1).
    const log = [
      rec('1', 0.9, champion),
      rec('2', 0.2, champion),
      rec('3', 0.6, champion),
      rec('4', 0.5, champion),
      rec('5', 0.8, retired),
      rec('6', 0.1, retired),
    ];
    await features.put(
      `${predictionLogFolder('2026-12-01')}a.jsonl`,
      log.map(encodePredictionRecord).join(''),
    );
    await ingestOutcomes(
      features,
      {
        bytes: new TextEncoder().encode(
          'id,decision_date,status\n1,2026-12-01,1\n2,2026-12-01,0\n3,2026-12-01,0\n4,2026-12-01,1\n5,2026-12-01,1\n6,2026-12-01,0\n',
        ),
        source: 'x',
      },
      new Date('2026-12-20T00:00:00Z'),
    );
    const handler = createPerformance({ featuresStore: features, modelsStore: models });
    const { result, lines } = await captureJsonLines(() => handler({ trigger: 'schedule' }, context));
    expect(result.champion).toEqual({
      modelVersion: champion,
      realizedAuc: 0.75,
      realizedAucGap: expect.closeTo(0.15, 12),
    });
    const emf = lines.filter((l) => l._aws);
    const points = emf.flatMap((l) =>
      l._aws.CloudWatchMetrics.flatMap(
        (m: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }) =>
          m.Metrics.map((x) => ({
            namespace: m.Namespace,
            name: x.Name,
            dimensions: Object.fromEntries(m.Dimensions[0].map((d) => [d, l[d]])),
            value: l[x.Name],
          })),
      ),
    );
    expect(points).toEqual(
      expect.arrayContaining([
        {
          namespace: 'CreditRisk',
          name: 'realizedAuc',
          dimensions: { service: expect.any(String), modelVersion: champion },
          value: 0.75,
        },
        {
          namespace: 'CreditRisk',
          name: 'realizedAuc',
          dimensions: { service: expect.any(String), modelVersion: retired },
          value: 1,
        },
        {
          namespace: 'CreditRisk',
          name: 'realizedAucGap',
          dimensions: { service: expect.any(String), modelVersion: retired },
          value: expect.closeTo(-0.2, 12),
        },
      ]),
    );
    // The alarm's metric: realizedAucGap with the service dimension alone.
    const alarmed = points.filter(
      (p) => p.name === 'realizedAucGap' && Object.keys(p.dimensions).join() === 'service',
    );
    expect(alarmed).toEqual([
      {
        namespace: 'CreditRisk',
        name: 'realizedAucGap',
        dimensions: { service: expect.any(String) },
        value: expect.closeTo(0.15, 12),
      },
    ]);
  });

  it('no outcomes: no data point (the alarm treats missing data as not breaching)', async () => {
    const handler = createPerformance({ featuresStore: features, modelsStore: models });
    const { result, lines } = await captureJsonLines(() => handler({}, context));
    expect(result).toEqual({ perVersion: [], champion: null, versions: 0 });
    expect(
      lines.filter((l) => l._aws && (l.realizedAuc !== undefined || l.realizedAucGap !== undefined)),
    ).toEqual([]);
  });
});
