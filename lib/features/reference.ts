import { daysBetween, wholeYearsBetween } from './calendar.ts';
import { ageBandOf } from './catalog.ts';

/**
 * The features of docs/DATA.md in plain TypeScript, written to be obviously correct rather than fast:
 * for every loan, look at every loan of the same customer and keep those strictly before it.
 * Tests hold the SQL (DuckDB and Spark) to exactly these values on random histories.
 */

/** One validated raw loan: just the columns the features read. Dates are YYYY-MM-DD. */
export interface ReferenceLoan {
  loanId: number;
  id: number;
  loanDate: string;
  status: 0 | 1;
  loanAmount: number;
  birthday: string;
  jobStartDate: string | null;
  flagOwnCar: 'Y' | 'N';
  amtIncomeTotal: number;
  /** Default 'F' (what the fixtures that predate the protected columns load). */
  codeGender?: 'F' | 'M';
}

/** One row of the offline feature table (lib/features/catalog.ts), snake_case like the table. */
export interface ReferenceFeatureRow {
  loan_id: number;
  id: number;
  loan_date: string;
  status: number;
  nb_previous_loans: number;
  avg_amount_loans_previous: number | null;
  age: number;
  years_on_the_job: number | null;
  flag_own_car: number;
  days_since_previous_loan: number | null;
  amt_income_total: number;
  code_gender: string;
  age_band: string;
}

/**
 * An amount in integer micro-units, rounded half up (floor(x * 1e6 + 0.5), the SQL's rounding).
 * Sums are exact BigInts, so the mean does not depend on the order loans are added in.
 */
export function amountMicro(amount: number): bigint {
  return BigInt(Math.floor(amount * 1e6 + 0.5));
}

/** The mean the SQL computes: (exact micro-unit sum as a double / 1e6) / count. */
export function meanOfMicro(sumMicro: bigint, count: number): number {
  return Number(sumMicro) / 1e6 / count;
}

export function referenceFeatures(loans: readonly ReferenceLoan[]): ReferenceFeatureRow[] {
  return loans.map((loan) => {
    const previous = loans.filter((other) => other.id === loan.id && other.loanDate < loan.loanDate);
    const sumMicro = previous.reduce((sum, other) => sum + amountMicro(other.loanAmount), 0n);
    const latestPrevious = previous.reduce<string | null>(
      (latest, other) => (latest === null || other.loanDate > latest ? other.loanDate : latest),
      null,
    );
    const jobStartedBy = loan.jobStartDate !== null && loan.jobStartDate <= loan.loanDate;
    const age = wholeYearsBetween(loan.birthday, loan.loanDate);
    return {
      loan_id: loan.loanId,
      id: loan.id,
      loan_date: loan.loanDate,
      status: loan.status,
      nb_previous_loans: previous.length,
      avg_amount_loans_previous: previous.length === 0 ? null : meanOfMicro(sumMicro, previous.length),
      age,
      years_on_the_job: jobStartedBy ? wholeYearsBetween(loan.jobStartDate as string, loan.loanDate) : null,
      flag_own_car: loan.flagOwnCar === 'Y' ? 1 : 0,
      days_since_previous_loan: latestPrevious === null ? null : daysBetween(latestPrevious, loan.loanDate),
      amt_income_total: loan.amtIncomeTotal,
      code_gender: loan.codeGender ?? 'F',
      age_band: ageBandOf(age),
    };
  });
}
