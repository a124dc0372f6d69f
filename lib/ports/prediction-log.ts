/**
 * The prediction log: one record per served /predict answer, so that loan outcomes that arrive
 * weeks later can be joined back to the decision that was made (lib/monitoring/outcomes.ts) and
 * realized performance measured per model version (lib/monitoring/performance.ts).
 *
 * Adapters: append-only JSON-lines files under the local home (local/server/prediction-log-files.ts)
 * and Kinesis Data Firehose (lib/adapters/aws/firehose-prediction-log.ts). Both land the same
 * lines under the same keys (lib/monitoring/prediction-log-records.ts), so one reader serves both.
 *
 * The record holds the customer id: it is personal data, kept under the prediction-log retention
 * rule and erased line by line (lib/privacy/personal-data.ts, docs/SECURITY.md).
 */
export interface PredictionRecord {
  /** API Gateway's request id (the Lambda's, locally the server's); null when none was given. */
  requestId: string | null;
  customerId: string;
  modelVersion: string;
  /** The feature snapshot the online row came from. */
  snapshotId: string;
  probability: number;
  prediction: 0 | 1;
  threshold: number;
  /** The features of the answer's reasons, strongest first; [] when the version has no explainer. */
  reasons: string[];
  /** When the answer was made, UTC ISO 8601 with milliseconds. */
  time: string;
}

export interface PredictionLog {
  /**
   * Queues one record and returns at once: never awaits I/O, never throws (a failure to deliver
   * is reported by the adapter, not to the request that was answered).
   */
  record(record: PredictionRecord): void;
  /** Sends what is queued; resolves when it is delivered (or its failure reported). */
  flush(): Promise<void>;
  /** Flushes and releases the adapter's resources; record() after close() is dropped and reported. */
  close(): Promise<void>;
}
