import { z } from 'zod';
import { eventParser } from '#functions/commons/define-handler.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import type { Evaluation, OnnxScorer } from '#lib/registry/candidate.ts';

/** The evaluate function's ports, its answer and its event. */
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

export const parseEvaluateEvent = eventParser(EvaluateEvent, 'BAD_EVALUATE_EVENT', 'evaluate event');
