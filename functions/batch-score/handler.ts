import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { tmpdir } from 'node:os';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { batchModelSource } from '#lib/serving/batch-model-source.ts';
import * as batch from '#lib/serving/batch-shards.ts';
import { parseBatchScoreEvent } from './schema.ts';
import type { BatchScoreDeps, BatchScoreResult } from './schema.ts';
export type { BatchScoreDeps, BatchScoreResult } from './schema.ts';

/**
 * The batch-score function: list-shards, score-shard, write-manifest (events in ./schema.ts), over
 * the features store (snapshots and predictions: FEATURES_BUCKET in AWS), the model source and a
 * scratch directory for a shard and its predictions (/tmp in Lambda).
 */
export { parseBatchScoreEvent } from './schema.ts';

const batchScore = defineHandler({
  parse: parseBatchScoreEvent,
  async run(request, deps: BatchScoreDeps): Promise<BatchScoreResult> {
    const { featuresStore: store, models } = deps;
    if (request.action === 'list-shards') {
      const plan = await batch.planBatch({
        store,
        models,
        snapshotId: request.request?.snapshotId ?? request.snapshotId,
        modelVersion: request.request?.modelVersion ?? request.modelVersion,
        explain: request.request?.explain ?? request.explain,
      });
      metrics.addMetric('batchShardsPlanned', MetricUnit.Count, plan.shards.length);
      const { snapshotId, modelVersion, shards } = plan;
      logger.info('batch planned', { runId: request.runId, snapshotId, modelVersion, shards: shards.length });
      return plan;
    }
    if (request.action === 'score-shard') {
      const started = performance.now();
      const key = (request.shard?.key ?? request.key) as string;
      const modelVersion = (request.plan?.modelVersion ?? request.modelVersion) as string;
      const explain = request.explain ?? request.plan?.explain;
      const result = await batch.scoreShard({
        store,
        models,
        key,
        modelVersion,
        explain,
        tmpDir: deps.tmpDir,
      });
      const seconds = (performance.now() - started) / 1000;
      metrics.addDimension('modelVersion', result.modelVersion);
      metrics.addMetric('batchRowsScored', MetricUnit.Count, result.reused ? 0 : result.rows);
      metrics.addMetric('batchShardSeconds', MetricUnit.Seconds, seconds);
      logger.info('shard scored', { runId: request.runId, index: request.index, ...result, seconds });
      return result;
    }
    const results = (request.shards ?? request.results) as batch.ShardResult[];
    const { runId, plan } = request;
    const written = await batch.writeManifest({
      store,
      clock: deps.clock,
      results,
      plan,
      modelName: models.modelName,
      runId,
    });
    metrics.addDimension('modelVersion', written.modelVersion);
    metrics.addMetric('batchRows', MetricUnit.Count, written.rows);
    metrics.addMetric('batchPositives', MetricUnit.Count, written.positives);
    logger.info('batch manifest written', { runId, ...written });
    return written;
  },
});

export const createHandler = batchScore.create;
/** The Lambda entry: MODEL_DIR when the function carries a model, else the registry (MODEL_NAME). */
export const handler = batchScore.lazy(() => {
  const { featuresStore, modelsStore, clock } = awsRoot();
  return { featuresStore, models: batchModelSource(modelsStore, process.env), clock, tmpDir: tmpdir() };
});
