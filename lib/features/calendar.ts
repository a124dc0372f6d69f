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
  const [fy, fm, fd] = parseIsoDate(from);
  const [ty, tm, td] = parseIsoDate(to);
  const beforeAnniversary = tm < fm || (tm === fm && td < fd);
  return ty - fy - (beforeAnniversary ? 1 : 0);
}

/** Calendar days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  const [fy, fm, fd] = parseIsoDate(from);
  const [ty, tm, td] = parseIsoDate(to);
  return Math.round((Date.UTC(ty, tm - 1, td) - Date.UTC(fy, fm - 1, fd)) / 86_400_000);
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** [year, month, day] of a YYYY-MM-DD string; throws on anything else (a bug upstream, not input). */
export function parseIsoDate(date: string): [number, number, number] {
  const m = ISO_DATE.exec(date);
  if (!m) throw new Error(`not an ISO date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** True when `date` is a real calendar date in YYYY-MM-DD form (no 2023-02-30). */
export function isIsoDate(date: string): boolean {
  const m = ISO_DATE.exec(date);
  if (!m) return false;
  const d = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === date;
}
