import { z } from 'zod';
import { eventParser } from '#functions/commons/define-handler.ts';

/**
 * The canary function's event: one `action` per state of the training state machine
 * (state-machines/training.asl.json), plus `expire` from the EventBridge schedule.
 */
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

/** A bad event is an InputError `BAD_CANARY_EVENT` naming the first issue. */
export const parseCanaryEvent: (event: unknown) => CanaryEvent = eventParser(
  CanaryEvent,
  'BAD_CANARY_EVENT',
  'canary event',
);
