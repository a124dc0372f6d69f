import {
  API_5XX_PER_MINUTE_MAX,
  CHAMPION_AGE_DAYS_MAX,
  DAILY_PERIOD_SECONDS,
  DRIFT_PSI_MAX,
  FAILURES_MAX,
  NON_FINITE_PROBABILITIES_MAX,
  P99_LATENCY_MS_MAX,
  PREDICT_5XX_RATE_MAX,
  QUARANTINE_RATE_MAX,
} from './alarm-thresholds.ts';

/**
 * The CloudWatch alarms of infra/resources/observability.yml, evaluated on local figures with the
 * same thresholds, periods, M-of-N and missing-data rules (the local dashboard's alarm panel).
 * Pure: the caller hands each alarm its datapoints, one value per period.
 */
export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
export type TreatMissingData = 'breaching' | 'notBreaching' | 'missing';

export interface AlarmRule {
  /** The alarm's logical id in infra/resources/observability.yml. */
  id: string;
  title: string;
  /** What the value is, for people ("5xx share per minute"). */
  measures: string;
  threshold: number;
  periodSeconds: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  treatMissingData: TreatMissingData;
}

/** One aggregated value for the period that starts at `periodStart` (ms since the epoch). */
export interface Datapoint {
  periodStart: number;
  value: number;
}

export interface AlarmEvaluation {
  state: AlarmState;
  /** The newest datapoint inside the evaluation range, if any. */
  latest: number | null;
  /** Periods in the range, with a value, and of those (missing ones per the rule included) breaching. */
  periods: number;
  withData: number;
  breaching: number;
  reason: string;
}

/** Every alarm breaches above its threshold (GreaterThanThreshold), as in the template. */
export const breaches = (rule: AlarmRule, value: number): boolean => value > rule.threshold;

/** Start of the period holding `at` (CloudWatch aligns periods to the epoch). */
export function periodStart(at: number, periodSeconds: number): number {
  const ms = periodSeconds * 1000;
  return Math.floor(at / ms) * ms;
}

/**
 * CloudWatch's rule over the last `evaluationPeriods` periods ending now: ALARM when at least
 * `datapointsToAlarm` of them breach; missing periods count as breaching or not per
 * `treatMissingData`; with no datapoint at all, `missing` is INSUFFICIENT_DATA. The periods slide
 * with `now` (period k covers (now - (k+1)P, now - kP]), so a daily figure emitted at 06:00 still
 * counts at 05:00 the next day; a datapoint belongs to the period its start falls in.
 */
export function evaluateAlarm(rule: AlarmRule, datapoints: readonly Datapoint[], now: Date): AlarmEvaluation {
  const step = rule.periodSeconds * 1000;
  const end = now.getTime();
  const byPeriod = new Map<number, number>();
  for (const d of datapoints) {
    const k = Math.floor((end - d.periodStart) / step);
    if (d.periodStart > end || k >= rule.evaluationPeriods || !Number.isFinite(d.value)) continue;
    byPeriod.set(k, Math.max(byPeriod.get(k) ?? -Infinity, d.value));
  }
  let breaching = 0;
  let latest: number | null = null;
  // Oldest first, so `latest` ends as the newest value.
  for (let k = rule.evaluationPeriods - 1; k >= 0; k--) {
    const v = byPeriod.get(k);
    if (v === undefined) {
      if (rule.treatMissingData === 'breaching') breaching++;
      continue;
    }
    latest = v;
    if (breaches(rule, v)) breaching++;
  }
  const base = { latest, periods: rule.evaluationPeriods, withData: byPeriod.size, breaching };
  if (byPeriod.size === 0 && rule.treatMissingData === 'missing')
    return { ...base, state: 'INSUFFICIENT_DATA', reason: 'no datapoint in the evaluation range' };
  if (breaching >= rule.datapointsToAlarm)
    return {
      ...base,
      state: 'ALARM',
      reason:
        byPeriod.size === 0
          ? `no datapoint in ${rule.evaluationPeriods} period(s): missing data is breaching`
          : `${breaching} of ${rule.evaluationPeriods} period(s) above ${rule.threshold}`,
    };
  return {
    ...base,
    state: 'OK',
    reason:
      byPeriod.size === 0
        ? 'no datapoint: missing data is not breaching'
        : `${breaching} of ${rule.evaluationPeriods} period(s) above ${rule.threshold} (alarm at ${rule.datapointsToAlarm})`,
  };
}

const minute = { periodSeconds: 60 };

