import type { DuckDBConnection } from '@duckdb/node-api';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import type { ReferenceFeatureRow, ReferenceLoan } from '#lib/features/reference.ts';

/**
 * Test fixtures for the feature SQL: small loan histories as ReferenceLoans, loaded into a
 * `raw_valid` table with the validated schema (the contract of lib/features/validate.ts), or
 * written as a raw CSV file in the input schema of docs/DATA.md.
 */

/** The typed columns validation produces (the contract the feature SQL reads). */
export const RAW_VALID_DDL = `CREATE OR REPLACE TABLE raw_valid (
  loan_id BIGINT, id BIGINT, code_gender VARCHAR, flag_own_car VARCHAR, flag_own_realty VARCHAR,
  cnt_children INTEGER, amt_income_total DOUBLE, name_income_type VARCHAR, name_education_type VARCHAR,
  name_family_status VARCHAR, name_housing_type VARCHAR, days_birth INTEGER, days_employed INTEGER,
  flag_mobil INTEGER, flag_work_phone INTEGER, flag_phone INTEGER, flag_email INTEGER,
  occupation_type VARCHAR, cnt_fam_members DOUBLE, status INTEGER, birthday DATE, job_start_date DATE,
  loan_date DATE, loan_amount DOUBLE, line BIGINT)`;

const sqlDate = (d: string | null) => (d === null ? 'NULL' : `DATE '${d}'`);

export async function loadRawValid(conn: DuckDBConnection, loans: readonly ReferenceLoan[]): Promise<void> {
  await conn.run(RAW_VALID_DDL);
  for (let i = 0; i < loans.length; i += 500) {
    const values = loans
      .slice(i, i + 500)
      .map(
        (l, j) =>
          `(${l.loanId}, ${l.id}, '${l.codeGender ?? 'F'}', '${l.flagOwnCar}', 'Y', 0, ${l.amtIncomeTotal}, 'Working', 'Higher education', ` +
          `'Married', 'House / apartment', 0, 0, 1, 0, 0, 0, NULL, 2, ${l.status}, ${sqlDate(l.birthday)}, ` +
          `${sqlDate(l.jobStartDate)}, ${sqlDate(l.loanDate)}, ${l.loanAmount}, ${i + j + 2})`,
      );
    await conn.run(`INSERT INTO raw_valid VALUES ${values.join(',\n')}`);
  }
}

const RAW_HEADER =
  'loan_id,id,code_gender,flag_own_car,flag_own_realty,cnt_children,amt_income_total,name_income_type,' +
  'name_education_type,name_family_status,name_housing_type,days_birth,days_employed,flag_mobil,' +
  'flag_work_phone,flag_phone,flag_email,occupation_type,cnt_fam_members,status,birthday,job_start_date,' +
  'loan_date,loan_amount';

/** Days from a reference date, the way the raw data's days_birth/days_employed count (negative = past). */
function daysFrom(reference: string, date: string): number {
  return Math.round((Date.parse(`${date}T00:00:00Z`) - Date.parse(`${reference}T00:00:00Z`)) / 86_400_000);
}

/** A raw CSV (docs/DATA.md input schema) holding these loans; sentinel job dates get days_employed 365243. */
export function writeRawCsv(path: string, loans: readonly ReferenceLoan[]): void {
  const reference = '2024-12-31';
  const lines = loans.map((l, i) => {
    const employed =
      l.jobStartDate === null || l.jobStartDate > '2900-01-01' ? 365243 : daysFrom(reference, l.jobStartDate);
    const occupation = i % 3 === 0 ? '' : '"Core staff"';
    return [
      l.loanId,
      l.id,
      l.codeGender ?? 'F',
      l.flagOwnCar,
      'Y',
      0,
      l.amtIncomeTotal,
      'Working',
      'Higher education',
      'Married',
      'House / apartment',
      daysFrom(reference, l.birthday),
      employed,
      1,
      0,
      1,
      0,
      occupation,
      2,
      l.status,
      l.birthday,
      l.jobStartDate ?? '',
      l.loanDate,
      l.loanAmount,
    ].join(',');
  });
  writeFileSync(path, `${RAW_HEADER}\n${lines.join('\n')}\n`);
}

