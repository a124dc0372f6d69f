import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import { checkDate, decisionDate } from '#lib/monitoring/prediction-log-records.ts';

describe('decisionDate', () => {
  it('is the UTC date of the record time, whether written by toISOString or with an offset', () => {
    expect(decisionDate({ time: '2026-12-06T23:59:59.999Z' })).toBe('2026-12-06');
    expect(decisionDate({ time: new Date(Date.UTC(2024, 1, 29, 0, 0, 0)).toISOString() })).toBe('2024-02-29');
    // Not the served form: read as a time, then dated in UTC.
    expect(decisionDate({ time: '2026-12-06T23:30:00-02:00' })).toBe('2026-12-07');
    expect(decisionDate({ time: '2026-12-06T01:00:00+02:00' })).toBe('2026-12-05');
  });
});

describe('checkDate (monitor outcomes --since / --until)', () => {
  it('takes calendar dates, leap days included', () => {
    expect(checkDate('--since', '2024-02-29')).toBe('2024-02-29');
    expect(checkDate('--until', '2000-02-29')).toBe('2000-02-29');
  });

  it.each([
    '2023-02-30',
    '2023-02-29',
    '1900-02-29',
    '2023-04-31',
    '2023-13-01',
    '2023-00-10',
    '2023-1-01',
    '20230101',
    '',
  ])('refuses %j with BAD_DATE (no rolling over into the next month)', (value) => {
    expect(() => checkDate('--since', value)).toThrow(InputError);
    expect(() => checkDate('--since', value)).toThrow(/--since must be a date YYYY-MM-DD/);
  });
});