/** The template's alarms, the same ids and settings (test/unit/monitoring/alarm-evaluation.test.ts compares them). */
export const ALARM_RULES = {
  Api5xxAlarm: {
    id: 'Api5xxAlarm',
    title: 'API 5xx',
    measures: '5xx answers per minute',
    threshold: API_5XX_PER_MINUTE_MAX,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 2,
    treatMissingData: 'notBreaching',
  },
  ApiLatencyP99Alarm: {
    id: 'ApiLatencyP99Alarm',
    title: 'p99 latency',
    measures: 'p99 latency (ms) per 5 minutes',
    threshold: P99_LATENCY_MS_MAX,
    periodSeconds: 300,
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    treatMissingData: 'notBreaching',
  },
  PredictCanaryErrorsAlarm: {
    id: 'PredictCanaryErrorsAlarm',
    title: 'predict 5xx rate',
    measures: 'share of answers that are 5xx, per minute',
    threshold: PREDICT_5XX_RATE_MAX,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 2,
    treatMissingData: 'notBreaching',
  },
  PredictNonFiniteAlarm: {
    id: 'PredictNonFiniteAlarm',
    title: 'non-finite probabilities',
    measures: 'NaN/infinite scores refused per minute',
    threshold: NON_FINITE_PROBABILITIES_MAX,
    ...minute,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: 'notBreaching',
  },
  DriftAlarm: {
    id: 'DriftAlarm',
    title: 'feature drift',
    measures: 'largest feature PSI per day',
    threshold: DRIFT_PSI_MAX,
    periodSeconds: DAILY_PERIOD_SECONDS,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: 'breaching',
  },
  ChampionAgeAlarm: {
    id: 'ChampionAgeAlarm',
    title: 'champion age',
    measures: 'days since the champion was promoted',
    threshold: CHAMPION_AGE_DAYS_MAX,
    periodSeconds: DAILY_PERIOD_SECONDS,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: 'notBreaching',
  },
  QuarantineRateAlarm: {
    id: 'QuarantineRateAlarm',
    title: 'quarantine rate',
    measures: 'share of raw rows quarantined per hour',
    threshold: QUARANTINE_RATE_MAX,
    periodSeconds: 3600,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: 'notBreaching',
  },
  TrainingFailedAlarm: {
    id: 'TrainingFailedAlarm',
    title: 'training failed',
    measures: 'failed training runs per 5 minutes',
    threshold: FAILURES_MAX,
    periodSeconds: 300,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: 'notBreaching',
  },
  BatchScoringFailedAlarm: {
    id: 'BatchScoringFailedAlarm',
    title: 'batch scoring failed',
    measures: 'failed batch-scoring runs per 5 minutes',
    threshold: FAILURES_MAX,
    periodSeconds: 300,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: 'notBreaching',
  },
  DriftCheckErrorsAlarm: {
    id: 'DriftCheckErrorsAlarm',
    title: 'drift-check errors',
    measures: 'drift-check function errors per 5 minutes',
    threshold: FAILURES_MAX,
    periodSeconds: 300,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: 'notBreaching',
  },
  StartPipelineErrorsAlarm: {
    id: 'StartPipelineErrorsAlarm',
    title: 'start-pipeline errors',
    measures: 'start-pipeline function errors per 5 minutes',
    threshold: FAILURES_MAX,
    periodSeconds: 300,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: 'notBreaching',
  },
} as const satisfies Record<string, AlarmRule>;

export type AlarmId = keyof typeof ALARM_RULES;

export interface AlarmStatus extends AlarmEvaluation {
  rule: AlarmRule;
  /** Where the local figures come from, or why there are none. */
  source: string;
}

/**
 * Each alarm's local datapoints (undefined: nothing local stands for that metric, so the alarm
 * is INSUFFICIENT_DATA whatever its missing-data rule; `source` says why).
 */
export type LocalAlarmInputs = Record<AlarmId, { datapoints?: Datapoint[]; source: string }>;

export function evaluateAlarms(inputs: LocalAlarmInputs, now: Date): AlarmStatus[] {
  return (Object.keys(ALARM_RULES) as AlarmId[]).map((id) => {
    const rule: AlarmRule = ALARM_RULES[id];
    const { datapoints, source } = inputs[id];
    if (datapoints === undefined)
      return {
        rule,
        source,
        state: 'INSUFFICIENT_DATA',
        latest: null,
        periods: rule.evaluationPeriods,
        withData: 0,
        breaching: 0,
        reason: 'no local source for this metric',
      };
    return { rule, source, ...evaluateAlarm(rule, datapoints, now) };
  });
}

/** Aggregates raw samples into one datapoint per period with the alarm's statistic. */
export function perPeriod(
  samples: ReadonlyArray<{ at: number; value: number }>,
  periodSeconds: number,
  statistic: 'Sum' | 'Maximum' | 'p99',
): Datapoint[] {
  const groups = new Map<number, number[]>();
  for (const s of samples) {
    const p = periodStart(s.at, periodSeconds);
    const g = groups.get(p);
    if (g) g.push(s.value);
    else groups.set(p, [s.value]);
  }
  return [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([start, values]) => ({ periodStart: start, value: aggregate(values, statistic) }));
}

function aggregate(values: number[], statistic: 'Sum' | 'Maximum' | 'p99'): number {
  if (statistic === 'Sum') return values.reduce((a, b) => a + b, 0);
  if (statistic === 'Maximum') return Math.max(...values);
  return nearestRank(values, 99);
}

/** Nearest-rank percentile (what CloudWatch reports for pNN over raw values) of a non-empty list. */
export function nearestRank(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
