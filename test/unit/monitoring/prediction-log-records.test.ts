import { describe, expect, it } from '@jest/globals';
import { decisionDate } from '#lib/monitoring/prediction-log-records.ts';

describe('decisionDate', () => {
  it('is the UTC date of the record time, whether written by toISOString or with an offset', () => {
    expect(decisionDate({ time: '2026-12-06T23:59:59.999Z' })).toBe('2026-12-06');
    expect(decisionDate({ time: new Date(Date.UTC(2024, 1, 29, 0, 0, 0)).toISOString() })).toBe('2024-02-29');
    // Not the served form: read as a time, then dated in UTC.
    expect(decisionDate({ time: '2026-12-06T23:30:00-02:00' })).toBe('2026-12-07');
    expect(decisionDate({ time: '2026-12-06T01:00:00+02:00' })).toBe('2026-12-05');
  });
});
