import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { InputError } from '#lib/errors.ts';
import { binaryMetrics, type BinaryMetrics } from '#lib/model/metrics.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { cardEssentials, stageCandidate, type TestSet } from '#lib/registry/candidate.ts';
import { readModelDirectory } from '#lib/registry/model-directory.ts';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { trainToDirectory } from '#lib/model/train.ts';
import { snapshotKeys } from '#lib/features/publish.ts';

/**
 * Training step of the pipeline: features Parquet (object store) -> trainer -> a staged candidate
 * under candidates/<version>/ for the evaluate and register steps. Thin: the trainer does the work.
 */
export interface TrainRequest {
  /** Local path of the features table (downloaded from the object store). */
  input: string;
  /** Directory to write model.onnx, card.json and report.html into. */
  out: string;
  seed?: number;
  params?: Record<string, unknown>;
  snapshotId?: string;
}

/** Runs the trainer and hands back the test split it measured (rows, labels, scores). */
export type TrainFn = (request: TrainRequest) => Promise<{ testSet: TestSet }>;

export interface TrainDeps {
  /** Where feature snapshots live (FEATURES_BUCKET in AWS). */
  featuresStore: ObjectStore;
  /** Where candidates and the registry live (MODELS_BUCKET in AWS). */
  modelsStore: ObjectStore;
  train: TrainFn;
  /** Scratch directory (/tmp in Lambda). */
  tmpDir: string;
}

export interface TrainResult {
  candidateKey: string;
  version: string;
  featuresKey: string;
  snapshotId: string | null;
  metrics: BinaryMetrics;
}

const TrainEvent = z
  .object({
    snapshotId: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore')
      .optional(),
    featuresKey: z.string().min(1).optional(),
    params: z.record(z.string(), z.unknown()).optional(),
    seed: z.number().int().nonnegative().optional(),
  })
  .refine((e) => e.snapshotId !== undefined || e.featuresKey !== undefined, 'give snapshotId or featuresKey');

/** Where a published feature snapshot keeps its table (the features area's layout). */
export function featuresKeyFor(snapshotId: string): string {
  return snapshotKeys(snapshotId).part;
}

export function parseTrainEvent(event: unknown): z.infer<typeof TrainEvent> {
  const parsed = TrainEvent.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      'BAD_TRAIN_EVENT',
      `train event: ${issue.path.join('.') || 'event'}: ${issue.message}`,
    );
  }
  return parsed.data;
}

export function createHandler(deps: TrainDeps) {
  async function handle(event: unknown): Promise<TrainResult> {
    const request = parseTrainEvent(event);
    const featuresKey = request.featuresKey ?? featuresKeyFor(request.snapshotId as string);
    if (!(await deps.featuresStore.head(featuresKey))) {
      throw new InputError(
        'UNKNOWN_FEATURES',
        `no features table at ${deps.featuresStore.describe(featuresKey)}`,
      );
    }
    const work = join(deps.tmpDir, `train-${randomUUID()}`);
    await mkdir(work, { recursive: true });
    try {
      const input = join(work, featuresKey.endsWith('.csv') ? 'features.csv' : 'features.parquet');
      await deps.featuresStore.download(featuresKey, input);
      // The snapshot's manifest beside the table tells the trainer the label, time and id columns
      // and gives the card its lineage (snapshot id, manifest hash).
      const manifestKey = `${featuresKey.slice(0, featuresKey.lastIndexOf('/') + 1)}manifest.json`;
      if (await deps.featuresStore.head(manifestKey)) {
        await deps.featuresStore.download(manifestKey, join(work, 'manifest.json'));
      }
      const out = join(work, 'model');
      const started = performance.now();
      const { testSet } = await deps.train({
        input,
        out,
        seed: request.seed,
        params: request.params,
        snapshotId: request.snapshotId,
      });
      const trainSeconds = (performance.now() - started) / 1000;
      const artifacts = await readModelDirectory(out);
      const staged = await stageCandidate(deps.modelsStore, artifacts, testSet);
      const cardText =
        typeof artifacts.card === 'string' ? artifacts.card : new TextDecoder().decode(artifacts.card);
      const { threshold } = cardEssentials(
        JSON.parse(cardText) as Record<string, unknown>,
        staged.candidateKey,
      );
      const m = binaryMetrics(testSet.y, testSet.p, threshold);
      metrics.addMetric('trainingSeconds', MetricUnit.Seconds, trainSeconds);
      metrics.addMetric('candidateTestAuc', MetricUnit.NoUnit, m.auc);
      logger.info('candidate staged', { ...staged, featuresKey, auc: m.auc, trainSeconds });
      return { ...staged, featuresKey, snapshotId: request.snapshotId ?? null, metrics: m };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics)) as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<TrainResult>;
}

/** The Lambda entry: ports from the AWS root, resolved on first use (importing never reads env). */
export const handler = createHandler({
  get featuresStore() {
    return awsRoot().featuresStore;
  },
  get modelsStore() {
    return awsRoot().modelsStore;
  },
  train: trainToDirectory,
  tmpDir: process.env.TMPDIR ?? '/tmp',
});
