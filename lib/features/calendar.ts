/**
 * Calendar arithmetic on ISO dates (YYYY-MM-DD), shared by the online feature vector and the
 * TypeScript reference of the features, so both count years exactly like the feature SQL.
 */

/**
 * Whole years from `from` to `to` with anniversary semantics: the anniversary day itself counts
 * (born 2000-05-10 -> 23 on 2023-05-10, 22 on 2023-05-09). A 29 February anniversary falls on
 * 1 March in non-leap years, as the SQL's (month, day) comparison gives. Negative when `to` is
 * before `from`; callers decide what a negative span means.
 */
export function wholeYearsBetween(from: string, to: string): number {
  const f = packedDate(from);
  const t = packedDate(to);
  // yyyymmdd: (month, day) order is the order of the part below 10^4.
  return yearOf(t) - yearOf(f) - (t % 10_000 < f % 10_000 ? 1 : 0);
}

/** Calendar days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return Math.round((utcMs(packedDate(to)) - utcMs(packedDate(from))) / 86_400_000);
}

/** True when `date` is a real calendar date in YYYY-MM-DD form (no 2023-02-30). */
export function isIsoDate(date: string): boolean {
  const p = shapedDate(date);
  if (p < 0) return false;
  const month = monthOf(p);
  return month >= 1 && month <= 12 && dayOf(p) >= 1 && dayOf(p) <= daysInMonth(yearOf(p), month);
}

/** Proleptic Gregorian, as Date's: 1900 is not a leap year, 2000 and 0000 are. */
function daysInMonth(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

function utcMs(p: number): number {
  return Date.UTC(yearOf(p), monthOf(p) - 1, dayOf(p));
}

/** The parts of a yyyymmdd number. */
const yearOf = (p: number): number => Math.floor(p / 10_000);
const monthOf = (p: number): number => Math.floor(p / 100) % 100;
const dayOf = (p: number): number => p % 100;

/**
 * yyyymmdd of a YYYY-MM-DD string, read digit by digit: these run for every feature of every
 * served request, where a RegExp match, its array and a Date per call were a visible share of
 * the CPU (docs/adr/0196-batched-predict-metrics-in-long-lived-servers.md). The shape only; -1 otherwise.
 */
function shapedDate(s: string): number {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return -1;
  let p = 0;
  for (let i = 0; i < 10; i++) {
    if (i === 4 || i === 7) continue;
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    p = p * 10 + d;
  }
  return p;
}

/** shapedDate, which must succeed (the callers' dates come from validated data). */
function packedDate(s: string): number {
  const p = shapedDate(s);
  if (p < 0) throw new Error(`not an ISO date (YYYY-MM-DD): ${JSON.stringify(s)}`);
  return p;
}
