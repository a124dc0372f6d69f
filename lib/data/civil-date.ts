/**
 * Dates as whole days since 1970-01-01 (UTC), converted to and from YYYY-MM-DD without Date
 * objects: the generator formats millions of dates, and this (Howard Hinnant's civil calendar
 * algorithms) is exact for any year 0..9999, including the ~1,000-years-ahead sentinel dates.
 */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

export function isoFromDays(days: number): string {
  const [y, m, d] = civilFromDays(days);
  return `${String(y).padStart(4, '0')}-${m < 10 ? '0' : ''}${m}-${d < 10 ? '0' : ''}${d}`;
}

export function daysFromIso(iso: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) throw new Error(`not an ISO date (YYYY-MM-DD): ${JSON.stringify(iso)}`);
  return daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** Whole years from one day to another, anniversary semantics (same rule as the feature SQL). */
export function wholeYearsBetweenDays(from: number, to: number): number {
  const [fy, fm, fd] = civilFromDays(from);
  const [ty, tm, td] = civilFromDays(to);
  return ty - fy - (tm < fm || (tm === fm && td < fd) ? 1 : 0);
}

/** Memoised isoFromDays: loan dates repeat a lot, formatting each once is much cheaper. */
export class IsoDateCache {
  private readonly cache = new Map<number, string>();
  format(days: number): string {
    let s = this.cache.get(days);
    if (s === undefined) {
      s = isoFromDays(days);
      this.cache.set(days, s);
    }
    return s;
  }
}
