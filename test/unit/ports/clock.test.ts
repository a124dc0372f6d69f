import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { fixedClock, systemClock } from '#lib/ports/clock.ts';

describe('systemClock.today', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('follows the UTC date across midnight and when time is set back', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 11, 6, 23, 59, 59, 999) });
    expect(systemClock.today()).toBe('2026-12-06');
    jest.setSystemTime(Date.UTC(2026, 11, 7, 0, 0, 0, 0));
    expect(systemClock.today()).toBe('2026-12-07');
    jest.setSystemTime(Date.UTC(2025, 0, 1, 12));
    expect(systemClock.today()).toBe('2025-01-01');
    jest.setSystemTime(Date.UTC(2025, 0, 1, 23, 59, 59, 999));
    expect(systemClock.today()).toBe('2025-01-01');
    expect(systemClock.today()).toBe(new Date().toISOString().slice(0, 10));
  });

  it('a fixed clock stays on its day', () => {
    expect(fixedClock('2024-02-29').today()).toBe('2024-02-29');
    expect(fixedClock('2024-02-29').now().toISOString()).toBe('2024-02-29T12:00:00.000Z');
  });
});
