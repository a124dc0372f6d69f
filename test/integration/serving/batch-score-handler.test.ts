/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Context } from 'aws-lambda';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHandler, type BatchScoreDeps } from '#functions/batch-score/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { loadExplainer } from '#lib/model/explainer-artifact.ts';
import { predictProbability } from '#lib/model/gbdt/booster.ts';
import { trainModel, writeModelDirectory, type TrainedModel } from '#lib/model/train.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { directoryModelSource, registryModelSource } from '#lib/serving/batch-model-source.ts';
import type { BatchPlan, ManifestResult, ShardResult } from '#lib/serving/batch-shards.ts';
import type { AslDefinition } from '#local/sfn/definition.ts';
import { readAsl, substitute } from '#local/sfn/definition.ts';
import { runLocally } from '#local/sfn/runner.ts';

/**
 * The batch-score function for real: Parquet shards in a local object store (the offline store's
 * layout), a model trained by the project's trainer and exported to ONNX, registered and promoted,
 * DuckDB and onnxruntime-node scoring, and the batch-scoring state machine executed by the local
 * runner calling this handler for each Task.
 */
const SNAPSHOT = '2024-05-01-3fa9c2e1b7d0'; // the id the sample events use
const ROWS = 3000;
const FEATURES = [
  'nb_previous_loans',
  'avg_amount_loans_previous',
  'age',
  'years_on_the_job',
  'flag_own_car',
];
const context = {
  awsRequestId: 'req-batch',
  functionName: 'batch-score',
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;
const sampleEvent = (name: string) =>
  JSON.parse(readFileSync(`events/batch-score-${name}.json`, 'utf8')) as Record<string, unknown>;

const work = mkdtempSync(join(tmpdir(), 'cr-batch-score-'));
let trained: TrainedModel;
let modelDir: string;
let version: string;
const sources: Array<{ release(): Promise<void> }> = [];

async function sql(statements: string[]): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  let rows: Record<string, unknown>[] = [];
  try {
    for (const s of statements)
      rows = (await c.runAndReadAll(s)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
  return rows;
}

/** A features table like features build writes (ids, date, label, features), label tied to the features. */
async function writeFeatureTable(file: string): Promise<void> {
  await sql([
    `COPY (
       SELECT i AS loan_id, CAST(5008804 + i % 700 AS VARCHAR) AS id, DATE '2021-01-01' + (i // 3)::INTEGER AS loan_date,
              CASE WHEN (i % 10 >= 6 AND hash(i) % 100 < 55) OR hash(i * 7) % 100 < 6 THEN 1 ELSE 0 END AS status,
              i % 10 AS nb_previous_loans,
              CASE WHEN i % 10 = 0 THEN NULL ELSE 80.0 + (i * 37) % 90 END AS avg_amount_loans_previous,
              20 + (i * 13) % 50 AS age,
              CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 11) % 25 END AS years_on_the_job,
              (i % 3 = 0)::INTEGER AS flag_own_car
       FROM range(${ROWS}) t(i)
     ) TO '${file}' (FORMAT parquet)`,
  ]);
}

/** Publishes the table as a two-shard snapshot (what features publish leaves), plus a CURRENT pointer. */
async function publishShards(store: FsObjectStore, table: string): Promise<void> {
  const dir = mkdtempSync(join(work, 'shards-'));
  await sql([
    `COPY (SELECT * FROM '${table}' WHERE loan_id < 1800 ORDER BY loan_id) TO '${dir}/part-00000.parquet' (FORMAT parquet)`,
    `COPY (SELECT * FROM '${table}' WHERE loan_id >= 1800 ORDER BY loan_id) TO '${dir}/part-00001.parquet' (FORMAT parquet)`,
  ]);
  for (const part of ['part-00000.parquet', 'part-00001.parquet'])
    await store.upload(join(dir, part), `features/snapshot=${SNAPSHOT}/${part}`);
  await store.put(`features/snapshot=${SNAPSHOT}/online.parquet`, 'not a shard');
  await store.put(`features/snapshot=${SNAPSHOT}/manifest.json`, JSON.stringify({ snapshotId: SNAPSHOT }));
  await store.put(
    'features/CURRENT',
    JSON.stringify({
      snapshotId: SNAPSHOT,
      publishedAt: '2024-05-01T03:00:00Z',
      manifestKey: `features/snapshot=${SNAPSHOT}/manifest.json`,
    }),
  );
}

async function freshStore(): Promise<{ store: FsObjectStore; registry: ModelRegistry }> {
  const store = new FsObjectStore(mkdtempSync(join(work, 'store-')));
  await publishShards(store, join(work, 'features.parquet'));
  const registry = new ModelRegistry(store, { name: 'credit-risk' });
  await registry.register({
    model: trained.modelBytes,
    card: readFileSync(join(modelDir, 'card.json')),
    report: readFileSync(join(modelDir, 'report.html')),
    explainer: trained.explainerBytes,
  });
  await registry.promote(version, { why: 'test champion' });
  return { store, registry };
}

function depsFor(store: FsObjectStore, registry: ModelRegistry): BatchScoreDeps {
  const models = registryModelSource(store, registry);
  sources.push(models);
  return {
    featuresStore: store,
    models,
    clock: fixedClock('2024-05-02'),
    tmpDir: mkdtempSync(join(work, 'tmp-')),
  };
}

/** The trainer's own float64 probabilities for every row of the table, by loan_id. */
async function expectedProbabilities(): Promise<{ byLoan: Map<number, number>; threshold: number }> {
  const names = trained.featureNames;
  const rows = await sql([
    `SELECT loan_id, ${names.map((n) => `CAST(${n} AS DOUBLE) AS ${n}`).join(', ')} FROM '${join(work, 'features.parquet')}' ORDER BY loan_id`,
  ]);
  const matrix = new Float32Array(rows.length * names.length);
  rows.forEach((r, i) =>
    names.forEach((n, j) => (matrix[i * names.length + j] = r[n] === null ? Number.NaN : Number(r[n]))),
  );
  const p = predictProbability(trained.model, matrix, rows.length);
  return {
    byLoan: new Map(rows.map((r, i) => [Number(r.loan_id), p[i]])),
    threshold: trained.card.threshold,
  };
}

beforeAll(async () => {
  const table = join(work, 'features.parquet');
  await writeFeatureTable(table);
  trained = await trainModel({
    input: table,
    target: 'status',
    timeColumn: 'loan_date',
    ignore: ['loan_id', 'id'],
    seed: 3,
    params: { numTrees: 25, numLeaves: 8, minDataInLeaf: 10, earlyStoppingRounds: 0, numThreads: 1 },
  });
  modelDir = join(work, 'model');
  await writeModelDirectory(modelDir, trained);
  version = trained.version;
}, 120_000);

afterAll(async () => {
  for (const s of sources) await s.release();
});

describe('batch-score handler with local adapters, a trained ONNX model and real Parquet', () => {
  it('the trained model takes the feature columns the shards carry', () => {
    expect([...trained.featureNames].sort()).toEqual([...FEATURES].sort());
  });

  it("runs the batch-scoring state machine end to end: every row scored once, with the trainer's probabilities and the API threshold rule", async () => {
    const { store, registry } = await freshStore();
    const handler = createHandler(depsFor(store, registry));
    const definition = JSON.parse(
      substitute(readAsl('batch-scoring'), {
        BatchScoreFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:credit-risk-dev-batch-score',
        NotificationTopicArn: 'arn:aws:sns:eu-west-1:123456789012:credit-risk-dev-notifications',
      }),
    ) as AslDefinition;
    const published: string[] = [];
    const invoked: string[] = [];
    const run = await runLocally({
      definition,
      input: {},
      executionName: 'nightly-test',
      stateMachineName: 'batch-scoring',
      services: {
        async lambda(name, payload) {
          invoked.push(`${name}:${(payload as { action: string }).action}`);
          return handler(payload, context);
        },
        glueJob: async () => {
          throw new Error('no Glue in batch scoring');
        },
        codeBuild: async () => {
          throw new Error('no CodeBuild in batch scoring');
        },
        async publish(_topic, subject, message) {
          published.push(`${subject}: ${message}`);
          return `m-${published.length}`;
        },
      },
    });
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    expect(invoked.sort()).toEqual([
      'credit-risk-dev-batch-score:list-shards',
      'credit-risk-dev-batch-score:score-shard',
      'credit-risk-dev-batch-score:score-shard',
      'credit-risk-dev-batch-score:write-manifest',
    ]);
    const manifestKey = `predictions/credit-risk/${version}/snapshot=${SNAPSHOT}/manifest.json`;
    expect(run.output).toMatchObject({
      status: 'scored',
      manifest: { manifestKey, rows: ROWS, shards: 2, modelVersion: version, snapshotId: SNAPSHOT },
    });
    expect(published).toEqual([expect.stringContaining(manifestKey)]);

    const manifest = JSON.parse(readFileSync(store.describe(manifestKey), 'utf8'));
    expect(manifest.runId).toBe('nightly-test');
    expect(manifest.shards.map((s: { rows: number }) => s.rows)).toEqual([1800, 1200]);
    expect(
      JSON.parse(readFileSync(store.describe('predictions/credit-risk/CURRENT'), 'utf8')).manifestKey,
    ).toBe(manifestKey);

    const prefix = store.describe(`predictions/credit-risk/${version}/snapshot=${SNAPSHOT}/`.slice(0, -1));
    const rows = await sql([
      `SELECT * FROM read_parquet('${prefix}/part-*.parquet', hive_partitioning = false) ORDER BY loan_id`,
    ]);
    expect(rows).toHaveLength(ROWS);
    expect(Object.keys(rows[0]).sort()).toEqual(
      ['id', 'loan_date', 'loan_id', 'model_version', 'prediction', 'probability', 'status'].sort(),
    );
    const { byLoan, threshold } = await expectedProbabilities();
    let positives = 0;
    let worst = 0;
    rows.forEach((r, i) => {
      expect(Number(r.loan_id)).toBe(i);
      const expected = byLoan.get(i) as number;
      worst = Math.max(worst, Math.abs((r.probability as number) - expected));
      expect(r.prediction).toBe((r.probability as number) >= threshold ? 1 : 0);
      expect(r.model_version).toBe(version);
      positives += r.prediction as number;
    });
    // float32 ONNX against the trainer's float64 trees: equal to float32 precision.
    expect(worst).toBeLessThan(1e-5);
    expect(manifest.positives).toBe(positives);
    // The model learned the relation (not a constant): some rows on each side of the threshold.
    expect(positives).toBeGreaterThan(0);
    expect(positives).toBeLessThan(ROWS);
  });

  it('with {"explain": true} in the execution input, every output row carries its reasons and contributions', async () => {
    const { store, registry } = await freshStore();
    const handler = createHandler(depsFor(store, registry));
    const definition = JSON.parse(
      substitute(readAsl('batch-scoring'), {
        BatchScoreFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:credit-risk-dev-batch-score',
        NotificationTopicArn: 'arn:aws:sns:eu-west-1:123456789012:credit-risk-dev-notifications',
      }),
    ) as AslDefinition;
    const fail = async () => {
      throw new Error('not used by batch scoring');
    };
    const run = await runLocally({
      definition,
      input: { explain: true },
      executionName: 'nightly-explained',
      stateMachineName: 'batch-scoring',
      services: {
        lambda: (_name, payload) => handler(payload, context),
        glueJob: fail,
        codeBuild: fail,
        publish: async () => 'm-1',
      },
    });
    expect(run.error).toBeUndefined();
    const manifestKey = `predictions/credit-risk/${version}/snapshot=${SNAPSHOT}/manifest.json`;
    expect(JSON.parse(readFileSync(store.describe(manifestKey), 'utf8'))).toMatchObject({
      explain: true,
      rows: ROWS,
    });
    const prefix = store.describe(`predictions/credit-risk/${version}/snapshot=${SNAPSHOT}`);
    const rows = await sql([
      `SELECT * FROM read_parquet('${prefix}/part-*.parquet', hive_partitioning = false) ORDER BY loan_id`,
    ]);
    expect(rows).toHaveLength(ROWS);
    const names = trained.featureNames;
    expect(Object.keys(rows[0])).toEqual([
      'loan_id',
      'id',
      'loan_date',
      'status',
      'probability',
      'prediction',
      'model_version',
      'reason_1',
      'reason_2',
      'reason_3',
      'reason_4',
      ...names.map((n) => `contrib_${n}`),
    ]);
    const { bias } = loadExplainer(trained.explainerBytes)!;
    let worst = 0;
    let reasons = 0;
    for (const r of rows) {
      const contributions = names.map((n) => r[`contrib_${n}`] as number);
      const margin = contributions.reduce((a, b) => a + b, bias);
      worst = Math.max(worst, Math.abs(1 / (1 + Math.exp(-margin)) - (r.probability as number)));
      const top = names
        .map((n, i) => [n, contributions[i]] as const)
        .filter(([, c]) => c > 0)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([n]) => n);
      expect([r.reason_1, r.reason_2, r.reason_3, r.reason_4]).toEqual(
        [0, 1, 2, 3].map((k) => top[k] ?? null),
      );
      reasons += top.length;
    }
    expect(worst).toBeLessThan(1e-6);
    expect(reasons).toBeGreaterThan(0);
  });

  it('a shard scored without explanations is scored again when a run asks for them', async () => {
    const { store, registry } = await freshStore();
    const handler = createHandler(depsFor(store, registry));
    const event = {
      action: 'score-shard',
      key: `features/snapshot=${SNAPSHOT}/part-00001.parquet`,
      modelVersion: version,
    };
    const plain = (await handler(event, context)) as ShardResult;
    const explained = (await handler({ ...event, explain: true }, context)) as ShardResult;
    expect(explained).toEqual({ ...plain, reused: false });
    const columns = async () =>
      (await sql([`DESCRIBE SELECT * FROM '${store.describe(plain.outputKey)}'`])).map((c) => c.column_name);
    expect(await columns()).toContain('reason_1');
    // A run without explain reuses the explained output (it has every column it needs).
    expect(await handler(event, context)).toEqual({ ...plain, reused: true });
    expect(await columns()).toContain('reason_1');
  });

  it('runs the sample events: list-shards, score-shard by hand with "champion", and write-manifest (versions replaced by the registered one)', async () => {
    const { store, registry } = await freshStore();
    const handler = createHandler(depsFor(store, registry));
    const plan = (await handler(sampleEvent('list-shards'), context)) as BatchPlan;
    expect(plan).toMatchObject({
      snapshotId: SNAPSHOT,
      modelVersion: version,
      modelName: 'credit-risk',
      explain: false,
    });
    expect(plan.shards.map((s) => s.key)).toEqual([
      `features/snapshot=${SNAPSHOT}/part-00000.parquet`,
      `features/snapshot=${SNAPSHOT}/part-00001.parquet`,
    ]);

    const first = (await handler(sampleEvent('score-shard'), context)) as ShardResult;
    expect(first).toEqual({
      key: `features/snapshot=${SNAPSHOT}/part-00000.parquet`,
      outputKey: `${plan.outputPrefix}part-00000.parquet`,
      rows: 1800,
      positives: expect.any(Number),
      snapshotId: SNAPSHOT,
      modelVersion: version,
      reused: false,
    });
    const second = (await handler(
      { action: 'score-shard', shard: plan.shards[1], index: 1, plan, runId: 'r' },
      context,
    )) as ShardResult;
    expect(second.rows).toBe(1200);

    const sample = JSON.stringify(sampleEvent('write-manifest'));
    const sampleVersion = (sampleEvent('write-manifest').plan as { modelVersion: string }).modelVersion;
    const event = JSON.parse(sample.split(sampleVersion).join(version)) as { shards: ShardResult[] };
    event.shards = [first, second];
    const written = (await handler(event, context)) as ManifestResult;
    expect(written).toMatchObject({ rows: 3000, positives: first.positives + second.positives, shards: 2 });
  });

  it('a retried score-shard reuses the finished output instead of scoring again', async () => {
    const { store, registry } = await freshStore();
    const handler = createHandler(depsFor(store, registry));
    const event = {
      action: 'score-shard',
      key: `features/snapshot=${SNAPSHOT}/part-00001.parquet`,
      modelVersion: version,
    };
    const once = (await handler(event, context)) as ShardResult;
    const before = readFileSync(store.describe(once.outputKey));
    const again = (await handler(event, context)) as ShardResult;
    expect(again).toEqual({ ...once, reused: true });
    expect(readFileSync(store.describe(again.outputKey)).equals(before)).toBe(true);
  });

  it('with the model baked into MODEL_DIR, scores the same as the registered champion, and refuses another version', async () => {
    const { store, registry } = await freshStore();
    const fromRegistry = (await createHandler(depsFor(store, registry))(
      {
        action: 'score-shard',
        key: `features/snapshot=${SNAPSHOT}/part-00000.parquet`,
        modelVersion: 'champion',
      },
      context,
    )) as ShardResult;

    const baked = directoryModelSource(modelDir, 'credit-risk');
    sources.push(baked);
    const other = new FsObjectStore(mkdtempSync(join(work, 'store-baked-')));
    await publishShards(other, join(work, 'features.parquet'));
    const handler = createHandler({
      featuresStore: other,
      models: baked,
      clock: fixedClock('2024-05-02'),
      tmpDir: mkdtempSync(join(work, 'tmp-')),
    });
    const plan = (await handler({ action: 'list-shards' }, context)) as BatchPlan;
    expect(plan.modelVersion).toBe(version);
    const fromDir = (await handler(
      { action: 'score-shard', shard: plan.shards[0], plan },
      context,
    )) as ShardResult;
    expect(fromDir).toEqual(fromRegistry);
    const a = await sql([`SELECT probability FROM '${store.describe(fromRegistry.outputKey)}'`]);
    const b = await sql([`SELECT probability FROM '${other.describe(fromDir.outputKey)}'`]);
    expect(b).toEqual(a);

    await expect(
      handler({ action: 'list-shards', modelVersion: 'f'.repeat(64) }, context),
    ).rejects.toMatchObject({ code: 'MODEL_VERSION_MISMATCH' });
  });

  it("a shard without the model's feature columns fails with a message that names them", async () => {
    const { store, registry } = await freshStore();
    const dir = mkdtempSync(join(work, 'bad-'));
    await sql([`COPY (SELECT 1 AS loan_id, 2 AS age) TO '${dir}/part-00002.parquet' (FORMAT parquet)`]);
    await store.upload(join(dir, 'part-00002.parquet'), `features/snapshot=${SNAPSHOT}/part-00002.parquet`);
    const handler = createHandler(depsFor(store, registry));
    await expect(
      handler(
        {
          action: 'score-shard',
          key: `features/snapshot=${SNAPSHOT}/part-00002.parquet`,
          modelVersion: version,
        },
        context,
      ),
    ).rejects.toMatchObject({
      code: 'MISSING_FEATURE_COLUMN',
      message: expect.stringContaining('nb_previous_loans'),
    });
  });
});
