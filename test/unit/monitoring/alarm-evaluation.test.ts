import { describe, expect, it } from '@jest/globals';
import {
  ALARM_RULES,
  evaluateAlarm,
  evaluateAlarms,
  perPeriod,
  type AlarmRule,
  type LocalAlarmInputs,
} from '#lib/monitoring/alarm-evaluation.ts';
import * as thresholds from '#lib/monitoring/alarm-thresholds.ts';

const NOW = new Date('2026-03-01T12:04:30Z');
const minute = (m: number) => Date.parse('2026-03-01T12:00:00Z') + m * 60_000;

/** 2 of 5 one-minute periods above 0.02, missing not breaching: the predict 5xx-rate rule. */
const RATE: AlarmRule = ALARM_RULES.PredictCanaryErrorsAlarm;

describe('alarm evaluation (CloudWatch rules on local datapoints)', () => {
  it('ALARM when at least datapointsToAlarm of the evaluation periods breach', () => {
    const e = evaluateAlarm(
      RATE,
      [
        { periodStart: minute(0), value: 0.05 },
        { periodStart: minute(2), value: 0.03 },
        { periodStart: minute(4), value: 0 },
      ],
      NOW,
    );
    expect(e).toMatchObject({ state: 'ALARM', breaching: 2, withData: 3, latest: 0 });
  });

  it('OK with one breaching period of five; a value equal to the threshold does not breach', () => {
    const e = evaluateAlarm(
      RATE,
      [
        { periodStart: minute(1), value: 0.5 },
        { periodStart: minute(3), value: RATE.threshold },
      ],
      NOW,
    );
    expect(e).toMatchObject({ state: 'OK', breaching: 1 });
  });

  it('only the last evaluationPeriods periods count: an old breach is forgotten', () => {
    const e = evaluateAlarm(
      RATE,
      [
        { periodStart: minute(-10), value: 1 },
        { periodStart: minute(-9), value: 1 },
      ],
      NOW,
    );
    expect(e).toMatchObject({ state: 'OK', withData: 0, latest: null });
  });

  it('no data: breaching -> ALARM (the drift check that never ran), notBreaching -> OK, missing -> INSUFFICIENT_DATA', () => {
    expect(evaluateAlarm(ALARM_RULES.DriftAlarm, [], NOW).state).toBe('ALARM');
    expect(evaluateAlarm(ALARM_RULES.ChampionAgeAlarm, [], NOW).state).toBe('OK');
    expect(evaluateAlarm({ ...RATE, treatMissingData: 'missing' }, [], NOW).state).toBe('INSUFFICIENT_DATA');
  });

  it("the drift alarm: yesterday's report is outside the one-day period, today's decides", () => {
    const today = Date.parse('2026-03-01T06:00:00Z');
    const yesterday = Date.parse('2026-02-28T06:00:00Z');
    expect(evaluateAlarm(ALARM_RULES.DriftAlarm, [{ periodStart: yesterday, value: 0.05 }], NOW).state).toBe(
      'ALARM',
    );
    expect(evaluateAlarm(ALARM_RULES.DriftAlarm, [{ periodStart: today, value: 0.05 }], NOW).state).toBe(
      'OK',
    );
    expect(evaluateAlarm(ALARM_RULES.DriftAlarm, [{ periodStart: today, value: 0.31 }], NOW).state).toBe(
      'ALARM',
    );
  });

  it('periods slide with now: the 06:00 daily figure still counts at 05:00 the next day', () => {
    const checked = Date.parse('2026-02-28T06:00:00Z');
    const nextMorning = new Date('2026-03-01T05:00:00Z');
    const e = evaluateAlarm(ALARM_RULES.DriftAlarm, [{ periodStart: checked, value: 0.05 }], nextMorning);
    expect(e).toMatchObject({ state: 'OK', latest: 0.05 });
  });

  it('the rules carry the thresholds of lib/monitoring/alarm-thresholds.ts', () => {
    expect(ALARM_RULES.ApiLatencyP99Alarm.threshold).toBe(thresholds.P99_LATENCY_MS_MAX);
    expect(ALARM_RULES.DriftAlarm.threshold).toBe(thresholds.DRIFT_PSI_MAX);
    expect(ALARM_RULES.DriftAlarm.periodSeconds).toBe(thresholds.DAILY_PERIOD_SECONDS);
    expect(ALARM_RULES.ChampionAgeAlarm.threshold).toBe(thresholds.CHAMPION_AGE_DAYS_MAX);
    expect(ALARM_RULES.QuarantineRateAlarm.threshold).toBe(thresholds.QUARANTINE_RATE_MAX);
    expect(ALARM_RULES.PredictNonFiniteAlarm.threshold).toBe(thresholds.NON_FINITE_PROBABILITIES_MAX);
  });

  it('an alarm without a local source is INSUFFICIENT_DATA whatever its missing-data rule', () => {
    const inputs = Object.fromEntries(
      Object.keys(ALARM_RULES).map((id) => [id, { datapoints: [], source: 'test' }]),
    ) as unknown as LocalAlarmInputs;
    inputs.StartPipelineErrorsAlarm = { source: 'none locally' };
    const states = Object.fromEntries(evaluateAlarms(inputs, NOW).map((a) => [a.rule.id, a.state]));
    expect(states.StartPipelineErrorsAlarm).toBe('INSUFFICIENT_DATA');
    expect(states.DriftAlarm).toBe('ALARM');
    expect(states.Api5xxAlarm).toBe('OK');
    expect(Object.keys(states)).toHaveLength(Object.keys(ALARM_RULES).length);
  });

  it('perPeriod aggregates raw samples by period with Sum, Maximum and nearest-rank p99', () => {
    const samples = [
      { at: minute(0) + 1000, value: 2 },
      { at: minute(0) + 2000, value: 3 },
      { at: minute(1), value: 7 },
    ];
    expect(perPeriod(samples, 60, 'Sum')).toEqual([
      { periodStart: minute(0), value: 5 },
      { periodStart: minute(1), value: 7 },
    ]);
    expect(perPeriod(samples, 60, 'Maximum')[0].value).toBe(3);
    const latencies = Array.from({ length: 100 }, (_, i) => ({ at: minute(0), value: i + 1 }));
    expect(perPeriod(latencies, 300, 'p99')).toEqual([{ periodStart: minute(0), value: 99 }]);
  });
});