/** Rows of a DuckDB result (JSON form: BIGINT as strings, DATE as YYYY-MM-DD) as ReferenceFeatureRows. */
export function asFeatureRows(rows: Record<string, unknown>[]): ReferenceFeatureRow[] {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return rows.map((r) => ({
    loan_id: Number(r.loan_id),
    id: Number(r.id),
    loan_date: String(r.loan_date),
    status: Number(r.status),
    nb_previous_loans: Number(r.nb_previous_loans),
    avg_amount_loans_previous: num(r.avg_amount_loans_previous),
    age: Number(r.age),
    years_on_the_job: num(r.years_on_the_job),
    flag_own_car: Number(r.flag_own_car),
    days_since_previous_loan: num(r.days_since_previous_loan),
    amt_income_total: Number(r.amt_income_total),
    code_gender: String(r.code_gender),
    age_band: String(r.age_band),
  }));
}

export const byLoanId = <T extends { loan_id: number }>(rows: T[]): T[] =>
  [...rows].sort((a, b) => a.loan_id - b.loan_id);

// ---- random histories -------------------------------------------------------------------------

function isoFromDay(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}
const dayOf = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;

/** Dates where calendars bite: leap days, the days around them, year ends. */
const TRICKY_LOAN_DATES = [
  '2020-02-28',
  '2020-02-29',
  '2020-03-01',
  '2021-02-28',
  '2021-03-01',
  '2023-12-31',
  '2024-01-01',
  '2024-02-29',
];
const TRICKY_BIRTHDAYS = ['1992-02-29', '1996-02-29', '1990-03-01', '1985-12-31', '2000-01-01', '1970-02-28'];

