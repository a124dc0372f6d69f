import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHandler, parseBatchScoreEvent } from '#functions/batch-score/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { CURRENT_KEY, snapshotKeys } from '#lib/features/publish.ts';
import {
  FEATURES_CURRENT_KEY,
  snapshotPrefix,
  type BatchModelSource,
  type BatchPlan,
  type ManifestResult,
  type ShardResult,
} from '#lib/serving/batch-shards.ts';

const context = {
  awsRequestId: 'req-1',
  functionName: 'batch-score',
  getRemainingTimeInMillis: () => 60000,
} as unknown as Context;
const V1 = 'a'.repeat(64);

/** A model source that pins V1 and records what it was asked; scoring is the integration test's job. */
function models(): BatchModelSource & { asked: Array<string | undefined> } {
  const asked: Array<string | undefined> = [];
  return {
    modelName: 'credit-risk',
    asked,
    async resolve(requested) {
      asked.push(requested);
      return V1;
    },
    async load() {
      throw new Error('not used in these tests');
    },
  };
}

async function storeWithSnapshot(): Promise<FsObjectStore> {
  const store = new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-batch-unit-')));
  await store.put(
    'features/CURRENT',
    JSON.stringify({
      snapshotId: 's2',
      publishedAt: '2025-01-01T00:00:00Z',
      manifestKey: 'features/snapshot=s2/manifest.json',
    }),
  );
  for (const id of ['s1', 's2']) {
    await store.put(`features/snapshot=${id}/manifest.json`, JSON.stringify({ snapshotId: id }));
    await store.put(`features/snapshot=${id}/part-00001.parquet`, 'PAR1-fake-b');
    await store.put(`features/snapshot=${id}/part-00000.parquet`, 'PAR1-fake-a');
  }
  // Not shards: the online table, a nested folder, a non-parquet file.
  await store.put('features/snapshot=s2/online.parquet', 'PAR1-online');
  await store.put('features/snapshot=s2/extra/part-00009.parquet', 'PAR1-nested');
  await store.put('features/snapshot=s2/part-00002.csv', 'a,b');
  return store;
}

function handlerFor(store: ObjectStore, source = models(), day = '2025-02-03') {
  return createHandler({
    featuresStore: store,
    models: source,
    clock: fixedClock(day),
    tmpDir: mkdtempSync(join(tmpdir(), 'cr-batch-tmp-')),
  });
}

function result(key: string, rows: number, positives: number, over: Partial<ShardResult> = {}): ShardResult {
  const file = key.slice(key.lastIndexOf('/') + 1);
  return {
    key,
    outputKey: `predictions/credit-risk/${V1}/snapshot=s2/${file}`,
    rows,
    positives,
    snapshotId: 's2',
    modelVersion: V1,
    reused: false,
    ...over,
  };
}

describe('batch-score event parsing', () => {
  it('names the unknown action', () => {
    expect(() => parseBatchScoreEvent({ action: 'score-everything' })).toThrow(/BAD_BATCH_EVENT|action/);
    try {
      parseBatchScoreEvent({ action: 'score-everything' });
    } catch (e) {
      expect((e as { code: string }).code).toBe('BAD_BATCH_EVENT');
    }
  });

  it('refuses a score-shard without the pinned model version', () => {
    expect(() =>
      parseBatchScoreEvent({ action: 'score-shard', shard: { key: 'features/snapshot=s/part-0.parquet' } }),
    ).toThrow(/plan: give plan.modelVersion/);
  });

  it('refuses a snapshot id that could escape its folder', () => {
    expect(() =>
      parseBatchScoreEvent({ action: 'list-shards', request: { snapshotId: '../models' } }),
    ).toThrow(/request.snapshotId/);
  });
});

