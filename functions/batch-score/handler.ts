import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { tmpdir } from 'node:os';
import { z } from 'zod';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { InputError } from '#lib/errors.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import { directoryModelSource, registryModelSource } from '#lib/serving/batch-model-source.ts';
import {
  planBatch,
  scoreShard,
  writeManifest,
  type BatchModelSource,
  type BatchPlan,
  type ManifestResult,
  type ShardResult,
} from '#lib/serving/batch-shards.ts';

/**
 * The batch-score function: the three Task steps of state-machines/batch-scoring.asl.json, chosen
 * by `action` (the payloads below are what the ASL's Parameters build). Thin: parse, call
 * lib/serving/batch-shards.ts, answer.
 *
 *   list-shards    {action, request: <execution input {snapshotId?, modelVersion?}>, runId}
 *                  -> BatchPlan {snapshotId, modelName, modelVersion, outputPrefix, shards: [{key, size}]}
 *   score-shard    {action, shard: {key}, index, plan: BatchPlan, runId}
 *                  -> ShardResult {key, outputKey, rows, positives, snapshotId, modelVersion, reused}
 *   write-manifest {action, plan: BatchPlan, shards: ShardResult[], runId}
 *                  -> ManifestResult {manifestKey, currentKey, snapshotId, modelVersion, shards, rows, positives,
 *                     createdAt, rescoredAt?, warnings?} (a re-run keeps the first run's createdAt)
 *
 * Flat forms are accepted too, for a person invoking the function by hand: list-shards
 * {snapshotId?, modelVersion?}, score-shard {key, modelVersion}, write-manifest {results}.
 */
export interface BatchScoreDeps {
  /** Feature snapshots and predictions (FEATURES_BUCKET in AWS, the local store's root locally). */
  featuresStore: ObjectStore;
  models: BatchModelSource;
  clock: Clock;
  /** Scratch space for a shard and its predictions (/tmp in Lambda). */
  tmpDir: string;
}

export type BatchScoreResult = BatchPlan | ShardResult | ManifestResult;
export type BatchScoreHandler = (event: unknown, context: Context) => Promise<BatchScoreResult>;

const SnapshotId = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,128}$/, '1-128 of letters, digits, dot, dash, underscore');
const ModelVersion = z.string().min(1).max(128);
const RunId = z.string().min(1).max(256).optional();

const Shard = z.object({ key: z.string().min(1), size: z.number().nonnegative().optional() });
const Plan = z.object({
  snapshotId: SnapshotId,
  modelName: z.string().min(1),
  modelVersion: ModelVersion,
  shards: z.array(Shard),
});
const Result = z.object({
  key: z.string().min(1),
  outputKey: z.string().min(1),
  rows: z.number().int().nonnegative(),
  positives: z.number().int().nonnegative(),
  snapshotId: SnapshotId,
  modelVersion: ModelVersion,
  reused: z.boolean().optional().default(false),
});
const RunRequest = z.object({ snapshotId: SnapshotId.optional(), modelVersion: ModelVersion.optional() });

const BatchScoreEvent = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('list-shards'),
    request: RunRequest.nullish(),
    snapshotId: SnapshotId.optional(),
    modelVersion: ModelVersion.optional(),
    runId: RunId,
  }),
  z
    .object({
      action: z.literal('score-shard'),
      shard: Shard.optional(),
      key: z.string().min(1).optional(),
      index: z.number().int().nonnegative().optional(),
      plan: Plan.partial().optional(),
      modelVersion: ModelVersion.optional(),
      runId: RunId,
    })
    .refine((e) => (e.shard?.key ?? e.key) !== undefined, {
      message: 'give shard.key (or key)',
      path: ['shard'],
    })
    .refine((e) => (e.plan?.modelVersion ?? e.modelVersion) !== undefined, {
      message:
        'give plan.modelVersion (or modelVersion): every shard of a run uses the version list-shards pinned',
      path: ['plan'],
    }),
  z
    .object({
      action: z.literal('write-manifest'),
      plan: Plan.optional(),
      shards: z.array(Result).optional(),
      results: z.array(Result).optional(),
      runId: RunId,
    })
    .refine((e) => (e.shards ?? e.results) !== undefined, {
      message: 'give shards (the Map output) or results',
      path: ['shards'],
    }),
]);

