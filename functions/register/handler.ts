import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { InputError } from '#lib/errors.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { loadCandidate } from '#lib/registry/candidate.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry, type RegisterResult } from '#lib/registry/registry.ts';
import { awsRoot } from '#functions/commons/aws-root.ts';

/** Register step: copies a staged candidate into the registry (immutable, idempotent). */
export interface RegisterDeps {
  /** Candidates and the registry (MODELS_BUCKET in AWS). */
  modelsStore: ObjectStore;
  env?: Record<string, string | undefined>;
}

const RegisterEvent = z.object({
  candidateKey: z.string().min(1),
  name: z.string().optional(),
  why: z.string().optional(),
});

export function createHandler(deps: RegisterDeps) {
  async function handle(event: unknown): Promise<RegisterResult> {
    const parsed = RegisterEvent.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError(
        'BAD_REGISTER_EVENT',
        `register event: ${issue.path.join('.') || 'event'}: ${issue.message}`,
      );
    }
    const name = parsed.data.name ?? deps.env?.MODEL_NAME ?? DEFAULT_MODEL_NAME;
    const registry = new ModelRegistry(deps.modelsStore, { name, actor: 'pipeline' });
    const candidate = await loadCandidate(deps.modelsStore, parsed.data.candidateKey);
    const result = await registry.register(candidate, {
      why: parsed.data.why ?? `passed the gate (${candidate.key})`,
    });
    if (result.created) metrics.addMetric('modelsRegistered', MetricUnit.Count, 1);
    logger.info('registered', { ...result });
    return result;
  }
  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics)) as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<RegisterResult>;
}

/** The Lambda entry: ports from the AWS root, resolved on first use (importing never reads env). */
export const handler = createHandler({
  get modelsStore() {
    return awsRoot().modelsStore;
  },
  env: process.env,
});
