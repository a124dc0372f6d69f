import { InputError } from '#lib/errors.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { daysBetween, isIsoDate, wholeYearsBetween } from './calendar.ts';

/**
 * The online store's row for one customer: what /predict needs to compute the features of a
 * hypothetical new loan of that customer on any request date (DATA.md, "Online features").
 * Date-dependent features (age, years on the job) are computed at request time from the dates
 * stored here, so a row stays correct every day until the next snapshot.
 *
 * The aggregates come twice: over all loans (a new loan after the last loan date sees them all)
 * and over the loans strictly before the last loan date (a new loan ON the last loan date must
 * not see that day's loans: same-day loans do not count as previous). Storing both, rather than
 * subtracting the last day, keeps the average bit-identical to the SQL's.
 *
 * OWNED BY the features work (issue 3): fields may be added; keep them documented, and add the
 * matching column to ONLINE_ROW_COLUMNS (the online.parquet contract) and online-store-sql.ts.
 */
export interface CustomerFeatureRow {
  id: string;
  snapshotId: string;
  /** Number of the customer's loans in the snapshot. */
  nbLoans: number;
  /** Sum of loan_amount over those loans. */
  sumLoanAmount: number;
  /** Most recent loan_date (YYYY-MM-DD). */
  lastLoanDate: string;
  /** Number of the customer's loans with loan_date strictly before lastLoanDate. */
  nbLoansBeforeLastDate: number;
  /** Sum of loan_amount over those loans (0 when there are none). */
  sumLoanAmountBeforeLastDate: number;
  /** The most recent loan_date strictly before lastLoanDate; null when every loan is on lastLoanDate. */
  previousLoanDate: string | null;
  /** From the customer's most recent loan row. */
  birthday: string | null;
  /** null when unknown; the 365243 sentinel is stored as given (a date far in the future). */
  jobStartDate: string | null;
  flagOwnCar: 0 | 1 | null;
  /** Declared income on the customer's most recent loan. */
  amtIncomeTotal: number | null;
}

/**
 * DIR/online.parquet, written by `features build` (one row per customer, from the same valid
 * rows as features.parquet): these columns, snake_case, with these types. The snapshot id is
 * not a column: it comes from the manifest when the file is published.
 */
export const ONLINE_ROW_COLUMNS = [
  { column: 'id', field: 'id', type: 'VARCHAR' },
  { column: 'nb_loans', field: 'nbLoans', type: 'INTEGER' },
  { column: 'sum_loan_amount', field: 'sumLoanAmount', type: 'DOUBLE' },
  { column: 'last_loan_date', field: 'lastLoanDate', type: 'DATE' },
  { column: 'nb_loans_before_last_date', field: 'nbLoansBeforeLastDate', type: 'INTEGER' },
  { column: 'sum_loan_amount_before_last_date', field: 'sumLoanAmountBeforeLastDate', type: 'DOUBLE' },
  { column: 'previous_loan_date', field: 'previousLoanDate', type: 'DATE' },
  { column: 'birthday', field: 'birthday', type: 'DATE' },
  { column: 'job_start_date', field: 'jobStartDate', type: 'DATE' },
  { column: 'flag_own_car', field: 'flagOwnCar', type: 'INTEGER' },
  { column: 'amt_income_total', field: 'amtIncomeTotal', type: 'DOUBLE' },
] as const satisfies ReadonlyArray<{ column: string; field: keyof CustomerFeatureRow; type: string }>;

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
 * The features a NEW loan of this customer would get on date `asOf` (DATA.md): every loan of the
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
