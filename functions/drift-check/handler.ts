import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { awsRoot, requiredEnv } from '#functions/commons/aws-root.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import { InputError } from '#lib/errors.ts';
import {
  runDriftCheck,
  type DriftCheckConfig,
  type DriftCheckOutcome,
  type TrainingStarter,
} from '#lib/monitoring/drift-check.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * Daily drift check (EventBridge schedule, `{"trigger":"schedule"}`): the newest rows of the
 * current feature snapshot against the champion's training reference (lib/monitoring). Writes the
 * report to monitoring/drift/, emits `featurePsiMax` (namespace CreditRisk, dimension
 * service=drift-check: exactly what the DriftAlarm watches) and, when the champion has two
 * complete batch-scoring runs, `scorePsi` (same namespace and dimension; no alarm, no retraining:
 * docs/DECISIONS.md "## Monitoring (drift)"), and above the threshold starts the
 * training state machine with trigger "drift", at most once per cooldown, and not while a training
 * execution is already RUNNING for another reason (schedule, new raw data, manual start: listed
 * with ListExecutions; the report's retrain.running names them). If that listing fails
 * (throttling, a missing permission), nothing is started and the reason says so
 * (retrain.runningUnknown, logged as a warning); the next day's check tries again. No champion or
 * no snapshot: a logged no-op without metric.
 *
 * Environment: DRIFT_PSI_THRESHOLD (serverless.yml passes the alarm's driftPsiAlarm, default 0.2),
 * DRIFT_WINDOW_DAYS (30), DRIFT_MIN_ROWS (1000), DRIFT_RETRAIN_COOLDOWN_DAYS (7), MODEL_NAME,
 * TRAINING_STATE_MACHINE_ARN. A manual invocation may override threshold, windowDays, minRows,
 * cooldownDays and snapshotId in the event.
 */
export interface DriftCheckHandlerDeps {
  featuresStore: ObjectStore;
  modelsStore: ObjectStore;
  clock: Clock;
  starter: TrainingStarter;
  tmpDir: string;
  env?: Record<string, string | undefined>;
}

const DriftEvent = z
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

/** The check's settings: the event's overrides, else the environment, else the defaults. */
export function driftConfig(event: unknown, env: Record<string, string | undefined> = {}): DriftCheckConfig {
  const parsed = DriftEvent.safeParse(event ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      'BAD_DRIFT_EVENT',
      `drift-check event: ${issue.path.join('.') || 'event'}: ${issue.message}`,
    );
  }
  const e = parsed.data;
  return {
    modelName: env.MODEL_NAME || undefined,
    threshold: e.threshold ?? envNumber(env, 'DRIFT_PSI_THRESHOLD'),
    windowDays: e.windowDays ?? envNumber(env, 'DRIFT_WINDOW_DAYS'),
    minRows: e.minRows ?? envNumber(env, 'DRIFT_MIN_ROWS'),
    cooldownDays: e.cooldownDays ?? envNumber(env, 'DRIFT_RETRAIN_COOLDOWN_DAYS'),
    snapshotId: e.snapshotId,
  };
}

export function createHandler(deps: DriftCheckHandlerDeps) {
  async function handle(event: unknown): Promise<DriftCheckOutcome> {
    const config = driftConfig(event, deps.env ?? {});
    const outcome = await runDriftCheck(deps, config);
    if (outcome.status === 'skipped') {
      logger.info('drift check skipped', { reason: outcome.reason });
      return outcome;
    }
    const { report, reportKey } = outcome;
    metrics.addMetric('featurePsiMax', MetricUnit.NoUnit, report.maxPsi);
    // Same namespace and dimension; only when computed (no batch runs yet: no data point, not 0).
    if (report.score.available) metrics.addMetric('scorePsi', MetricUnit.NoUnit, report.score.psi);
    if (report.retrain.started) metrics.addMetric('driftRetrainsStarted', MetricUnit.Count, 1);
    if (report.retrain.runningUnknown !== undefined)
      logger.warn('drift retraining not started: the running executions could not be listed', {
        error: report.retrain.runningUnknown,
      });
    logger.info('drift checked', {
      reportKey,
      champion: report.model.version,
      snapshot: report.snapshot,
      maxPsi: report.maxPsi,
      maxPsiFeature: report.maxPsiFeature,
      score: report.score.available
        ? {
            psi: report.score.psi,
            status: report.score.status,
            referenceRun: report.score.referenceRun.snapshotId,
            currentRun: report.score.currentRun.snapshotId,
          }
        : { reason: report.score.reason },
      decision: report.decision,
      retrain: report.retrain,
    });
    return outcome;
  }
  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics)) as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<DriftCheckOutcome>;
}

function envNumber(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`environment variable ${name} must be a number >= 0, got ${JSON.stringify(raw)}`);
  return n;
}

let sfn: SFNClient | undefined;

/** The Step Functions starter, its client and state machine resolved on first use. */
function lazyStarter(): TrainingStarter {
  const starter = () => {
    sfn ??= new SFNClient({});
    return stepFunctionsStarter(sfn, requiredEnv('TRAINING_STATE_MACHINE_ARN'));
  };
  return {
    start: (request) => starter().start(request),
    running: () => starter().running(),
  };
}

/** The Lambda entry: ports from the AWS root, resolved on first use (importing never reads env). */
export const handler = createHandler({
  get featuresStore() {
    return awsRoot().featuresStore;
  },
  get modelsStore() {
    return awsRoot().modelsStore;
  },
  get clock() {
    return awsRoot().clock;
  },
  starter: lazyStarter(),
  tmpDir: process.env.TMPDIR ?? '/tmp',
  env: process.env,
});
