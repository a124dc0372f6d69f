import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { FEATURE_TABLE_COLUMNS } from '#lib/features/catalog.ts';
import {
  createFeatureViews,
  describeQuery,
  openFeatureDuckDb,
  type FeatureDuckDb,
} from '#lib/features/duckdb-engine.ts';
import { loadFeatureSql } from '#lib/features/feature-sql.ts';
import { referenceFeatures, type ReferenceLoan } from '#lib/features/reference.ts';
import { asFeatureRows, byLoanId, edgeCaseHistory, historyArb, loadRawValid } from './support/raw-loans.ts';

let db: FeatureDuckDb;
beforeAll(async () => {
  db = await openFeatureDuckDb({ threads: 1, memoryLimit: '256MB' });
});
afterAll(() => db.close());

async function sqlFeatures(loans: readonly ReferenceLoan[]) {
  await loadRawValid(db.connection, loans);
  await createFeatureViews(db.connection);
  const reader = await db.connection.runAndReadAll(loadFeatureSql().features);
  return byLoanId(asFeatureRows(reader.getRowObjectsJson()));
}

describe('the feature SQL on DuckDB', () => {
  it('produces the catalog columns, in catalog order, with catalog types', async () => {
    await loadRawValid(db.connection, edgeCaseHistory());
    await createFeatureViews(db.connection);
    const schema = await describeQuery(db.connection, loadFeatureSql().features);
    expect(schema).toEqual(FEATURE_TABLE_COLUMNS.map((c) => ({ name: c.name, type: c.type })));
  });

  it('a same-day loan does not count as previous, and the first loans have 0 previous and no average', async () => {
    const rows = await sqlFeatures(edgeCaseHistory());
    const byId = new Map(rows.map((r) => [r.loan_id, r]));
    expect(byId.get(1)).toMatchObject({
      nb_previous_loans: 0,
      avg_amount_loans_previous: null,
      days_since_previous_loan: null,
    });
    // loans 2, 3, 4 share 2021-03-01: each sees only loan 1
    for (const loanId of [2, 3, 4]) {
      expect(byId.get(loanId)).toMatchObject({
        nb_previous_loans: 1,
        avg_amount_loans_previous: 100.5,
        days_since_previous_loan: 1,
      });
    }
    // loan 5 sees all four earlier loans: (100.5 + 50.25 + 10 + 0.1) / 4
    expect(byId.get(5)?.nb_previous_loans).toBe(4);
    expect(byId.get(5)?.avg_amount_loans_previous).toBe(160.85 / 4);
  });

  it('counts whole years with anniversary semantics, leap-day birthdays turning a year older on 1 March', async () => {
    const rows = new Map((await sqlFeatures(edgeCaseHistory())).map((r) => [r.loan_id, r]));
    expect(rows.get(1)?.age).toBe(28); // born 1992-02-29, on 2021-02-28: not yet 29
    expect(rows.get(2)?.age).toBe(29); // 2021-03-01: 29
    expect(rows.get(5)?.age).toBe(32); // 2024-02-29: the birthday itself counts
    expect(rows.get(10)?.age).toBe(23); // born 2000-05-10, loan on 2023-05-10
    expect(rows.get(9)?.age).toBe(21); // born 2000-07-01, loan on 2022-06-30: the day before the 22nd birthday
    // job started 2016-02-29
    expect(rows.get(6)?.years_on_the_job).toBe(3); // 2020-02-28: the day before the 4th anniversary
    expect(rows.get(7)?.years_on_the_job).toBe(4); // 2021-02-28: no 29 Feb in 2021, not yet
    expect(rows.get(8)?.years_on_the_job).toBe(5); // 2021-03-01
  });

  it('years on the job is null, never negative, for the 365243 sentinel and for a job starting after the loan', async () => {
    const rows = new Map((await sqlFeatures(edgeCaseHistory())).map((r) => [r.loan_id, r]));
    expect(rows.get(1)?.years_on_the_job).toBeNull(); // job_start_date 3020-05-17 (sentinel)
    expect(rows.get(9)?.years_on_the_job).toBeNull(); // starts the day after the loan
    expect(rows.get(10)?.years_on_the_job).toBe(0); // starts on the loan date
  });

  it('maps flag_own_car Y to 1 and N to 0', async () => {
    const rows = new Map((await sqlFeatures(edgeCaseHistory())).map((r) => [r.loan_id, r]));
    expect(rows.get(1)?.flag_own_car).toBe(1);
    expect(rows.get(6)?.flag_own_car).toBe(0);
  });

  it('equals the TypeScript reference row by row on random histories (ties, leap days, sentinels)', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, async (loans) => {
        const actual = await sqlFeatures(loans);
        const expected = byLoanId(referenceFeatures(loans));
        expect(actual).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});
