import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler, eventParser } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { loadCandidate } from '#lib/registry/candidate.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry, type RegisterResult } from '#lib/registry/registry.ts';

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

const register = defineHandler({
  parse: eventParser(RegisterEvent, 'BAD_REGISTER_EVENT', 'register event'),
  async run(event: z.output<typeof RegisterEvent>, deps: RegisterDeps): Promise<RegisterResult> {
    const name = event.name ?? deps.env?.MODEL_NAME ?? DEFAULT_MODEL_NAME;
    const registry = new ModelRegistry(deps.modelsStore, { name, actor: 'pipeline' });
    const candidate = await loadCandidate(deps.modelsStore, event.candidateKey);
    const result = await registry.register(candidate, {
      why: event.why ?? `passed the gate (${candidate.key})`,
    });
    if (result.created) metrics.addMetric('modelsRegistered', MetricUnit.Count, 1);
    logger.info('registered', { ...result });
    return result;
  },
});

export const createHandler = register.create;
export const handler = register.lazy(() => ({ modelsStore: awsRoot().modelsStore, env: process.env }));
