import { daysBetween, isIsoDate, wholeYearsBetween } from '#lib/features/calendar.ts';

/** The Date-based definitions the digit readers replace: what they must agree with. */
const viaDate = {
  isIsoDate: (s: string) =>
    /^\d{4}-\d{2}-\d{2}$/.test(s) &&
    !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) &&
    new Date(`${s}T00:00:00Z`).toISOString().slice(0, 10) === s,
  days: (a: string, b: string) =>
    Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000),
};

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe('calendar', () => {
  it('accepts every real date and agrees with Date on days between, 1895 to 2105', () => {
    const start = Date.UTC(1895, 0, 1);
    let checked = 0;
    for (let ms = start; ms < Date.UTC(2105, 0, 1); ms += 86_400_000 * 3) {
      const d = iso(ms);
      expect(isIsoDate(d)).toBe(true);
      expect(daysBetween('1970-01-01', d)).toBe(viaDate.days('1970-01-01', d));
      checked++;
    }
    expect(checked).toBeGreaterThan(25_000);
  });

  it.each([
    '2023-02-29',
    '1900-02-29',
    '2023-04-31',
    '2023-13-01',
    '2023-00-10',
    '2023-01-00',
    '2023-1-01',
    '2023-01-1',
    '2023/01/01',
    '2023-01-01T00:00:00Z',
    ' 2023-01-01',
    '2023-01-01\n',
    'abcd-ef-gh',
    '２０２３-01-01',
    '',
  ])('refuses %j as Date does', (s) => {
    expect(isIsoDate(s)).toBe(false);
    expect(viaDate.isIsoDate(s)).toBe(false);
  });

  it.each(['2024-02-29', '2000-02-29', '0000-02-29', '9999-12-31', '0001-01-01'])(
    'accepts %s as Date does',
    (s) => {
      expect(isIsoDate(s)).toBe(true);
      expect(viaDate.isIsoDate(s)).toBe(true);
    },
  );

  it('counts whole years with the anniversary day included, 29 February on 1 March', () => {
    expect(wholeYearsBetween('2000-05-10', '2023-05-10')).toBe(23);
    expect(wholeYearsBetween('2000-05-10', '2023-05-09')).toBe(22);
    expect(wholeYearsBetween('2000-02-29', '2023-02-28')).toBe(22);
    expect(wholeYearsBetween('2000-02-29', '2023-03-01')).toBe(23);
    expect(wholeYearsBetween('2000-02-29', '2024-02-29')).toBe(24);
    expect(wholeYearsBetween('2023-05-10', '2000-05-10')).toBe(-23);
    expect(wholeYearsBetween('2023-12-31', '2024-01-01')).toBe(0);
  });

  it('refuses to count from what is not a date at all', () => {
    expect(() => daysBetween('2023-7-04', '2023-07-05')).toThrow(/not an ISO date/);
    expect(() => daysBetween('x', '2023-01-01')).toThrow(/not an ISO date/);
    expect(() => wholeYearsBetween('2023-01-01', '')).toThrow(/not an ISO date/);
  });
});
