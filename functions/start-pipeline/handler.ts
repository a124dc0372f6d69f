import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import type { TrainingStarter } from '#lib/monitoring/drift-check.ts';
import { executionNameFor, objectsInEvent, skipReason, trainingInputFor } from '#lib/pipeline/new-data.ts';

/**
 * New raw data (S3 "Object Created" through EventBridge) -> one training execution per object
 * version. The execution name comes from the key and ETag, so EventBridge's retries and duplicate
 * deliveries start nothing twice: ExecutionAlreadyExists means "already started", a success.
 * Only exists in AWS (locally, `credit-risk pipeline run` is the trigger); it starts runs through
 * the same starter as drift-check (the AWS root's trainingStarter).
 */
export interface StartPipelineDeps {
  starter: TrainingStarter;
}

export interface StartedExecution {
  key: string;
  name: string;
  started: boolean;
  executionArn?: string;
  skipped?: string;
}

const startPipeline = defineHandler({
  parse: (event: unknown) => ({ event, objects: objectsInEvent(event) }),
  async run({ event, objects }, deps: StartPipelineDeps): Promise<{ executions: StartedExecution[] }> {
    const executions: StartedExecution[] = [];
    for (const object of objects) {
      const name = executionNameFor(object);
      const skipped = skipReason(object);
      if (skipped) {
        logger.info('not starting training', { key: object.key, reason: skipped });
        executions.push({ key: object.key, name, started: false, skipped });
        continue;
      }
      const { started, executionId } = await deps.starter.start({ name, input: trainingInputFor(object) });
      if (started) {
        metrics.addMetric('trainingRunsStarted', MetricUnit.Count, 1);
        logger.info('training started', { key: object.key, name, executionArn: executionId });
        executions.push({ key: object.key, name, started: true, executionArn: executionId });
      } else {
        logger.info('training already started for this object version', { key: object.key, name });
        executions.push({ key: object.key, name, started: false });
      }
    }
    if (executions.length === 0) logger.warn('event announced no S3 object', { event });
    return { executions };
  },
});

export const createHandler = startPipeline.create;
/** The Lambda entry point (serverless.yml startPipeline): TRAINING_STATE_MACHINE_ARN from the stack. */
export const handler = startPipeline.lazy(() => ({ starter: awsRoot().trainingStarter }));
