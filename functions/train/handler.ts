import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler, eventParser } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { trainToDirectory } from '#lib/model/train.ts';
import {
  featuresKeyFor,
  trainCandidate,
  type TrainFn,
  type TrainStepResult,
} from '#lib/pipeline/train-step.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

export type { TrainFn, TrainRequest } from '#lib/pipeline/train-step.ts';
export { featuresKeyFor } from '#lib/pipeline/train-step.ts';

/** Train step: a published feature table -> trainer -> a staged candidate (lib/pipeline/train-step.ts). */
export interface TrainDeps {
  /** Where feature snapshots live (FEATURES_BUCKET in AWS). */
  featuresStore: ObjectStore;
  /** Where candidates and the registry live (MODELS_BUCKET in AWS). */
  modelsStore: ObjectStore;
  train: TrainFn;
  /** Scratch directory (/tmp in Lambda). */
  tmpDir: string;
}

export type TrainResult = Omit<TrainStepResult, 'trainSeconds'>;

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

export const parseTrainEvent = eventParser(TrainEvent, 'BAD_TRAIN_EVENT', 'train event');

const train = defineHandler({
  parse: parseTrainEvent,
  async run(request, deps: TrainDeps): Promise<TrainResult> {
    const featuresKey = request.featuresKey ?? featuresKeyFor(request.snapshotId as string);
    const { trainSeconds, ...result } = await trainCandidate({ ...deps, ...request, featuresKey });
    metrics.addMetric('trainingSeconds', MetricUnit.Seconds, trainSeconds);
    metrics.addMetric('candidateTestAuc', MetricUnit.NoUnit, result.metrics.auc);
    logger.info('candidate staged', { ...result, auc: result.metrics.auc, trainSeconds, metrics: undefined });
    return result;
  },
});

export const createHandler = train.create;
export const handler = train.lazy(() => ({
  featuresStore: awsRoot().featuresStore,
  modelsStore: awsRoot().modelsStore,
  train: trainToDirectory,
  tmpDir: process.env.TMPDIR ?? '/tmp',
}));
