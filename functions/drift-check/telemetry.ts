import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from '#functions/commons/powertools.ts';
import type { DriftCheckOutcome } from '#lib/monitoring/drift-check.ts';

/**
 * What a completed drift check emits (namespace CreditRisk, service drift-check): `featurePsiMax`
 * (the DriftAlarm's metric), `scorePsi` when computed, `driftRetrainsStarted`; and its log line.
 */
export function recordDriftCheck(outcome: Extract<DriftCheckOutcome, { status: 'checked' }>): void {
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
}
