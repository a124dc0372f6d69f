import { describe, expect, it } from '@jest/globals';
import { ONLINE_FEATURE_NAMES, onlineFeatureVector, type CustomerFeatureRow } from '#lib/features/online.ts';
import { InputError } from '#lib/errors.ts';

const row: CustomerFeatureRow = {
  id: '5008804',
  snapshotId: 'snap1',
  nbLoans: 4,
  sumLoanAmount: 400,
  lastLoanDate: '2022-03-10',
  nbLoansBeforeLastDate: 2,
  sumLoanAmountBeforeLastDate: 150,
  previousLoanDate: '2021-12-01',
  birthday: '1990-02-28',
  jobStartDate: '2015-03-10',
  flagOwnCar: 1,
  amtIncomeTotal: 90000,
};

describe('onlineFeatureVector', () => {
  it('counts every loan as previous for a new loan after the last loan date', () => {
    expect(onlineFeatureVector(row, '2022-03-11')).toEqual({
      nb_previous_loans: 4,
      avg_amount_loans_previous: 100,
      age: 32,
      years_on_the_job: 7,
      flag_own_car: 1,
      days_since_previous_loan: 1,
      amt_income_total: 90000,
    });
  });

  it('a same-day loan does not count as previous: on the last loan date only earlier days count', () => {
    const v = onlineFeatureVector(row, '2022-03-10');
    expect(v.nb_previous_loans).toBe(2);
    expect(v.avg_amount_loans_previous).toBe(75);
    expect(v.days_since_previous_loan).toBe(99); // 2021-12-01 -> 2022-03-10
    expect(v.years_on_the_job).toBe(7); // the anniversary itself counts
  });

  it('gives a null average and recency when every loan is on the last loan date and asOf is that date', () => {
    const v = onlineFeatureVector(
      { ...row, nbLoansBeforeLastDate: 0, sumLoanAmountBeforeLastDate: 0, previousLoanDate: null },
      '2022-03-10',
    );
    expect(v).toMatchObject({
      nb_previous_loans: 0,
      avg_amount_loans_previous: null,
      days_since_previous_loan: null,
    });
  });

  it('uses anniversary semantics for age (a 29 February birthday turns over on 1 March)', () => {
    const leap = { ...row, birthday: '2000-02-29', lastLoanDate: '2020-01-01' };
    expect(onlineFeatureVector(leap, '2023-02-28').age).toBe(22);
    expect(onlineFeatureVector(leap, '2023-03-01').age).toBe(23);
    expect(onlineFeatureVector(leap, '2024-02-29').age).toBe(24);
  });

  it('has no years on the job before the job starts (the 365243 sentinel), never a negative number', () => {
    expect(
      onlineFeatureVector({ ...row, jobStartDate: '3022-01-01' }, '2023-01-01').years_on_the_job,
    ).toBeNull();
    expect(onlineFeatureVector({ ...row, jobStartDate: null }, '2023-01-01').years_on_the_job).toBeNull();
  });

  it('refuses a date before the last loan (later loans would leak in)', () => {
    expect(() => onlineFeatureVector(row, '2022-03-09')).toThrow(InputError);
    try {
      onlineFeatureVector(row, '2022-03-09');
    } catch (e) {
      expect((e as InputError).code).toBe('AS_OF_BEFORE_SNAPSHOT');
    }
  });

  it('refuses an impossible date', () => {
    expect(() => onlineFeatureVector(row, '2023-02-30')).toThrow(/YYYY-MM-DD/);
  });

  it('returns exactly the offline feature columns, in the catalog order', async () => {
    const { FEATURE_NAMES } = await import('#lib/features/catalog.ts');
    expect([...ONLINE_FEATURE_NAMES]).toEqual([...FEATURE_NAMES]);
    expect(Object.keys(onlineFeatureVector(row, '2023-01-01'))).toEqual([...FEATURE_NAMES]);
  });
});
