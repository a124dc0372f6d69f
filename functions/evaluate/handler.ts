import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler, eventParser } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { gateConfig } from '#lib/model/gate.ts';
import { scoreOnnxBytes } from '#lib/model/onnx-runtime.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { recordEvaluation } from '#lib/registry/candidate-evaluation.ts';
import {
  evaluateCandidate,
  loadCandidate,
  type Evaluation,
  type OnnxScorer,
} from '#lib/registry/candidate.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';

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

const evaluate = defineHandler({
  parse: eventParser(EvaluateEvent, 'BAD_EVALUATE_EVENT', 'evaluate event'),
  async run({ candidateKey, gate, name: named }, deps: EvaluateDeps): Promise<EvaluateResult> {
    const name = named ?? deps.env?.MODEL_NAME ?? DEFAULT_MODEL_NAME;
    const registry = new ModelRegistry(deps.modelsStore, { name });
    const candidate = await loadCandidate(deps.modelsStore, candidateKey);
    const scored = await evaluateCandidate({
      registry,
      candidate,
      score: deps.score,
      gate: gateConfig(deps.env ?? {}, gate ?? {}),
    });
    // The champion column of the report and the gate's decision in the card (registered with them).
    await recordEvaluation(deps.modelsStore, candidate, scored);
    const { championScores: _scores, championThreshold: _threshold, ...evaluation } = scored;
    metrics.addMetric(evaluation.gate.pass ? 'gatePassed' : 'gateFailed', MetricUnit.Count, 1);
    logger.info('candidate evaluated', {
      version: candidate.version,
      champion: evaluation.championVersion,
      pass: evaluation.gate.pass,
      reasons: evaluation.gate.reasons,
      flags: evaluation.gate.flags,
    });
    return { candidateKey: candidate.key, version: candidate.version, name, ...evaluation };
  },
});

export const createHandler = evaluate.create;
export const handler = evaluate.lazy(() => ({
  modelsStore: awsRoot().modelsStore,
  score: scoreOnnxBytes,
  env: process.env,
}));
