import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { runDriftCheck, type DriftCheckOutcome } from '#lib/monitoring/drift-check.ts';
import { championAge } from '#lib/monitoring/champion-age.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { driftConfig } from './schema.ts';
import { recordDriftCheck } from './telemetry.ts';
import type { DriftCheckHandlerDeps } from './schema.ts';
export type { DriftCheckHandlerDeps } from './schema.ts';

export { driftConfig } from './schema.ts';

/**
 * Daily drift check (lib/monitoring/drift-check.ts): the newest rows of the current feature
 * snapshot against the champion's training reference. Emits `featurePsiMax` (namespace CreditRisk,
 * dimension service=drift-check: what the DriftAlarm watches) and, when the champion has two
 * complete batch-scoring runs, `scorePsi` (no alarm, no retraining); above the threshold it starts
 * a training run with trigger "drift", at most once per cooldown and not while a training runs.
 * No champion or no snapshot: a logged no-op without drift metric. Every run with a champion
 * also emits `championAgeDays` (lib/monitoring/champion-age.ts, the champion-age alarm).
 * Settings: ./schema.ts.
 */
const driftCheck = defineHandler({
  parse: (event: unknown) => event,
  async run(event, deps: DriftCheckHandlerDeps): Promise<DriftCheckOutcome> {
    const config = driftConfig(event, deps.env ?? {});
    // Before the check, so a check that fails still reports the champion's age.
    const age = await championAge(
      new ModelRegistry(deps.modelsStore, { name: config.modelName }),
      deps.clock.now(),
    );
    if (age) metrics.addMetric('championAgeDays', MetricUnit.NoUnit, age.days);
    const outcome = await runDriftCheck(deps, config);
    if (outcome.status === 'skipped') {
      logger.info('drift check skipped', { reason: outcome.reason });
      return outcome;
    }
    recordDriftCheck(outcome);
    return outcome;
  },
});

export const createHandler = driftCheck.create;
export const handler = driftCheck.lazy(() => {
  const root = awsRoot();
  const { featuresStore, modelsStore, clock } = root;
  return {
    featuresStore,
    modelsStore,
    clock,
    starter: root.trainingStarter,
    tmpDir: process.env.TMPDIR ?? '/tmp',
    env: process.env,
  };
});
