import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from '#functions/commons/powertools.ts';
import {
  abortCanary,
  deployCanary,
  expireCanary,
  judge,
  promoteCanary,
  rollBackCanary,
  type CanarySteps,
  type Deployment,
} from '#lib/deploy/canary-steps.ts';
import type { CanaryEvent } from './schema.ts';

/**
 * One canary action: the lib/deploy step, then the metric and the log line of its outcome (the
 * metrics the canary alarms and dashboards read).
 */
export async function runCanaryAction(request: CanaryEvent, steps: CanarySteps): Promise<unknown> {
  switch (request.action) {
    case 'deploy': {
      const deployment = await deployCanary(steps, request);
      metrics.addMetric(
        deployment.status === 'canary' ? 'canariesStarted' : 'modelsDeployedWithoutCanary',
        MetricUnit.Count,
        1,
      );
      logger.info('canary deployed', { ...deployment });
      return deployment;
    }
    case 'judge': {
      const judgement = await judge(steps, {
        deployment: request.deployment as Deployment,
        thresholds: request.thresholds,
      });
      metrics.addMetric(
        judgement.decision === 'promote' ? 'canaryPassed' : 'canaryFailed',
        MetricUnit.Count,
        1,
      );
      logger.info('canary judged', {
        decision: judgement.decision,
        reasons: judgement.reasons,
        canary: judgement.canary,
        champion: judgement.champion,
      });
      return judgement;
    }
    case 'promote':
      await promoteCanary(steps, { deployment: request.deployment as Deployment });
      metrics.addMetric('canaryPromoted', MetricUnit.Count, 1);
      logger.info('canary promoted', { modelVersion: request.deployment.modelVersion });
      return { promoted: request.deployment.modelVersion };
    case 'rollback':
      await rollBackCanary(steps, {
        deployment: request.deployment as Deployment,
        judgement: request.judgement,
      });
      metrics.addMetric('canaryRolledBack', MetricUnit.Count, 1);
      logger.warn('canary rolled back', {
        modelVersion: request.deployment.modelVersion,
        reasons: request.judgement?.reasons,
      });
      return { rolledBack: request.deployment.modelVersion };
    case 'abort': {
      const result = await abortCanary(steps, request);
      metrics.addMetric('canaryAborted', MetricUnit.Count, 1);
      logger.warn('canary aborted', {
        modelVersion: request.modelVersion,
        error: request.error,
        ...result,
      });
      return result;
    }
    case 'expire': {
      const result = await expireCanary(steps);
      // 0 on the quiet runs too: one data point per check, and no "no metrics" warning every 5 minutes.
      metrics.addMetric('canaryExpired', MetricUnit.Count, result.expired ? 1 : 0);
      if (result.expired) logger.warn('canary expired: traffic back on the champion', { ...result });
      return result;
    }
  }
}
