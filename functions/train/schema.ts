import { z } from 'zod';
import { eventParser } from '#functions/commons/define-handler.ts';
import { InputError } from '#lib/errors.ts';
import type { TrialResult, TrialSpec, TuningRecord, TuningState } from '#lib/model/tuning-plan.ts';

/**
 * The train function's events, by `mode` (the payloads state-machines/training.asl.json builds):
 *
 *   train (no mode)  {snapshotId | featuresKey, params?, seed?, runId?, tuning?}
 *                    -> {candidateKey, version, featuresKey, snapshotId, metrics}: a staged candidate
 *                    (Train; TrainTuned passes the chosen params and the search's record for the card)
 *   plan             {mode, tune, base, tuning?: {state, results}}
 *                    -> {state, trials, done, maxConcurrency, chosen, record} (PlanTuning; reads nothing)
 *   trial            {mode, snapshotId | featuresKey, trial: TrialSpec}
 *                    -> TrialResult: validation metrics and trees, nothing written (TuneTrial, in the Map)
 */
const SnapshotId = z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore');
const Params = z.record(z.string(), z.unknown());

const withFeatures = <T extends { snapshotId?: string; featuresKey?: string }>(e: T) =>
  e.snapshotId !== undefined || e.featuresKey !== undefined;

const TrainRequest = z
  .object({
    mode: z.literal('train').optional(),
    snapshotId: SnapshotId.optional(),
    featuresKey: z.string().min(1).optional(),
    params: Params.optional(),
    seed: z.number().int().nonnegative().optional(),
    /** The execution name ($$.Execution.Name): the card's lineage.runId. */
    runId: z.string().min(1).max(256).optional(),
    // Built by PlanTuning (lib/model/tuning-plan.ts) and passed through to the card as it is.
    tuning: z.custom<TuningRecord>((v) => typeof v === 'object' && v !== null).optional(),
  })
  .refine(withFeatures, 'give snapshotId or featuresKey');

const TrialSpecSchema = z.object({
  id: z.number().int().nonnegative(),
  rung: z.number().int().nonnegative(),
  fraction: z.number().gt(0).lte(1),
  sampleSeed: z.number().int(),
  minTrialRows: z.number().int().positive(),
  params: Params,
});

const TrialRequest = z
  .object({
    mode: z.literal('trial'),
    snapshotId: SnapshotId.optional(),
    featuresKey: z.string().min(1).optional(),
    trial: TrialSpecSchema,
  })
  .refine(withFeatures, 'give snapshotId or featuresKey');

const PlanRequest = z.object({
  mode: z.literal('plan'),
  tune: z.record(z.string(), z.unknown()).nullish(),
  base: Params.nullish(),
  tuning: z
    .object({
      state: z.custom<TuningState>((v) => typeof v === 'object').nullish(),
      results: z.array(z.custom<TrialResult>((v) => typeof v === 'object' && v !== null)).nullish(),
    })
    .nullish(),
});

export type TrainEvent = z.infer<typeof TrainRequest>;
export type TrialEvent = Omit<z.infer<typeof TrialRequest>, 'trial'> & { trial: TrialSpec };
export type PlanEvent = z.infer<typeof PlanRequest>;

const parsers = {
  train: eventParser(TrainRequest, 'BAD_TRAIN_EVENT', 'train event'),
  trial: eventParser(TrialRequest, 'BAD_TRAIN_EVENT', 'train event (trial)'),
  plan: eventParser(PlanRequest, 'BAD_TRAIN_EVENT', 'train event (plan)'),
};

/** The event's mode picks its schema, so an error names the field of that mode that is wrong. */
export function parseTrainEvent(event: unknown): TrainEvent | TrialEvent | PlanEvent {
  const mode =
    typeof event === 'object' && event !== null && 'mode' in event
      ? (event as { mode: unknown }).mode
      : 'train';
  if (mode !== 'train' && mode !== 'trial' && mode !== 'plan')
    throw new InputError(
      'BAD_TRAIN_EVENT',
      `train event: mode: must be train, plan or trial, got ${JSON.stringify(mode)}`,
    );
  return parsers[mode](event) as TrainEvent | TrialEvent | PlanEvent;
}
