import { InputError } from '#lib/errors.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { daysBetween, isIsoDate, wholeYearsBetween } from './calendar.ts';
import type { CustomerFeatureRow } from './online-store-sql.ts';

// The row type and the online.parquet columns live with the store's SQL (online-store-sql.ts).
export { ONLINE_ROW_COLUMNS, type CustomerFeatureRow } from './online-store-sql.ts';

/**
 * The feature columns of the offline table (lib/features/catalog.ts FEATURE_NAMES), in order, that
 * the online vector reproduces; a unit test holds the two lists equal.
 */
export const ONLINE_FEATURE_NAMES = [
  'nb_previous_loans',
  'avg_amount_loans_previous',
  'age',
  'years_on_the_job',
  'flag_own_car',
  'days_since_previous_loan',
  'amt_income_total',
] as const;

export type OnlineFeatureName = (typeof ONLINE_FEATURE_NAMES)[number];

/**
 * The features a NEW loan of this customer would get on date `asOf` (docs/DATA.md): every loan of the
 * customer before asOf counts as previous; loans ON asOf do not (same-day loans do not see each
 * other). Equal, value for value, to the offline row the feature SQL computes for such a loan
 * (test/integration/features/online-parity.test.ts proves it).
 *
 * A date before the customer's last loan cannot be answered from a "latest state" row (later loans
 * would leak in): that is an InputError, AS_OF_BEFORE_SNAPSHOT.
 */
export function onlineFeatureVector(
  row: CustomerFeatureRow,
  asOf: string,
): Record<OnlineFeatureName, number | null> {
  if (!isIsoDate(asOf))
    throw new InputError(
      'BAD_DATE',
      `as-of date must be a real date YYYY-MM-DD, got ${JSON.stringify(asOf)}`,
    );
  if (asOf < row.lastLoanDate) {
    throw new InputError(
      'AS_OF_BEFORE_SNAPSHOT',
      `as-of date ${asOf} is before customer ${row.id}'s last loan (${row.lastLoanDate}) in snapshot ${row.snapshotId}; ` +
        'the online store only answers for dates on or after it',
      { id: row.id, asOf, lastLoanDate: row.lastLoanDate, snapshotId: row.snapshotId },
    );
  }
  const sameDayAsLast = asOf === row.lastLoanDate;
  const nb = sameDayAsLast ? row.nbLoansBeforeLastDate : row.nbLoans;
  const sum = sameDayAsLast ? row.sumLoanAmountBeforeLastDate : row.sumLoanAmount;
  const latestPrevious = sameDayAsLast ? row.previousLoanDate : row.lastLoanDate;
  return {
    nb_previous_loans: nb,
    // The SQL divides (exact micro-unit sum / 1e6) by the count; the stored sum is that double.
    avg_amount_loans_previous: nb === 0 ? null : sum / nb,
    age: row.birthday === null ? null : wholeYearsBetween(row.birthday, asOf),
    years_on_the_job:
      row.jobStartDate === null || row.jobStartDate > asOf ? null : wholeYearsBetween(row.jobStartDate, asOf),
    flag_own_car: row.flagOwnCar,
    days_since_previous_loan: latestPrevious === null ? null : daysBetween(latestPrevious, asOf),
    amt_income_total: row.amtIncomeTotal,
  };
}

/** What `features get` prints and what a caller of the online store gets for one customer. */
export interface OnlineFeatures {
  id: string;
  asOf: string;
  snapshotId: string;
  features: Record<OnlineFeatureName, number | null>;
}

/** Looks a customer up in the online store and computes its vector on asOf; UNKNOWN_CUSTOMER if absent. */
export async function lookupOnlineFeatures(
  store: Pick<FeatureStore, 'get'>,
  id: string,
  asOf: string,
): Promise<OnlineFeatures> {
  const row = await store.get(id);
  if (!row)
    throw new InputError(
      'UNKNOWN_CUSTOMER',
      `customer ${JSON.stringify(id)} is not in the online feature store`,
      { id },
    );
  return { id: row.id, asOf, snapshotId: row.snapshotId, features: onlineFeatureVector(row, asOf) };
}
