/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import { trainModel, writeModelDirectory } from '#lib/model/train.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import type { BatchPlan, ManifestResult, ShardResult } from '#lib/serving/batch-shards.ts';
import { createAwsRoot, type AwsRoot } from '#functions/commons/aws-root.ts';
import { describeWithEmulators, newBucket, queueLambdaResults, uniqueName } from './support/emulators.ts';
import {
  cli,
  deployStack,
  finished,
  history,
  lambdaPayloads,
  receivedNotifications,
} from './support/deployment.ts';

/**
 * The batch scorer on the emulators: the batch-score Lambda entry point (awsRoot from the
 * function's environment) reads the snapshot's Parquet shards from moto S3, scores them with the
 * champion from the S3 registry and writes predictions and a manifest back; then
 * state-machines/batch-scoring.asl.json runs on moto's interpreter (the Map over the shards),
 * its Lambda answered with exactly those handler answers (moto's Lambda runs no code without Docker).
 */
const SNAPSHOT = '2024-05-01-3fa9c2e1b7d0';
const SHARDS = 3;
const ROWS = 2400;
const context = {
  awsRequestId: 'req-batch-emulator',
  functionName: 'batch-score',
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;
const work = mkdtempSync(join(tmpdir(), 'cr-aws-batch-'));
const savedEnv = { ...process.env };
const s3 = new S3Client({});
const sfn = new SFNClient({});
let root: AwsRoot;
let version: string;

async function duck(statements: string[]): Promise<Record<string, unknown>[]> {
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

describeWithEmulators(
  'batch scoring on moto: the batch-score function on S3, the Map on the interpreter',
  () => {
    beforeAll(async () => {
      const buckets = {
        raw: await newBucket(s3, 'cr-raw'),
        features: await newBucket(s3, 'cr-features'),
        models: await newBucket(s3, 'cr-models'),
      };
      Object.assign(process.env, {
        FEATURES_BUCKET: buckets.features,
        MODELS_BUCKET: buckets.models,
        TMPDIR: work,
      });
      root = createAwsRoot();
      // A features table like `features build` writes, cut into shards of the snapshot.
      const table = join(work, 'features.parquet');
      await duck([
        `COPY (
         SELECT i AS loan_id, CAST(5008804 + i % 700 AS VARCHAR) AS id, DATE '2021-01-01' + (i // 3)::INTEGER AS loan_date,
                CASE WHEN (i % 10 >= 6 AND hash(i) % 100 < 55) OR hash(i * 7) % 100 < 6 THEN 1 ELSE 0 END AS status,
                i % 10 AS nb_previous_loans,
                CASE WHEN i % 10 = 0 THEN NULL ELSE 80.0 + (i * 37) % 90 END AS avg_amount_loans_previous,
                20 + (i * 13) % 50 AS age,
                CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 11) % 25 END AS years_on_the_job,
                (i % 3 = 0)::INTEGER AS flag_own_car
         FROM range(${ROWS}) t(i)
       ) TO '${table}' (FORMAT parquet)`,
        ...Array.from(
          { length: SHARDS },
          (_, k) =>
            `COPY (SELECT * FROM '${table}' WHERE loan_id % ${SHARDS} = ${k} ORDER BY loan_id) TO '${join(work, `part-0000${k}.parquet`)}' (FORMAT parquet)`,
        ),
      ]);
      for (let k = 0; k < SHARDS; k++)
        await root.featuresStore.upload(
          join(work, `part-0000${k}.parquet`),
          `features/snapshot=${SNAPSHOT}/part-0000${k}.parquet`,
        );
      await root.featuresStore.put(
        `features/snapshot=${SNAPSHOT}/manifest.json`,
        JSON.stringify({ snapshotId: SNAPSHOT }),
      );
      await root.featuresStore.put(
        'features/CURRENT',
        JSON.stringify({
          snapshotId: SNAPSHOT,
          publishedAt: '2024-05-01T03:00:00Z',
          manifestKey: `features/snapshot=${SNAPSHOT}/manifest.json`,
        }),
      );
      // A champion in the S3 registry, trained by the project's trainer.
      const trained = await trainModel({
        input: table,
        target: 'status',
        timeColumn: 'loan_date',
        ignore: ['loan_id', 'id'],
        seed: 3,
        params: { numTrees: 10, numLeaves: 8, minDataInLeaf: 10, earlyStoppingRounds: 0, numThreads: 1 },
      });
      const modelDir = join(work, 'model');
      await writeModelDirectory(modelDir, trained);
      const registry = new ModelRegistry(root.modelsStore, { name: 'credit-risk' });
      await registry.register({
        model: trained.modelBytes,
        card: readFileSync(join(modelDir, 'card.json')),
        report: readFileSync(join(modelDir, 'report.html')),
        explainer: trained.explainerBytes,
      });
      await registry.promote(trained.version, { why: 'emulator test champion' });
      version = trained.version;
      Object.assign(process.env, { RAW_BUCKET: buckets.raw });
      stackBuckets = buckets;
    }, 180_000);

    let stackBuckets: { raw: string; features: string; models: string };

    afterAll(async () => {
      process.env = savedEnv;
      s3.destroy();
      sfn.destroy();
    });

    it('scores every shard from S3, writes predictions and the manifest back; the Map runs on the interpreter with those answers', async () => {
      const { handler } = await import('#functions/batch-score/handler.ts');
      const stack = await deployStack({ buckets: stackBuckets, modelName: 'credit-risk' });
      const machine = stack.stateMachineArn('batch-scoring');
      const name = uniqueName('nightly');

      // The batch-score function, as the machine's three Task states call it.
      const plan = (await handler({ action: 'list-shards', request: {}, runId: name }, context)) as BatchPlan;
      expect(plan).toMatchObject({ snapshotId: SNAPSHOT, modelVersion: version });
      expect(plan.shards.map((s) => s.key)).toEqual(
        Array.from({ length: SHARDS }, (_, k) => `features/snapshot=${SNAPSHOT}/part-0000${k}.parquet`),
      );
      const scored: ShardResult[] = [];
      for (const [index, shard] of plan.shards.entries())
        scored.push(
          (await handler(
            { action: 'score-shard', shard, index, modelVersion: plan.modelVersion, runId: name },
            context,
          )) as ShardResult,
        );
      const manifest = (await handler(
        { action: 'write-manifest', plan, shards: scored, runId: name },
        context,
      )) as ManifestResult;
      expect(manifest).toMatchObject({ snapshotId: SNAPSHOT, modelVersion: version, rows: ROWS });

      // The predictions are in S3: every input row once, with a probability in [0, 1].
      for (const r of scored) {
        const file = join(work, `pred-${r.outputKey.split('/').at(-1)}`);
        await root.featuresStore.download(r.outputKey, file);
        const [summary] = await duck([
          `SELECT count(*)::INTEGER AS n, count(DISTINCT loan_id)::INTEGER AS loans, min(probability) AS lo,
                max(probability) AS hi, count(*) FILTER (WHERE model_version = '${version}')::INTEGER AS tagged
         FROM '${file}'`,
        ]);
        expect(summary).toMatchObject({ n: r.rows, loans: r.rows, tagged: r.rows });
        expect(Number(summary.lo)).toBeGreaterThanOrEqual(0);
        expect(Number(summary.hi)).toBeLessThanOrEqual(1);
      }
      expect(scored.reduce((n, r) => n + r.rows, 0)).toBe(ROWS);
      expect(await root.featuresStore.head(manifest.manifestKey)).toBeDefined();

      // The state machine with the deploy-time substitutions, answered by those same results.
      await queueLambdaResults([plan, ...scored, manifest]);
      const started = await stepFunctionsStarter(sfn, machine).start({ name, input: {} });
      expect(started.started).toBe(true);
      expect(await finished(sfn, started.executionId)).toBe('SUCCEEDED');
      const events = await history(sfn, started.executionId);
      const sent = lambdaPayloads(events);
      expect(sent.map((s) => s.state)).toEqual([
        'ListShards',
        ...plan.shards.map(() => 'ScoreShard'),
        'WriteManifest',
      ]);
      expect(sent[0].payload).toEqual({ action: 'list-shards', request: {}, runId: name });
      // One Map iteration per shard, each asking for its shard (iterations may run in any order).
      expect(
        sent
          .slice(1, -1)
          .map((s) => (s.payload as { shard: { key: string }; index: number }).shard.key)
          .sort(),
      ).toEqual(plan.shards.map((s) => s.key));
      const write = sent.at(-1)!.payload as { plan: BatchPlan; shards: ShardResult[] };
      expect(write.plan).toEqual(plan);
      expect(write.shards.map((s) => s.outputKey).sort()).toEqual(scored.map((s) => s.outputKey).sort());
      const output = JSON.parse(
        events.find((e) => e.type === 'ExecutionSucceeded')!.executionSucceededEventDetails!.output!,
      ) as { status: string; manifest: ManifestResult };
      expect(output).toEqual({ status: 'scored', manifest });

      const status = JSON.parse(
        cli(['aws', 'pipeline', 'status', name, '--json', '--state-machine-arn', machine]).stdout,
      ) as { status: string; states: Array<{ name: string; ms: number | null; error: unknown }> };
      expect(status.status).toBe('SUCCEEDED');
      expect(status.states.filter((s) => s.name === 'ScoreShard')).toHaveLength(SHARDS);
      expect(status.states.every((s) => s.ms !== null && s.error === null)).toBe(true);
      const notes = await receivedNotifications(stack.queueUrl);
      expect(notes).toHaveLength(1);
      expect(notes[0].message).toContain(String(ROWS));
    }, 180_000);
  },
);
