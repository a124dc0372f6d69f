import { z } from 'zod';
import { eventParser } from '#functions/commons/define-handler.ts';
import type { DriftCheckConfig } from '#lib/monitoring/drift-check.ts';
import type { TrainingStarter } from '#lib/monitoring/drift-check.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * The drift-check event (EventBridge schedule `{"trigger":"schedule"}`, or a manual invocation
 * overriding threshold, windowDays, minRows, cooldownDays and snapshotId) and the environment
 * (DRIFT_PSI_THRESHOLD, which serverless.yml sets from the alarm's driftPsiAlarm, default 0.2;
 * DRIFT_WINDOW_DAYS 30; DRIFT_MIN_ROWS 1000; DRIFT_RETRAIN_COOLDOWN_DAYS 7; MODEL_NAME).
 */
export const DriftEvent = z
  .object({
    threshold: z.number().positive().optional(),
    windowDays: z.number().int().positive().optional(),
    minRows: z.number().int().positive().optional(),
    cooldownDays: z.number().nonnegative().optional(),
    snapshotId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,128}$/)
      .optional(),
  })
  .passthrough();

const parseDriftEvent = eventParser(DriftEvent, 'BAD_DRIFT_EVENT', 'drift-check event');

/** The check's settings: the event's overrides, else the environment, else the defaults. */
export function driftConfig(event: unknown, env: Record<string, string | undefined> = {}): DriftCheckConfig {
  const e = parseDriftEvent(event ?? {});
  return {
    modelName: env.MODEL_NAME || undefined,
    threshold: e.threshold ?? envNumber(env, 'DRIFT_PSI_THRESHOLD'),
    windowDays: e.windowDays ?? envNumber(env, 'DRIFT_WINDOW_DAYS'),
    minRows: e.minRows ?? envNumber(env, 'DRIFT_MIN_ROWS'),
    cooldownDays: e.cooldownDays ?? envNumber(env, 'DRIFT_RETRAIN_COOLDOWN_DAYS'),
    snapshotId: e.snapshotId,
  };
}

function envNumber(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`environment variable ${name} must be a number >= 0, got ${JSON.stringify(raw)}`);
  return n;
}

export interface DriftCheckHandlerDeps {
  featuresStore: ObjectStore;
  modelsStore: ObjectStore;
  clock: Clock;
  starter: TrainingStarter;
  tmpDir: string;
  env?: Record<string, string | undefined>;
}