describe('list-shards', () => {
  it('reads the offline store layout that features publish writes', () => {
    expect(FEATURES_CURRENT_KEY).toBe(CURRENT_KEY);
    const keys = snapshotKeys('s9');
    expect(keys.part.startsWith(snapshotPrefix('s9'))).toBe(true);
    expect(keys.part.slice(snapshotPrefix('s9').length)).toMatch(/^part-[0-9]+\.parquet$/);
    expect(keys.manifest).toBe(`${snapshotPrefix('s9')}manifest.json`);
  });

  it('plans the part files of the CURRENT snapshot, nothing else, with one pinned model version', async () => {
    const store = await storeWithSnapshot();
    const source = models();
    const plan = (await handlerFor(store, source)(
      { action: 'list-shards', request: {}, runId: 'run-1' },
      context,
    )) as BatchPlan;
    expect(plan).toEqual({
      snapshotId: 's2',
      modelName: 'credit-risk',
      modelVersion: V1,
      outputPrefix: `predictions/credit-risk/${V1}/snapshot=s2/`,
      shards: [
        { key: 'features/snapshot=s2/part-00000.parquet', size: 11 },
        { key: 'features/snapshot=s2/part-00001.parquet', size: 11 },
      ],
      explain: false,
    });
    expect(source.asked).toEqual([undefined]);
  });

  it('takes the snapshot and model version from the execution input (the ASL passes it as request)', async () => {
    const store = await storeWithSnapshot();
    const source = models();
    const plan = (await handlerFor(store, source)(
      { action: 'list-shards', request: { snapshotId: 's1', modelVersion: 'canary', explain: true } },
      context,
    )) as BatchPlan;
    expect(plan.snapshotId).toBe('s1');
    expect(plan.explain).toBe(true);
    expect(plan.shards.map((s) => s.key)).toEqual([
      'features/snapshot=s1/part-00000.parquet',
      'features/snapshot=s1/part-00001.parquet',
    ]);
    expect(source.asked).toEqual(['canary']);
  });

  it('refuses an explain that is not a boolean, before reading anything', async () => {
    const store = await storeWithSnapshot();
    await expect(
      handlerFor(store)({ action: 'list-shards', request: { explain: 'yes' } }, context),
    ).rejects.toMatchObject({ code: 'BAD_BATCH_EVENT', message: expect.stringContaining('explain') });
  });

  it('says to publish first when there is no CURRENT pointer', async () => {
    const store = new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-batch-empty-')));
    await expect(handlerFor(store)({ action: 'list-shards' }, context)).rejects.toMatchObject({
      code: 'NO_CURRENT_SNAPSHOT',
    });
  });

  it('refuses a snapshot folder without manifest.json (an unfinished publish)', async () => {
    const store = await storeWithSnapshot();
    await store.put('features/snapshot=s3/part-00000.parquet', 'PAR1');
    await expect(
      handlerFor(store)({ action: 'list-shards', snapshotId: 's3' }, context),
    ).rejects.toMatchObject({
      code: 'SNAPSHOT_INCOMPLETE',
      message: expect.stringContaining('snapshot=s3'),
    });
  });

  it('refuses a snapshot with no part file to score', async () => {
    const store = await storeWithSnapshot();
    await store.put('features/snapshot=s4/manifest.json', '{}');
    await store.put('features/snapshot=s4/online.parquet', 'PAR1');
    await expect(
      handlerFor(store)({ action: 'list-shards', snapshotId: 's4' }, context),
    ).rejects.toMatchObject({ code: 'NO_SHARDS' });
  });
});

describe('score-shard', () => {
  it('refuses a key outside features/snapshot=<id>/part-*.parquet before touching the store', async () => {
    const store = await storeWithSnapshot();
    await expect(
      handlerFor(store)(
        { action: 'score-shard', key: 'models/credit-risk/aliases.json', modelVersion: V1 },
        context,
      ),
    ).rejects.toMatchObject({ code: 'BAD_SHARD_KEY' });
  });
});

