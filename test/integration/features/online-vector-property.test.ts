import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createFeatureViews, openFeatureDuckDb, type FeatureDuckDb } from '#lib/features/duckdb-engine.ts';
import { loadFeatureSql } from '#lib/features/feature-sql.ts';
import {
  ONLINE_FEATURE_NAMES,
  ONLINE_ROW_COLUMNS,
  onlineFeatureVector,
  type CustomerFeatureRow,
} from '#lib/features/online.ts';
import type { ReferenceLoan } from '#lib/features/reference.ts';
import { asFeatureRows, edgeCaseHistory, historyArb, loadRawValid } from './support/raw-loans.ts';

/**
 * docs/DATA.md: the online features of customer C on date D are the features a NEW loan of C on D would
 * get offline. The online row comes from the `online` statement of the feature SQL, the vector from
 * lib/features/online.ts; the offline row from the `features` statement on the history plus that
 * hypothetical loan. Equal value for value, on random histories.
 */
let db: FeatureDuckDb;
beforeAll(async () => {
  db = await openFeatureDuckDb({ threads: 1, memoryLimit: '256MB' });
});
afterAll(() => db.close());

async function onlineRow(loans: readonly ReferenceLoan[], id: number): Promise<CustomerFeatureRow> {
  await loadRawValid(db.connection, loans);
  await createFeatureViews(db.connection);
  const reader = await db.connection.runAndReadAll(
    `SELECT * FROM (${loadFeatureSql().online}) WHERE id = '${id}'`,
  );
  const [row] = reader.getRowObjectsJson();
  const out: Record<string, unknown> = { snapshotId: 'test' };
  for (const c of ONLINE_ROW_COLUMNS) {
    const v = row[c.column];
    out[c.field] = v === null ? null : c.type === 'INTEGER' || c.type === 'DOUBLE' ? Number(v) : String(v);
  }
  return out as unknown as CustomerFeatureRow;
}

async function offlineRowOfNewLoan(loans: readonly ReferenceLoan[], id: number, asOf: string) {
  const own = loans.filter((l) => l.id === id);
  const latest = own.reduce((a, b) =>
    b.loanDate > a.loanDate || (b.loanDate === a.loanDate && b.loanId > a.loanId) ? b : a,
  );
  const newLoan: ReferenceLoan = {
    ...latest,
    loanId: Math.max(...loans.map((l) => l.loanId)) + 1,
    loanDate: asOf,
    loanAmount: 1,
    status: 0,
  };
  await loadRawValid(db.connection, [...loans, newLoan]);
  await createFeatureViews(db.connection);
  const reader = await db.connection.runAndReadAll(
    `SELECT * FROM (${loadFeatureSql().features}) WHERE loan_id = ${newLoan.loanId}`,
  );
  const [row] = asFeatureRows(reader.getRowObjectsJson());
  return Object.fromEntries(ONLINE_FEATURE_NAMES.map((f) => [f, row[f]]));
}

const addDays = (iso: string, days: number) =>
  new Date(Date.parse(`${iso}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

describe('the online feature vector (property test on the SQL queries)', () => {
  it('equals the offline row of a new loan on the last loan date itself (same-day loans do not count)', async () => {
    const loans = edgeCaseHistory(); // customer 5008804: three loans on 2021-03-01, last loan 2024-02-29
    const row = await onlineRow(loans, 5008804);
    expect(onlineFeatureVector(row, '2024-02-29')).toEqual(
      await offlineRowOfNewLoan(loans, 5008804, '2024-02-29'),
    );
    expect(onlineFeatureVector(row, '2024-02-29').nb_previous_loans).toBe(4);
    expect(onlineFeatureVector(row, '2024-03-01').nb_previous_loans).toBe(5);
  });

  it('equals the offline row of a hypothetical next loan on the same date, on random histories', async () => {
    await fc.assert(
      fc.asyncProperty(
        historyArb,
        fc.nat(),
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2000 })),
        async (loans, pick, later) => {
          const ids = [...new Set(loans.map((l) => l.id))];
          const id = ids[pick % ids.length];
          const last = loans
            .filter((l) => l.id === id)
            .reduce((a, l) => (l.loanDate > a ? l.loanDate : a), '0000-00-00');
          const asOf = addDays(last, later);
          const online = onlineFeatureVector(await onlineRow(loans, id), asOf);
          expect(online).toEqual(await offlineRowOfNewLoan(loans, id, asOf));
        },
      ),
      { numRuns: 100 },
    );
  });
});
