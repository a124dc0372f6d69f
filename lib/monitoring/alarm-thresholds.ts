/**
 * Every alarm threshold of the system, in one place (docs/adr/0175-one-module-for-alarm-thresholds.md).
 * CloudWatch reads them at package time (serverless.yml params through infra/alarm-thresholds.cjs,
 * which evaluates this very file) and the local dashboard evaluates its alarms with them
 * (lib/monitoring/alarm-evaluation.ts). This file imports nothing: the package-time loader
 * transpiles it alone.
 */

/** p99 of POST /predict latency (ms), per 5-minute period, 2 of 3 periods. */
export const P99_LATENCY_MS_MAX = 500;
/** API Gateway 5XXError count per minute, 2 of 5 minutes (5 or more in a minute breaches). */
export const API_5XX_PER_MINUTE_MAX = 4;
/**
 * Share of predict invocations answered 5xx (handled 5xx + unhandled Lambda errors) per minute,
 * 2 of 5 minutes; also the canary judge's bar for the alias-level signal.
 */
export const PREDICT_5XX_RATE_MAX = 0.02;
/** Largest feature PSI of the daily drift check (0.2 = significant shift; also the retraining trigger). */
export const DRIFT_PSI_MAX = 0.2;
/**
 * Share of raw rows quarantined by one extract run. Well under the publish guard's refusal (0.2,
 * publishMaxQuarantineRate): the alarm warns of a rising share before a publish is refused.
 */
export const QUARANTINE_RATE_MAX = 0.05;
/**
 * Days since the champion was promoted. Training runs weekly (ADR 0147): a champion four cycles
 * old means retraining has stopped producing promotions (failed, gated out, or not running).
 */
export const CHAMPION_AGE_DAYS_MAX = 28;
/** Probabilities refused for being NaN or infinite: any one is a broken model or runtime. */
export const NON_FINITE_PROBABILITIES_MAX = 0;
/**
 * Every alarm breaches ABOVE its threshold (GreaterThanThreshold), here and in CloudWatch.
 * Failed executions of the training / batch-scoring machines, errors of drift-check and start-pipeline. */
export const FAILURES_MAX = 0;

/** The period of the daily schedules' alarms (drift check, champion age): one day, in seconds. */
export const DAILY_PERIOD_SECONDS = 86_400;

/**
 * The largest offline - realized AUC gap that is still fine (RealizedAucGapAlarm,
 * infra/resources/outcomes.yml, param realizedAucGapMax). Realized AUC on a few hundred outcomes
 * moves by a few hundredths from one week to the next; 0.05 is a model that has lost a good part
 * of what its test set showed.
 */
export const REALIZED_AUC_GAP_MAX = 0.05;
