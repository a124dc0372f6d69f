import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { LOG_ID_KEY_ENV, logPseudonymFor, withoutId } from '#lib/privacy/log-pseudonym.ts';
import type { PredictTelemetry } from '#lib/serving/predict-api.ts';
import { NON_FINITE_PROBABILITY, type Prediction } from '#lib/serving/predictor.ts';

/** What the predict alarms watch (infra/resources/observability.yml), dimension service=predict. */
export const PREDICT_ALARM_METRICS = {
  handledServerErrors: 'handledServerErrors',
  nonFiniteProbabilities: 'nonFiniteProbabilities',
} as const;

/** Probability bucket label for the score-distribution metric: ten fixed-width bins, low cardinality. */
export function probabilityBucket(p: number): string {
  return BUCKET_LABELS[Math.min(9, Math.max(0, Math.floor(p * 10)))];
}

const BUCKET_LABELS = Array.from(
  { length: 10 },
  (_, lo) => `${(lo / 10).toFixed(1)}-${((lo + 1) / 10).toFixed(1)}`,
);

let coldStart = true;

/**
 * The predict handler's metrics and logs through Powertools, for one model version.
 *
 * Metrics are added and flushed in one synchronous block: the Metrics singleton is shared, and in
 * the local server several requests (and model versions) are in flight at once. One single-metric
 * emitter per handler, reused: `metrics.singleMetric()` builds a new Metrics (a Console,
 * environment reads) on every call, which was a visible share of the per-request CPU
 * (docs/adr/0011-predict-metrics.md). It publishes on each addMetric and then clears its
 * dimensions, so every use sets its dimensions first, all in one synchronous block.
 *
 * One telemetry per loaded version (a handler per version), so `explainerWarning`, why this
 * version answers without reasons (lib/serving/model.ts), is logged here once per version.
 */
export function powertoolsPredictTelemetry(
  modelVersion: string,
  explainerWarning?: string,
): PredictTelemetry & { coldStart(): void } {
  if (explainerWarning) logger.warn('no explainer: reasons are empty', { modelVersion, explainerWarning });
  const single = metrics.singleMetric();
  // Logs name a customer by a keyed pseudonym only (lib/privacy/log-pseudonym.ts), and a version
  // by its 12-digit prefix (what the CLI shows; the metrics carry the whole id).
  const customer = logPseudonymFor(process.env[LOG_ID_KEY_ENV]);
  const version = modelVersion.slice(0, 12);
  return {
    coldStart() {
      if (!coldStart) return;
      coldStart = false;
      single.addDimension('modelVersion', modelVersion);
      single.addMetric('coldStart', MetricUnit.Count, 1);
    },
    prediction(p: Prediction, latencyMs, { requestId, customerId }) {
      metrics.addDimension('modelVersion', modelVersion);
      metrics.addMetric('predictionLatency', MetricUnit.Milliseconds, latencyMs);
      metrics.addMetric('predictions', MetricUnit.Count, 1);
      metrics.addMetric(
        p.prediction === 1 ? 'predictionsPositive' : 'predictionsNegative',
        MetricUnit.Count,
        1,
      );
      // Raw values: CloudWatch percentiles of `probability` give the score quantiles.
      metrics.addMetric('probability', MetricUnit.NoUnit, p.probability);
      metrics.publishStoredMetrics();
      single.addDimension('modelVersion', modelVersion);
      single.addDimension('probabilityBucket', probabilityBucket(p.probability));
      single.addMetric('predictionsByProbabilityBucket', MetricUnit.Count, 1);
      logger.info('prediction', {
        requestId,
        customer: customer(customerId),
        model: version,
        prediction: p.prediction,
        probability: Math.round(p.probability * 1e4) / 1e4,
        latencyMs: Math.round(latencyMs * 10) / 10,
      });
    },
    rejected({ code, statusCode }, { requestId, customerId }, error) {
      single.addDimension('modelVersion', modelVersion);
      single.addDimension('errorCode', code);
      single.addMetric(statusCode >= 500 ? 'serverErrors' : 'clientErrors', MetricUnit.Count, 1);
      if (statusCode >= 500) {
        // The alarms' metrics: dimension `service` only, the set an alarm can name (serverErrors
        // carries errorCode and modelVersion, which an alarm would have to list value by value).
        metrics.addMetric(PREDICT_ALARM_METRICS.handledServerErrors, MetricUnit.Count, 1);
        if (code === NON_FINITE_PROBABILITY)
          metrics.addMetric(PREDICT_ALARM_METRICS.nonFiniteProbabilities, MetricUnit.Count, 1);
        metrics.publishStoredMetrics();
        // A message can quote the id (a driver error echoing its query): it goes out without it.
        const e = error instanceof Error ? error : new Error(String(error));
        logger.error('failed', {
          requestId,
          customer: customer(customerId),
          model: version,
          code,
          error: {
            name: e.name,
            message: withoutId(e.message, customerId),
            stack: withoutId(e.stack ?? '', customerId),
          },
        });
      } else
        logger.info('rejected', {
          requestId,
          customer: customer(customerId),
          model: version,
          code,
          statusCode,
        });
    },
  };
}
