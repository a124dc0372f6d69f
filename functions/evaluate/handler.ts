import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { gateConfig } from '#lib/model/gate.ts';
import { scoreOnnxBytes } from '#lib/model/onnx-runtime.ts';
import { recordEvaluation } from '#lib/registry/candidate-evaluation.ts';
import { evaluateCandidate, loadCandidate } from '#lib/registry/candidate.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import { parseEvaluateEvent, type EvaluateDeps, type EvaluateResult } from './schema.ts';

export type { EvaluateDeps, EvaluateResult } from './schema.ts';

/**
 * Evaluate step: the staged candidate against the current champion on the same test rows, and
 * the quality gate. Its `gate.pass` feeds the Choice state; `gate.reasons` say why in words.
 */
const evaluate = defineHandler({
  parse: parseEvaluateEvent,
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
