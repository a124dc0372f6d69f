/**
 * Reads back what the predict function emitted (Powertools EMF, namespace CreditRisk, dimension
 * modelVersion): CloudWatch GetMetricData in AWS, the EMF lines collected under the local home
 * locally. The canary judge compares two of these summaries.
 */
export const PROBABILITY_BUCKETS = [
  '0.0-0.1',
  '0.1-0.2',
  '0.2-0.3',
  '0.3-0.4',
  '0.4-0.5',
  '0.5-0.6',
  '0.6-0.7',
  '0.7-0.8',
  '0.8-0.9',
  '0.9-1.0',
] as const;

export interface MetricsWindow {
  start: Date;
  end: Date;
}

export interface VersionTraffic {
  modelVersion: string;
  /** Answered predictions (200s). */
  predictions: number;
  /** 5xx answers: the model or the function failed, not the caller. */
  serverErrors: number;
  /** p99 of predictionLatency in ms; null without predictions. */
  p99LatencyMs: number | null;
  /** Predictions per probability bucket, in PROBABILITY_BUCKETS order. */
  scoreHistogram: number[];
}

export interface MetricsReader {
  traffic(modelVersion: string, window: MetricsWindow): Promise<VersionTraffic>;
}
