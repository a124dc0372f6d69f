import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { trainToDirectory } from '#lib/model/train.ts';
import { planTuning, type TrialResult, type TuningPlan } from '#lib/model/tuning-plan.ts';
import {
  featuresKeyFor,
  trainCandidate,
  type TrainFn,
  type TrainStepResult,
} from '#lib/pipeline/train-step.ts';
import { runTrialStep } from '#lib/pipeline/tune-step.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { parseTrainEvent } from './schema.ts';

export type { TrainFn, TrainRequest } from '#lib/pipeline/train-step.ts';
export { featuresKeyFor } from '#lib/pipeline/train-step.ts';
export { parseTrainEvent } from './schema.ts';

/**
 * Train step: a published feature table -> trainer -> a staged candidate (lib/pipeline/train-step.ts);
 * with `mode` the tuning states' steps: plan (lib/model/tuning-plan.ts) and trial
 * (lib/pipeline/tune-step.ts). Events in ./schema.ts.
 */
export interface TrainDeps {
  /** Where feature snapshots live (FEATURES_BUCKET in AWS). */
  featuresStore: ObjectStore;
  /** Where candidates and the registry live (MODELS_BUCKET in AWS). */
  modelsStore: ObjectStore;
  train: TrainFn;
  /** Scratch directory (/tmp in Lambda). */
  tmpDir: string;
  /** The tuning budget's clock (default: the system's). */
  clock?: Clock;
}

export type TrainResult = Omit<TrainStepResult, 'trainSeconds'>;

const train = defineHandler({
  parse: parseTrainEvent,
  async run(request, deps: TrainDeps): Promise<TrainResult | TuningPlan | TrialResult> {
    if (request.mode === 'plan') {
      const plan = planTuning(
        { tune: request.tune ?? {}, base: request.base ?? {}, tuning: request.tuning },
        (deps.clock ?? systemClock).now(),
      );
      const { rung, sizes } = plan.state;
      logger.info('tuning planned', {
        rung,
        sizes,
        trials: plan.trials.length,
        done: plan.done,
        chosen: plan.chosen,
      });
      return plan;
    }
    const featuresKey = request.featuresKey ?? featuresKeyFor(request.snapshotId as string);
    if (request.mode === 'trial') {
      const result = await runTrialStep({ ...deps, featuresKey, trial: request.trial });
      metrics.addMetric('tuningTrialSeconds', MetricUnit.Seconds, result.seconds);
      logger.info('trial done', { ...result });
      return result;
    }
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
