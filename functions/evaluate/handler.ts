import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { InputError } from '#lib/errors.ts';
import { gateConfig } from '#lib/model/gate.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import {
  evaluateCandidate,
  loadCandidate,
  type Evaluation,
  type OnnxScorer,
} from '#lib/registry/candidate.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { scoreOnnxBytes } from '#lib/model/onnx-runtime.ts';

/**
 * Evaluate step: the staged candidate against the current champion on the same test rows, and
 * the quality gate. Its `gate.pass` feeds the Choice state; `gate.reasons` say why in words.
 */
export interface EvaluateDeps {
  /** Candidates and the registry (MODELS_BUCKET in AWS). */
  modelsStore: ObjectStore;
  score: OnnxScorer;
  /** Gate settings from the environment (GATE_MIN_AUC, ...); the event's `gate` overrides them. */
  env?: Record<string, string | undefined>;
}

export interface EvaluateResult extends Evaluation {
  candidateKey: string;
  version: string;
  name: string;
}

const EvaluateEvent = z.object({
  candidateKey: z.string().min(1),
  name: z.string().optional(),
  gate: z.record(z.string(), z.unknown()).optional(),
});

export function createHandler(deps: EvaluateDeps) {
  async function handle(event: unknown): Promise<EvaluateResult> {
    const parsed = EvaluateEvent.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError(
        'BAD_EVALUATE_EVENT',
        `evaluate event: ${issue.path.join('.') || 'event'}: ${issue.message}`,
      );
    }
    const { candidateKey, gate } = parsed.data;
    const name = parsed.data.name ?? deps.env?.MODEL_NAME ?? DEFAULT_MODEL_NAME;
    const registry = new ModelRegistry(deps.modelsStore, { name });
    const candidate = await loadCandidate(deps.modelsStore, candidateKey);
    const evaluation = await evaluateCandidate({
      registry,
      candidate,
      score: deps.score,
      gate: gateConfig(deps.env ?? {}, gate ?? {}),
    });
    metrics.addMetric(evaluation.gate.pass ? 'gatePassed' : 'gateFailed', MetricUnit.Count, 1);
    logger.info('candidate evaluated', {
      version: candidate.version,
      champion: evaluation.championVersion,
      pass: evaluation.gate.pass,
      reasons: evaluation.gate.reasons,
    });
    return { candidateKey: candidate.key, version: candidate.version, name, ...evaluation };
  }
  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics)) as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<EvaluateResult>;
}

/** The Lambda entry: ports from the AWS root, resolved on first use (importing never reads env). */
export const handler = createHandler({
  get modelsStore() {
    return awsRoot().modelsStore;
  },
  score: scoreOnnxBytes,
  env: process.env,
});
