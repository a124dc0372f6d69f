import type { CustomerFeatureRow } from '#lib/features/online.ts';

/** A customer row of the online store with plausible values (the cross-process store tests). */
export function testRow(id: string, snapshotId: string, n: number): CustomerFeatureRow {
  return {
    id,
    snapshotId,
    nbLoans: n,
    sumLoanAmount: 100 * n,
    lastLoanDate: '2024-01-15',
    nbLoansBeforeLastDate: n - 1,
    sumLoanAmountBeforeLastDate: 100 * (n - 1),
    previousLoanDate: null,
    birthday: '1990-05-01',
    jobStartDate: null,
    flagOwnCar: 1,
    amtIncomeTotal: 50000.5,
  };
}

/**
 * A customer row whose amounts do not round-trip through few digits (the FeatureStore contract and
 * the PGlite tests: values must read back bit for bit), with any field overridden.
 */
export function customer(
  id: number,
  snapshotId: string,
  over: Partial<CustomerFeatureRow> = {},
): CustomerFeatureRow {
  return {
    id: String(id),
    snapshotId,
    nbLoans: 3,
    sumLoanAmount: 300.1 + id / 7, // not representable in few digits: must round-trip bit for bit
    lastLoanDate: '2021-06-30',
    nbLoansBeforeLastDate: 2,
    sumLoanAmountBeforeLastDate: 200.05,
    previousLoanDate: '2020-12-31',
    birthday: '1980-02-29',
    jobStartDate: '2010-01-15',
    flagOwnCar: 1,
    amtIncomeTotal: 112500.5,
    ...over,
  };
}

export function customers(snapshotId: string, from: number, n: number): CustomerFeatureRow[] {
  return Array.from({ length: n }, (_, i) => customer(from + i, snapshotId));
}
