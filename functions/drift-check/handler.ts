import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { logger } from '#functions/commons/powertools.ts';

/**
 * PLACEHOLDER (issue 7, infrastructure): the drift check is not built yet. serverless.yml already
 * deploys this function on a daily schedule with its role (read snapshots, predictions and the
 * registry; write monitoring/ reports; start the training state machine) and the CloudWatch alarm
 * on `featurePsiMax` (namespace CreditRisk, dimension service=drift-check). Until the monitoring
 * work replaces this file, it only logs that it ran: it emits no drift metric and never retrains,
 * so the drift alarm stays in INSUFFICIENT_DATA / OK. docs/ARCHITECTURE.md says the same.
 */
export interface DriftCheckResult {
  implemented: false;
  message: string;
}

export function createHandler() {
  async function handle(event: unknown): Promise<DriftCheckResult> {
    const message = 'drift check not implemented yet (placeholder): no metric emitted, no retraining started';
    logger.warn(message, { event });
    return { implemented: false, message };
  }
  return middy(handle).use(injectLambdaContext(logger)) as unknown as (event: unknown, context: Context) => Promise<DriftCheckResult>;
}

export const handler = createHandler();
