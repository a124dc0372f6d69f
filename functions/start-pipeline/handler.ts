import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import { executionNameFor, objectsInEvent, skipReason, trainingInputFor } from '#lib/pipeline/new-data.ts';

/**
 * New raw data (S3 "Object Created" through EventBridge) -> one training execution per object
 * version. The execution name comes from the key and ETag, so EventBridge's retries and duplicate
 * deliveries start nothing twice: ExecutionAlreadyExists means "already started", a success.
 * Only exists in AWS (locally, `credit-risk pipeline run` is the trigger); it starts runs through
 * the same Step Functions starter as drift-check (lib/adapters/aws/step-functions-starter.ts).
 */
export interface StartPipelineDeps {
  sfn: SFNClient;
  stateMachineArn: string;
}

export interface StartedExecution {
  key: string;
  name: string;
  started: boolean;
  executionArn?: string;
  skipped?: string;
}

export function createHandler(deps: StartPipelineDeps) {
  const starter = stepFunctionsStarter(deps.sfn, deps.stateMachineArn);
  async function handle(event: unknown): Promise<{ executions: StartedExecution[] }> {
    const executions: StartedExecution[] = [];
    for (const object of objectsInEvent(event)) {
      const name = executionNameFor(object);
      const skipped = skipReason(object);
      if (skipped) {
        logger.info('not starting training', { key: object.key, reason: skipped });
        executions.push({ key: object.key, name, started: false, skipped });
        continue;
      }
      const { started, executionId } = await starter.start({ name, input: trainingInputFor(object) });
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
  }
  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics)) as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<{ executions: StartedExecution[] }>;
}

let built: ReturnType<typeof createHandler> | undefined;

/** The Lambda entry point (serverless.yml startPipeline): TRAINING_STATE_MACHINE_ARN from the stack. */
export const handler = (event: unknown, context: Context) => {
  built ??= createHandler({
    sfn: new SFNClient({}),
    stateMachineArn: requiredEnv('TRAINING_STATE_MACHINE_ARN'),
  });
  return built(event, context);
};

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
