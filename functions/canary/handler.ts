import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import {
  abortCanary,
  deployCanary,
  expireCanary,
  judge,
  promoteCanary,
  rollBackCanary,
  type Deployment,
} from '#lib/deploy/canary-steps.ts';
import { InputError } from '#lib/errors.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { Deployer } from '#lib/ports/deployer.ts';
import type { MetricsReader } from '#lib/ports/metrics-reader.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';

/**
 * The canary steps of the training state machine (state-machines/training.asl.json): one Lambda,
 * one `action` per state. DeployCanary publishes the rebuilt image as a version and shifts a share
 * of the alias to it; JudgeCanary reads the metrics of both versions and decides; PromoteCanary,
 * RollBackCanary and AbortCanary move the alias and the registry. A schedule sends `expire` every
 * few minutes: a canary past its deadline (its run killed during the watch) goes back to the
 * champion. Thin: lib/deploy does the work.
 */
export interface CanaryDeps {
  deployer: Deployer;
  metrics: MetricsReader;
  /** The registry (MODELS_BUCKET in AWS). */
  modelsStore: ObjectStore;
  clock: Clock;
  env?: Record<string, string | undefined>;
}

const version = z.string().regex(/^[0-9a-f]{64}$/, 'a model version (sha256, 64 hex digits)');

const DeploymentSchema = z.object({
  status: z.enum(['canary', 'first-model', 'already-champion']),
  modelName: z.string(),
  modelVersion: version,
  championVersion: version.nullable(),
  functionVersion: z.string().nullable(),
  championFunctionVersion: z.string().nullable(),
  weight: z.number(),
  deployedAt: z.string(),
  deadline: z.string().nullable().optional(),
});

const CanaryEvent = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('deploy'),
    modelName: z.string().optional(),
    modelVersion: version,
    build: z.object({
      buildId: z.string(),
      exported: z.array(z.object({ Name: z.string(), Value: z.string() })),
    }),
    weight: z.number().gt(0).lt(1),
    deadlineSeconds: z.number().gt(0).optional(),
    runId: z.string().optional(),
  }),
  z.object({
    action: z.literal('judge'),
    modelName: z.string().optional(),
    deployment: DeploymentSchema,
    thresholds: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({
    action: z.literal('promote'),
    modelName: z.string().optional(),
    deployment: DeploymentSchema,
    runId: z.string().optional(),
  }),
  z.object({
    action: z.literal('rollback'),
    modelName: z.string().optional(),
    deployment: DeploymentSchema,
    judgement: z
      .object({ reasons: z.array(z.string()).optional() })
      .passthrough()
      .optional(),
  }),
  z.object({
    action: z.literal('abort'),
    modelName: z.string().optional(),
    modelVersion: version,
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  }),
  // The EventBridge schedule (infra/resources/events.yml): end a canary past its deadline.
  z.object({
    action: z.literal('expire'),
    modelName: z.string().optional(),
  }),
]);

export type CanaryEvent = z.infer<typeof CanaryEvent>;

export function parseCanaryEvent(event: unknown): CanaryEvent {
  const parsed = CanaryEvent.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      'BAD_CANARY_EVENT',
      `canary event: ${issue.path.join('.') || 'event'}: ${issue.message}`,
    );
  }
  return parsed.data;
}

export function createHandler(deps: CanaryDeps) {
  async function handle(event: unknown): Promise<unknown> {
    const request = parseCanaryEvent(event);
    const name = request.modelName ?? deps.env?.MODEL_NAME ?? DEFAULT_MODEL_NAME;
    const registry = new ModelRegistry(deps.modelsStore, {
      name,
      clock: deps.clock,
      actor: request.action === 'expire' ? 'schedule:canary-expiry' : 'pipeline:canary',
    });
    const steps = {
      registry,
      deployer: deps.deployer,
      metrics: deps.metrics,
      clock: deps.clock,
      runId: 'runId' in request ? request.runId : undefined,
    };
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
  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics)) as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<unknown>;
}

/** The Lambda entry: ports from the AWS root, resolved on first use (importing never reads env). */
export const handler = createHandler({
  get deployer() {
    return awsRoot().deployer;
  },
  get metrics() {
    return awsRoot().metricsReader;
  },
  get modelsStore() {
    return awsRoot().modelsStore;
  },
  clock: awsRoot().clock,
  env: process.env,
});