export type BatchScoreEvent = z.infer<typeof BatchScoreEvent>;

export function parseBatchScoreEvent(event: unknown): BatchScoreEvent {
  const parsed = BatchScoreEvent.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      'BAD_BATCH_EVENT',
      `batch-score event: ${issue.path.join('.') || 'event'}: ${issue.message}`,
    );
  }
  return parsed.data;
}

export function createHandler(deps: BatchScoreDeps): BatchScoreHandler {
  async function handle(event: unknown): Promise<BatchScoreResult> {
    const request = parseBatchScoreEvent(event);
    switch (request.action) {
      case 'list-shards': {
        const plan = await planBatch({
          store: deps.featuresStore,
          models: deps.models,
          snapshotId: request.request?.snapshotId ?? request.snapshotId,
          modelVersion: request.request?.modelVersion ?? request.modelVersion,
        });
        metrics.addMetric('batchShardsPlanned', MetricUnit.Count, plan.shards.length);
        logger.info('batch planned', {
          runId: request.runId,
          snapshotId: plan.snapshotId,
          modelVersion: plan.modelVersion,
          shards: plan.shards.length,
        });
        return plan;
      }
      case 'score-shard': {
        const started = performance.now();
        const result = await scoreShard({
          store: deps.featuresStore,
          models: deps.models,
          key: (request.shard?.key ?? request.key) as string,
          modelVersion: (request.plan?.modelVersion ?? request.modelVersion) as string,
          tmpDir: deps.tmpDir,
        });
        const seconds = (performance.now() - started) / 1000;
        metrics.addDimension('modelVersion', result.modelVersion);
        metrics.addMetric('batchRowsScored', MetricUnit.Count, result.reused ? 0 : result.rows);
        metrics.addMetric('batchShardSeconds', MetricUnit.Seconds, seconds);
        logger.info('shard scored', { runId: request.runId, index: request.index, ...result, seconds });
        return result;
      }
      case 'write-manifest': {
        const written = await writeManifest({
          store: deps.featuresStore,
          clock: deps.clock,
          results: (request.shards ?? request.results) as ShardResult[],
          plan: request.plan,
          modelName: deps.models.modelName,
          runId: request.runId,
        });
        metrics.addDimension('modelVersion', written.modelVersion);
        metrics.addMetric('batchRows', MetricUnit.Count, written.rows);
        metrics.addMetric('batchPositives', MetricUnit.Count, written.positives);
        logger.info('batch manifest written', { runId: request.runId, ...written });
        return written;
      }
    }
  }
  return middy(handle)
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics)) as unknown as BatchScoreHandler;
}

/**
 * The deps in AWS (serverless.yml batchScore): FEATURES_BUCKET for snapshots and predictions, and
 * the model from MODEL_DIR when the function carries one (as the predict image does), else the
 * registry in MODELS_BUCKET (the zip-packaged function: champion unless the run names a version).
 */
export function awsBatchScoreDeps(env: NodeJS.ProcessEnv = process.env): BatchScoreDeps {
  const root = awsRoot();
  const modelName = env.MODEL_NAME || DEFAULT_MODEL_NAME;
  const models = env.MODEL_DIR
    ? directoryModelSource(env.MODEL_DIR, modelName)
    : registryModelSource(root.modelsStore, new ModelRegistry(root.modelsStore, { name: modelName }));
  return { featuresStore: root.featuresStore, models, clock: root.clock, tmpDir: tmpdir() };
}

let built: BatchScoreHandler | undefined;

/** The Lambda entry point; the ports are built on the first invocation and kept for the container. */
export const handler: BatchScoreHandler = (event, context) => {
  built ??= createHandler(awsBatchScoreDeps());
  return built(event, context);
};
