/**
 * Where personal data lives, and for how long it may stay there: the one definition both runtimes
 * follow (docs/SECURITY.md, "Personal data"; docs/adr/0151-retention-as-lifecycle-rules-and-a-local-sweep.md).
 * In AWS the periods are stack parameters (serverless.yml `params`, S3 lifecycle rules in
 * infra/resources/storage.yml, log group retention); test/unit/privacy/retention-policy.test.ts
 * holds serverless.yml's defaults equal to DEFAULT_RETENTION. Locally `credit-risk data retention`
 * applies the same periods to the files under the local home (lib/privacy/retention.ts).
 */

/** Raw loan files (S3 raw bucket; the local store's raw/ keys). */
export const RAW_PREFIX = 'raw/';

/**
 * The prediction log, one record per served prediction, and the loan outcomes matched to it
 * (lib/monitoring/prediction-log-records.ts, outcomes.ts). Features bucket in AWS, the local
 * store locally.
 */
export const PREDICTION_LOG_PREFIX = 'predictions-log/';

/** Registry candidates: a trained model with its test rows (features without ids, labels, scores). */
export const CANDIDATES_PREFIX = 'candidates/';

export interface RetentionPeriods {
  /** Raw loan files, and their generated copies under the local home's data/. */
  rawDays: number;
  /** Feature snapshots (per-loan rows, per-customer online rows, manifest). */
  snapshotDays: number;
  /** Quarantine files: rejected records with their full original text. */
  quarantineDays: number;
  /** The Glue branch's scratch (validated raw rows, the job's output). */
  stagingDays: number;
  /** Batch-scoring outputs (every customer's features with a score). */
  predictionsDays: number;
  /** The prediction log and its matched outcomes: long enough to join outcomes back to decisions. */
  predictionLogDays: number;
  /** Drift reports and retraining markers (aggregates, no rows). */
  monitoringDays: number;
  /** Registry candidates (test rows without ids). */
  candidatesDays: number;
  /** Logs and metric lines (CloudWatch log groups in AWS; logs/ and metrics/ locally). */
  logDays: number;
  /**
   * Versioned buckets: how long an overwritten or deleted object's previous version survives.
   * An erasure that rewrites a raw file or deletes a snapshot is complete in S3 after this many days.
   */
  noncurrentVersionDays: number;
}

export const DEFAULT_RETENTION: RetentionPeriods = {
  rawDays: 730,
  snapshotDays: 400,
  quarantineDays: 90,
  stagingDays: 7,
  predictionsDays: 90,
  predictionLogDays: 400,
  monitoringDays: 400,
  candidatesDays: 30,
  logDays: 30,
  noncurrentVersionDays: 30,
};

/** The serverless.yml parameter of each period. */
export const RETENTION_PARAMETERS: Record<keyof RetentionPeriods, string> = {
  rawDays: 'rawRetentionDays',
  snapshotDays: 'snapshotRetentionDays',
  quarantineDays: 'quarantineRetentionDays',
  stagingDays: 'stagingRetentionDays',
  predictionsDays: 'predictionsRetentionDays',
  predictionLogDays: 'predictionLogRetentionDays',
  monitoringDays: 'monitoringRetentionDays',
  candidatesDays: 'candidatesRetentionDays',
  logDays: 'logRetentionDays',
  noncurrentVersionDays: 'noncurrentVersionDays',
};