const loanDateArb = fc.oneof(
  fc.constantFrom(...TRICKY_LOAN_DATES),
  // A narrow window, so that random loans of one customer often share a day.
  fc.integer({ min: dayOf('2020-02-20'), max: dayOf('2020-03-10') }).map(isoFromDay),
  fc.integer({ min: dayOf('2016-01-01'), max: dayOf('2024-12-31') }).map(isoFromDay),
);
const birthdayArb = fc.oneof(
  fc.constantFrom(...TRICKY_BIRTHDAYS),
  fc.integer({ min: dayOf('1940-01-01'), max: dayOf('2002-12-31') }).map(isoFromDay),
);
const jobStartArb = fc.oneof(
  { arbitrary: fc.constantFrom('3020-05-17', '2999-12-31'), weight: 2 }, // the 365243-days sentinel, ~1000 years ahead
  { arbitrary: fc.constant(null), weight: 1 },
  {
    arbitrary: fc.constantFrom('2016-02-29', '2019-03-01', '2020-02-29', '2020-03-01', '2024-01-01'),
    weight: 2,
  },
  {
    arbitrary: fc.integer({ min: dayOf('1975-01-01'), max: dayOf('2025-06-30') }).map(isoFromDay),
    weight: 4,
  },
);
const amountArb = fc.oneof(
  fc.integer({ min: 1, max: 50_000_00 }).map((c) => c / 100),
  fc.double({ min: 0.000001, max: 1e6, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0.1, 0.2, 0.3, 100, 1e-6, 2.5e-7, 999_999.999_999_5),
);

const customerArb = fc.record({
  birthday: birthdayArb,
  jobStartDate: jobStartArb,
  flagOwnCar: fc.constantFrom<'Y' | 'N'>('Y', 'N'),
  codeGender: fc.constantFrom<'F' | 'M'>('F', 'M'),
  amtIncomeTotal: fc.integer({ min: 20_000, max: 1_500_000 }).map((x) => x / 2),
});
const loanArb = fc.record({
  customer: fc.integer({ min: 0, max: 3 }),
  loanDate: loanDateArb,
  status: fc.constantFrom<0 | 1>(0, 0, 0, 1),
  loanAmount: amountArb,
});

/** A random history: up to 4 customers, up to 25 loans, ties and leap days likely. */
export const historyArb: fc.Arbitrary<ReferenceLoan[]> = fc
  .tuple(
    fc.array(customerArb, { minLength: 4, maxLength: 4 }),
    fc.array(loanArb, { minLength: 1, maxLength: 25 }),
  )
  .map(([customers, loans]) =>
    loans.map((l, i) => {
      const c = customers[l.customer];
      // birthday must precede the loan (validation guarantees it); shift it back when it does not.
      const birthday = c.birthday < l.loanDate ? c.birthday : '1980-06-15';
      return {
        loanId: 1000 + i * 7,
        id: 5008804 + l.customer,
        loanDate: l.loanDate,
        status: l.status,
        loanAmount: l.loanAmount,
        birthday,
        jobStartDate: c.jobStartDate,
        flagOwnCar: c.flagOwnCar,
        amtIncomeTotal: c.amtIncomeTotal,
        codeGender: c.codeGender,
      };
    }),
  );

/** A fixed history with every edge case named in docs/DATA.md (same-day loans, first loans, sentinels, leap days). */
export function edgeCaseHistory(): ReferenceLoan[] {
  const base = { status: 0 as const, flagOwnCar: 'Y' as const, amtIncomeTotal: 135000 };
  return [
    // customer 1: born on a leap day, three loans on one day, then one later; pensioner sentinel
    {
      ...base,
      loanId: 1,
      id: 5008804,
      loanDate: '2021-02-28',
      loanAmount: 100.5,
      birthday: '1992-02-29',
      jobStartDate: '3020-05-17',
    },
    {
      ...base,
      loanId: 2,
      id: 5008804,
      loanDate: '2021-03-01',
      loanAmount: 50.25,
      birthday: '1992-02-29',
      jobStartDate: '3020-05-17',
    },
    {
      ...base,
      loanId: 3,
      id: 5008804,
      loanDate: '2021-03-01',
      loanAmount: 10,
      birthday: '1992-02-29',
      jobStartDate: '3020-05-17',
      status: 1,
    },
    {
      ...base,
      loanId: 4,
      id: 5008804,
      loanDate: '2021-03-01',
      loanAmount: 0.1,
      birthday: '1992-02-29',
      jobStartDate: '3020-05-17',
    },
    {
      ...base,
      loanId: 5,
      id: 5008804,
      loanDate: '2024-02-29',
      loanAmount: 0.2,
      birthday: '1992-02-29',
      jobStartDate: '3020-05-17',
    },
    // customer 2: job started on a leap day; loans on the anniversary and the day before
    {
      ...base,
      loanId: 6,
      id: 5008805,
      codeGender: 'M',
      loanDate: '2020-02-28',
      loanAmount: 120,
      birthday: '1980-02-29',
      jobStartDate: '2016-02-29',
      flagOwnCar: 'N',
    },
    {
      ...base,
      loanId: 7,
      id: 5008805,
      codeGender: 'M',
      loanDate: '2021-02-28',
      loanAmount: 130,
      birthday: '1980-02-29',
      jobStartDate: '2016-02-29',
      flagOwnCar: 'N',
    },
    {
      ...base,
      loanId: 8,
      id: 5008805,
      codeGender: 'M',
      loanDate: '2021-03-01',
      loanAmount: 140,
      birthday: '1980-02-29',
      jobStartDate: '2016-02-29',
      flagOwnCar: 'N',
    },
    // customer 3: a single loan, job starting the day after the loan (a future start)
    {
      ...base,
      loanId: 9,
      id: 5008806,
      loanDate: '2022-06-30',
      loanAmount: 99.99,
      birthday: '2000-07-01',
      jobStartDate: '2022-07-01',
    },
    // customer 4: the job starts on the loan date (0 years), birthday on the loan date
    {
      ...base,
      loanId: 10,
      id: 5008807,
      loanDate: '2023-05-10',
      loanAmount: 77.7,
      birthday: '2000-05-10',
      jobStartDate: '2023-05-10',
    },
  ];
}
