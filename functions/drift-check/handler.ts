import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { runDriftCheck, type DriftCheckOutcome, type TrainingStarter } from '#lib/monitoring/drift-check.ts';
import { championAge } from '#lib/monitoring/champion-age.ts';
import type { Clock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { driftConfig } from './schema.ts';

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
export interface DriftCheckHandlerDeps {
  featuresStore: ObjectStore;
  modelsStore: ObjectStore;
  clock: Clock;
  starter: TrainingStarter;
  tmpDir: string;
  env?: Record<string, string | undefined>;
}

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
    const { report, reportKey } = outcome;
    const { score, retrain } = report;
    metrics.addMetric('featurePsiMax', MetricUnit.NoUnit, report.maxPsi);
    // Only when computed (no batch runs yet: no data point, not 0).
    if (score.available) metrics.addMetric('scorePsi', MetricUnit.NoUnit, score.psi);
    if (retrain.started) metrics.addMetric('driftRetrainsStarted', MetricUnit.Count, 1);
    if (retrain.runningUnknown !== undefined)
      logger.warn('drift retraining not started: the running executions could not be listed', {
        error: retrain.runningUnknown,
      });
    logger.info('drift checked', {
      reportKey,
      champion: report.model.version,
      snapshot: report.snapshot,
      maxPsi: report.maxPsi,
      maxPsiFeature: report.maxPsiFeature,
      score: score.available
        ? {
            psi: score.psi,
            status: score.status,
            referenceRun: score.referenceRun.snapshotId,
            currentRun: score.currentRun.snapshotId,
          }
        : { reason: score.reason },
      decision: report.decision,
      retrain,
    });
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