describe('write-manifest', () => {
  const plan = {
    snapshotId: 's2',
    modelName: 'credit-risk',
    modelVersion: V1,
    outputPrefix: `predictions/credit-risk/${V1}/snapshot=s2/`,
    shards: [
      { key: 'features/snapshot=s2/part-00000.parquet' },
      { key: 'features/snapshot=s2/part-00001.parquet' },
    ],
  };

  async function withOutputs(results: ShardResult[]) {
    const store = await storeWithSnapshot();
    for (const r of results) await store.put(r.outputKey, 'PAR1-predictions');
    return store;
  }

  it('writes the manifest with the totals, then swaps predictions/<model>/CURRENT to it', async () => {
    const results = [
      result('features/snapshot=s2/part-00001.parquet', 40, 3),
      result('features/snapshot=s2/part-00000.parquet', 60, 5),
    ];
    const store = await withOutputs(results);
    const answer = (await handlerFor(store)(
      { action: 'write-manifest', plan, shards: results, runId: 'run-1' },
      context,
    )) as ManifestResult;
    const manifestKey = `predictions/credit-risk/${V1}/snapshot=s2/manifest.json`;
    expect(answer).toEqual({
      manifestKey,
      currentKey: 'predictions/credit-risk/CURRENT',
      snapshotId: 's2',
      modelVersion: V1,
      shards: 2,
      rows: 100,
      positives: 8,
      createdAt: '2025-02-03T12:00:00.000Z',
    });
    const manifest = JSON.parse(readFileSync(store.describe(manifestKey), 'utf8'));
    expect(manifest).toMatchObject({
      snapshotId: 's2',
      modelVersion: V1,
      runId: 'run-1',
      rows: 100,
      positives: 8,
      createdAt: '2025-02-03T12:00:00.000Z',
    });
    expect(manifest.shards.map((s: { key: string }) => s.key)).toEqual([
      'features/snapshot=s2/part-00000.parquet',
      'features/snapshot=s2/part-00001.parquet',
    ]);
    expect(JSON.parse(readFileSync(store.describe('predictions/credit-risk/CURRENT'), 'utf8'))).toMatchObject(
      { manifestKey, snapshotId: 's2' },
    );
  });

  const manifestKey = `predictions/credit-risk/${V1}/snapshot=s2/manifest.json`;
  const twoShards = () => [
    result('features/snapshot=s2/part-00000.parquet', 60, 5),
    result('features/snapshot=s2/part-00001.parquet', 40, 3),
  ];
  const readJson = (store: FsObjectStore, key: string) =>
    JSON.parse(readFileSync(store.describe(key), 'utf8')) as Record<string, unknown>;

  it("a later run of the same snapshot and version keeps the first run's createdAt and runId, and records itself as rescoredAt", async () => {
    const results = twoShards();
    const store = await withOutputs(results);
    await handlerFor(store)({ action: 'write-manifest', plan, shards: results, runId: 'run-1' }, context);
    const again = (await handlerFor(
      store,
      models(),
      '2025-02-10',
    )(
      {
        action: 'write-manifest',
        plan,
        shards: results.map((r) => ({ ...r, reused: true })),
        runId: 'run-2',
      },
      context,
    )) as ManifestResult;
    expect(again).toMatchObject({
      manifestKey,
      createdAt: '2025-02-03T12:00:00.000Z',
      rescoredAt: '2025-02-10T12:00:00.000Z',
      rows: 100,
      positives: 8,
    });
    expect(again.warnings).toBeUndefined();
    expect(readJson(store, manifestKey)).toMatchObject({
      runId: 'run-1',
      createdAt: '2025-02-03T12:00:00.000Z',
      rescoredAt: '2025-02-10T12:00:00.000Z',
      rescoredRunId: 'run-2',
      rows: 100,
    });
    expect(readJson(store, 'predictions/credit-risk/CURRENT')).toEqual({
      manifestKey,
      snapshotId: 's2',
      modelVersion: V1,
      createdAt: '2025-02-03T12:00:00.000Z',
      rescoredAt: '2025-02-10T12:00:00.000Z',
    });
    // A third run moves rescoredAt, never createdAt.
    await handlerFor(
      store,
      models(),
      '2025-03-01',
    )({ action: 'write-manifest', plan, shards: results, runId: 'run-3' }, context);
    expect(readJson(store, manifestKey)).toMatchObject({
      runId: 'run-1',
      createdAt: '2025-02-03T12:00:00.000Z',
      rescoredAt: '2025-03-01T12:00:00.000Z',
      rescoredRunId: 'run-3',
    });
  });

  it("a retried write of the same run (same runId, later clock) is not a re-run: nothing in the manifest's history changes", async () => {
    const results = twoShards();
    const store = await withOutputs(results);
    await handlerFor(store)({ action: 'write-manifest', plan, shards: results, runId: 'run-1' }, context);
    const before = readFileSync(store.describe(manifestKey), 'utf8');
    const retried = (await handlerFor(
      store,
      models(),
      '2025-02-04',
    )({ action: 'write-manifest', plan, shards: results, runId: 'run-1' }, context)) as ManifestResult;
    expect(retried.createdAt).toBe('2025-02-03T12:00:00.000Z');
    expect(retried).not.toHaveProperty('rescoredAt');
    expect(readFileSync(store.describe(manifestKey), 'utf8')).toBe(before);
  });

  it('a re-run whose totals differ keeps createdAt and says what changed in a warning', async () => {
    const results = twoShards();
    const store = await withOutputs(results);
    await handlerFor(store)({ action: 'write-manifest', plan, shards: results, runId: 'run-1' }, context);
    const changed = [results[0], { ...results[1], rows: 41, positives: 4 }];
    const again = (await handlerFor(
      store,
      models(),
      '2025-02-10',
    )({ action: 'write-manifest', plan, shards: changed, runId: 'run-2' }, context)) as ManifestResult;
    expect(again).toMatchObject({
      createdAt: '2025-02-03T12:00:00.000Z',
      rescoredAt: '2025-02-10T12:00:00.000Z',
      rows: 101,
      positives: 9,
    });
    expect(again.warnings).toEqual([
      expect.stringMatching(/outputs differ .*rows 100 -> 101, positives 8 -> 9.*createdAt is kept/),
    ]);
    expect(readJson(store, manifestKey)).toMatchObject({
      createdAt: '2025-02-03T12:00:00.000Z',
      rows: 101,
      positives: 9,
    });
  });

  it.each([
    ['that is not JSON', '{"snapshotId": "s2", "createdAt": "2025-01-0', /is not JSON/],
    ['that is a JSON array', '[]', /is not a JSON object/],
    [
      'without createdAt',
      JSON.stringify({ snapshotId: 's2', modelVersion: V1, runId: 'old', rows: 1 }),
      /has no valid createdAt/,
    ],
    [
      'whose createdAt is not a time',
      JSON.stringify({ snapshotId: 's2', modelVersion: V1, createdAt: 'yesterday' }),
      /has no valid createdAt/,
    ],
    [
      'of another model version',
      JSON.stringify({
        snapshotId: 's2',
        modelVersion: 'b'.repeat(64),
        createdAt: '2025-01-01T00:00:00.000Z',
      }),
      /names snapshot s2 with version b{64}/,
    ],
  ])(
    'an earlier manifest %s does not stop the batch: the run is written as new, with a warning',
    async (_what, bytes, why) => {
      const results = twoShards();
      const store = await withOutputs(results);
      await store.put(manifestKey, bytes);
      const answer = (await handlerFor(
        store,
        models(),
        '2025-02-10',
      )({ action: 'write-manifest', plan, shards: results, runId: 'run-2' }, context)) as ManifestResult;
      expect(answer).toMatchObject({ createdAt: '2025-02-10T12:00:00.000Z', rows: 100 });
      expect(answer).not.toHaveProperty('rescoredAt');
      expect(answer.warnings).toEqual([expect.stringMatching(why)]);
      expect(answer.warnings?.[0]).toContain('written as a new run');
      const manifest = readJson(store, manifestKey);
      expect(manifest).toMatchObject({
        snapshotId: 's2',
        modelVersion: V1,
        runId: 'run-2',
        createdAt: '2025-02-10T12:00:00.000Z',
        rows: 100,
      });
      expect(manifest).not.toHaveProperty('rescoredAt');
      expect(readJson(store, 'predictions/credit-risk/CURRENT')).toMatchObject({
        manifestKey,
        createdAt: '2025-02-10T12:00:00.000Z',
      });
    },
  );

  it('a store that fails to read the earlier manifest fails the step (retried) instead of writing a new history', async () => {
    const results = twoShards();
    const store = await withOutputs(results);
    await handlerFor(store)({ action: 'write-manifest', plan, shards: results, runId: 'run-1' }, context);
    const before = readFileSync(store.describe(manifestKey), 'utf8');
    const failing: ObjectStore = Object.assign(Object.create(store) as FsObjectStore, {
      async get(key: string) {
        if (key === manifestKey) throw new Error('SlowDown: read failed');
        return store.get(key);
      },
    });
    await expect(
      handlerFor(
        failing,
        models(),
        '2025-02-10',
      )({ action: 'write-manifest', plan, shards: results, runId: 'run-2' }, context),
    ).rejects.toThrow(/read failed/);
    expect(readFileSync(store.describe(manifestKey), 'utf8')).toBe(before);
  });

  it('writes nothing when a planned shard has no result', async () => {
    const results = [result('features/snapshot=s2/part-00000.parquet', 60, 5)];
    const store = await withOutputs(results);
    await expect(
      handlerFor(store)({ action: 'write-manifest', plan, shards: results }, context),
    ).rejects.toMatchObject({
      code: 'MISSING_SHARDS',
      message: expect.stringContaining('part-00001'),
    });
    expect(await store.head('predictions/credit-risk/CURRENT')).toBeUndefined();
  });

  it('refuses a result whose predictions file is not in the store', async () => {
    const results = [
      result('features/snapshot=s2/part-00000.parquet', 60, 5),
      result('features/snapshot=s2/part-00001.parquet', 40, 3),
    ];
    const store = await withOutputs(results.slice(0, 1));
    await expect(
      handlerFor(store)({ action: 'write-manifest', plan, shards: results }, context),
    ).rejects.toMatchObject({ code: 'MISSING_OUTPUT' });
  });

  it('refuses results scored with two model versions', async () => {
    const results = [
      result('features/snapshot=s2/part-00000.parquet', 60, 5),
      result('features/snapshot=s2/part-00001.parquet', 40, 3, { modelVersion: 'b'.repeat(64) }),
    ];
    const store = await withOutputs(results);
    await expect(handlerFor(store)({ action: 'write-manifest', results }, context)).rejects.toMatchObject({
      code: 'MIXED_RESULTS',
    });
  });
});

describe('the AWS entry point', () => {
  it("reads features/CURRENT from FEATURES_BUCKET under the key prefix (the AWS root's S3 store)", async () => {
    const { mockClient } = await import('aws-sdk-client-mock');
    const { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } =
      await import('@aws-sdk/client-s3');
    const s3 = mockClient(S3Client);
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'no such key', $metadata: {} }));
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    const saved = { ...process.env };
    Object.assign(process.env, {
      FEATURES_BUCKET: 'cr-dev-features',
      MODELS_BUCKET: 'cr-dev-models',
      OBJECT_KEY_PREFIX: 'test-ns/',
    });
    try {
      const { handler } = await import('#functions/batch-score/handler.ts');
      await expect(handler({ action: 'list-shards', request: {} }, context)).rejects.toMatchObject({
        code: 'NO_CURRENT_SNAPSHOT',
        message: expect.stringContaining('s3://cr-dev-features/test-ns/features/CURRENT'),
      });
      expect(s3.commandCalls(GetObjectCommand)[0].args[0].input).toEqual({
        Bucket: 'cr-dev-features',
        Key: 'test-ns/features/CURRENT',
      });
    } finally {
      process.env = saved;
      s3.restore();
    }
  });
});
