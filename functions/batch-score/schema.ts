import { z } from 'zod';
import { eventParser } from '#functions/commons/define-handler.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import type * as batch from '#lib/serving/batch-shards.ts';

/**
 * The batch-score function's events: the three Task steps of state-machines/batch-scoring.asl.json,
 * chosen by `action` (the payloads are what the ASL's Parameters build):
 *
 *   list-shards    {action, request: <execution input {snapshotId?, modelVersion?, explain?}>, runId}
 *                  -> BatchPlan {snapshotId, modelName, modelVersion, outputPrefix, shards: [{key, size}], explain}
 *   score-shard    {action, shard: {key}, index, modelVersion, explain, runId} (the Map item)
 *                  -> ShardResult {key, outputKey, rows, positives, snapshotId, modelVersion, reused}
 *   write-manifest {action, plan: BatchPlan, shards: ShardResult[], runId}
 *                  -> ManifestResult {manifestKey, currentKey, snapshotId, modelVersion, shards, rows, positives,
 *                     createdAt, rescoredAt?, warnings?} (a re-run keeps the first run's createdAt)
 *
 * Flat forms are accepted too, for a person invoking the function by hand: list-shards
 * {snapshotId?, modelVersion?, explain?}, score-shard {key, modelVersion, explain?}, write-manifest
 * {results}. `explain` (default false) adds reason_1..reason_4 and contrib_<feature> to every output.
 */
const SnapshotId = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,128}$/, '1-128 of letters, digits, dot, dash, underscore');
const ModelVersion = z.string().min(1).max(128);
const RunId = z.string().min(1).max(256).optional();

const Shard = z.object({ key: z.string().min(1), size: z.number().nonnegative().optional() });
const Explain = z.boolean().optional();
const Plan = z.object({
  snapshotId: SnapshotId,
  modelName: z.string().min(1),
  modelVersion: ModelVersion,
  shards: z.array(Shard),
  explain: Explain,
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
const RunRequest = z.object({
  snapshotId: SnapshotId.optional(),
  modelVersion: ModelVersion.optional(),
  explain: Explain,
});

export const BatchScoreEvent = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('list-shards'),
    request: RunRequest.nullish(),
    snapshotId: SnapshotId.optional(),
    modelVersion: ModelVersion.optional(),
    explain: Explain,
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
      explain: Explain,
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

export const parseBatchScoreEvent = eventParser(BatchScoreEvent, 'BAD_BATCH_EVENT', 'batch-score event');

export interface BatchScoreDeps {
  featuresStore: ObjectStore;
  models: batch.BatchModelSource;
  clock: Clock;
  tmpDir: string;
}

export type BatchScoreResult = batch.BatchPlan | batch.ShardResult | batch.ManifestResult;
