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
