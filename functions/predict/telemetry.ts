import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { dimensionedMetrics, logger, metrics } from '#functions/commons/powertools.ts';
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
  return BUCKET_LABELS[bucketIndex(p)];
}

// NaN (never a served answer: lib/serving/predictor.ts refuses it) counts in the lowest bucket.
const bucketIndex = (p: number): number => (p > 0 ? Math.min(9, Math.floor(p * 10)) : 0);

const BUCKET_LABELS = Array.from(
  { length: 10 },
  (_, lo) => `${(lo / 10).toFixed(1)}-${((lo + 1) / 10).toFixed(1)}`,
);

let coldStart = true;

/**
 * The predict handler's metrics, one Metrics per dimension set (the version's; the version's with
 * a probability bucket or an error code; the alarms' `service` alone), so that each set's metrics
 * can be gathered and published together.
 *
 * `batchMs` absent (Lambda): each answer's metrics are published with it, as the invocation's end
 * is the last chance. `batchMs` set (a long-lived server answering many requests at once, `credit-risk
 * serve`): they gather, and a set is published batchMs after its first value, when it holds 100
 * values of a metric (Powertools' own limit), and on flush(). Counts are summed while they gather
 * and added as one value each at publication (what CloudWatch's Sum reads; Powertools' per-call
 * validation of five metrics an answer was 4.5% of a worker's CPU); latency and probability keep
 * every value, for percentiles. Same names, dimensions and sums
 * (docs/adr/0196-batched-predict-metrics-in-long-lived-servers.md).
 */
interface MetricSet {
  metrics: Metrics;
  counts: Map<string, number>;
}

class MetricSets {
  private readonly sets = new Map<string, MetricSet>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly batchMs: number | undefined) {}

  of(key: string, dimensions: () => Record<string, string>): MetricSet {
    let set = this.sets.get(key);
    if (!set) this.sets.set(key, (set = { metrics: dimensionedMetrics(dimensions()), counts: new Map() }));
    return set;
  }

  count(set: MetricSet, name: string): void {
    if (this.batchMs === undefined) set.metrics.addMetric(name, MetricUnit.Count, 1);
    else set.counts.set(name, (set.counts.get(name) ?? 0) + 1);
  }

  /** Called once the metrics of one answer are added to `set`. */
  added(set: MetricSet): void {
    if (this.batchMs === undefined) set.metrics.publishStoredMetrics();
    else
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.batchMs).unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const { metrics: m, counts } of this.sets.values()) {
      for (const [name, n] of counts) m.addMetric(name, MetricUnit.Count, n);
      counts.clear();
      if (m.hasStoredMetrics()) m.publishStoredMetrics();
    }
  }
}

export type PowertoolsPredictTelemetry = PredictTelemetry & {
  coldStart(): void;
  /** Publishes every gathered metric now (a server closing, a version retired). */
  flush(): void;
};

/**
 * The predict handler's metrics and logs through Powertools, for one model version.
 *
 * One telemetry per loaded version (a handler per version), so `explainerWarning`, why this
 * version answers without reasons (lib/serving/model.ts), is logged here once per version.
 */
export function powertoolsPredictTelemetry(
  modelVersion: string,
  options: { explainerWarning?: string; metricsBatchMs?: number } = {},
): PowertoolsPredictTelemetry {
  const { explainerWarning } = options;
  if (explainerWarning) logger.warn('no explainer: reasons are empty', { modelVersion, explainerWarning });
  const sets = new MetricSets(options.metricsBatchMs);
  const version = sets.of('version', () => ({ modelVersion }));
  // What the alarms watch: dimension `service` only, the set an alarm can name (serverErrors
  // carries errorCode and modelVersion, which an alarm would have to list value by value).
  const alarms = sets.of('alarms', () => ({}));
  const byBucket = BUCKET_LABELS.map((probabilityBucket) =>
    sets.of(`bucket ${probabilityBucket}`, () => ({ modelVersion, probabilityBucket })),
  );
  const byError = (code: string) => sets.of(`error ${code}`, () => ({ modelVersion, errorCode: code }));
  // Logs name a customer by a keyed pseudonym only (lib/privacy/log-pseudonym.ts), and a version
  // by its 12-digit prefix (what the CLI shows; the metrics carry the whole id).
  const customer = logPseudonymFor(process.env[LOG_ID_KEY_ENV]);
  const shortVersion = modelVersion.slice(0, 12);
  return {
    coldStart() {
      if (!coldStart) return;
      coldStart = false;
      const single = metrics.singleMetric();
      single.addDimension('modelVersion', modelVersion);
      single.addMetric('coldStart', MetricUnit.Count, 1);
    },
    prediction(p: Prediction, latencyMs, { requestId, customerId }) {
      version.metrics.addMetric('predictionLatency', MetricUnit.Milliseconds, latencyMs);
      sets.count(version, 'predictions');
      sets.count(version, p.prediction === 1 ? 'predictionsPositive' : 'predictionsNegative');
      // Raw values: CloudWatch percentiles of `probability` give the score quantiles.
      version.metrics.addMetric('probability', MetricUnit.NoUnit, p.probability);
      sets.added(version);
      const bucket = byBucket[bucketIndex(p.probability)];
      sets.count(bucket, 'predictionsByProbabilityBucket');
      sets.added(bucket);
      logger.info('prediction', {
        requestId,
        customer: customer(customerId),
        model: shortVersion,
        prediction: p.prediction,
        probability: Math.round(p.probability * 1e4) / 1e4,
        latencyMs: Math.round(latencyMs * 10) / 10,
      });
    },
    rejected({ code, statusCode }, { requestId, customerId }, error) {
      const set = byError(code);
      sets.count(set, statusCode >= 500 ? 'serverErrors' : 'clientErrors');
      sets.added(set);
      if (statusCode >= 500) {
        sets.count(alarms, PREDICT_ALARM_METRICS.handledServerErrors);
        if (code === NON_FINITE_PROBABILITY) sets.count(alarms, PREDICT_ALARM_METRICS.nonFiniteProbabilities);
        sets.added(alarms);
        // A message can quote the id (a driver error echoing its query): it goes out without it.
        const e = error instanceof Error ? error : new Error(String(error));
        logger.error('failed', {
          requestId,
          customer: customer(customerId),
          model: shortVersion,
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
          model: shortVersion,
          code,
          statusCode,
        });
    },
    flush: () => sets.flush(),
  };
}
