import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { readOnlineRows } from '#lib/features/snapshot-reader.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { FeatureStoreUnavailableError } from '#lib/ports/feature-store.ts';
import { customer, customers } from '../../support/feature-rows.ts';

const rows = customers;

describe('PgliteFeatureStore (real PGlite in a temp data dir)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cr-pglite-'));
  let store: PgliteFeatureStore;

  beforeAll(() => {
    store = PgliteFeatureStore.shared(dir);
  });
  afterAll(async () => {
    await store.close();
  });

  it('starts empty: no current snapshot, unknown customers are undefined', async () => {
    await store.init();
    await store.init(); // idempotent
    expect(await store.currentSnapshot()).toBeUndefined();
    expect(await store.get('5008804')).toBeUndefined();
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('hands out one instance per data directory', () => {
    expect(PgliteFeatureStore.shared(join(dir, '.'))).toBe(store);
  });

  it('round-trips a row exactly, nulls and dates included', async () => {
    const withNulls = customer(7, 'A', {
      birthday: null,
      jobStartDate: null,
      flagOwnCar: null,
      nbLoansBeforeLastDate: 0,
      sumLoanAmountBeforeLastDate: 0,
      previousLoanDate: null,
      amtIncomeTotal: null,
    });
    const sentinel = customer(8, 'A', { jobStartDate: '3024-11-02', flagOwnCar: 0 });
    const res = await store.replaceSnapshot('A', [[customer(6, 'A'), withNulls], [sentinel]]);
    expect(res).toEqual({ rows: 3 });
    expect(await store.currentSnapshot()).toBe('A');
    expect(await store.get('6')).toEqual(customer(6, 'A'));
    expect(await store.get('7')).toEqual(withNulls);
    expect(await store.get('8')).toEqual(sentinel);
  });

  it('tags every row with the snapshot being loaded, whatever the batch rows say', async () => {
    await store.replaceSnapshot('B', [[customer(6, 'stale')]]);
    expect((await store.get('6'))?.snapshotId).toBe('B');
    expect(await store.get('7')).toBeUndefined(); // a replace, not a merge
  });

  it('keeps the previous snapshot whole when a load fails half way', async () => {
    await store.replaceSnapshot('C', [rows('C', 100, 50)]);
    async function* failing(): AsyncGenerator<CustomerFeatureRow[]> {
      yield rows('D', 1000, 100_000); // big enough to be flushed to staging before the failure
      throw new Error('disk full while reading online.parquet');
    }
    await expect(store.replaceSnapshot('D', failing())).rejects.toThrow(/disk full/);
    expect(await store.currentSnapshot()).toBe('C');
    expect(await store.get('1000')).toBeUndefined();
    expect((await store.get('120'))?.snapshotId).toBe('C');
    // and a later load still works (the staging table was cleaned up)
    await store.replaceSnapshot('E', [rows('E', 100, 10)]);
    expect(await store.currentSnapshot()).toBe('E');
  });

  it('refuses a snapshot with two rows for one customer and keeps the current one', async () => {
    await expect(store.replaceSnapshot('F', [[customer(1, 'F'), customer(1, 'F')]])).rejects.toThrow(
      /unique|duplicate/i,
    );
    expect(await store.currentSnapshot()).toBe('E');
  });

  it('never lets a reader see a half-loaded snapshot', async () => {
    // Old snapshot: ids 0..2999. New one: ids 2000..4999. A reader must see, at every moment,
    // either the old world or the new one: an id only in the new world never appears while
    // the old world is still served, and an id only in the old world never survives the new.
    await store.replaceSnapshot('OLD', [rows('OLD', 0, 3000)]);
    let loadDone = false;
    async function* slowBatches(): AsyncGenerator<CustomerFeatureRow[]> {
      for (let i = 0; i < 30; i++) {
        yield rows('NEW', 2000 + i * 100, 100);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    const load = store.replaceSnapshot('NEW', slowBatches()).finally(() => {
      loadDone = true;
    });
    const seen: Array<{ onlyNew?: string; onlyOld?: string; shared?: string }> = [];
    while (!loadDone) {
      const [onlyNew, onlyOld, shared] = await Promise.all([
        store.get('4999'),
        store.get('5'),
        store.get('2500'),
      ]);
      seen.push({ onlyNew: onlyNew?.snapshotId, onlyOld: onlyOld?.snapshotId, shared: shared?.snapshotId });
      // PGlite answers on the microtask queue: yield to timers so the loader's batches advance.
      await new Promise((r) => setImmediate(r));
    }
    await load;
    expect(seen.length).toBeGreaterThan(3);
    let switched = false;
    for (const s of seen) {
      if (s.shared === 'NEW') switched = true;
      if (switched) expect(s).toEqual({ onlyNew: 'NEW', onlyOld: undefined, shared: 'NEW' });
      else expect(s).toEqual({ onlyNew: undefined, onlyOld: 'OLD', shared: 'OLD' });
    }
    expect(await store.currentSnapshot()).toBe('NEW');
  });

  it('loads online.parquet through DuckDB-written CSV with every double bit-exact, like the row path', async () => {
    const file = join(dir, 'online.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    // awkward doubles: 0.1+0.2, thirds, tiny and huge magnitudes, and nulls where allowed
    await conn.run(`COPY (SELECT CAST(id AS VARCHAR) AS id, 3 AS nb_loans, amount AS sum_loan_amount, DATE '2021-06-30' AS last_loan_date,
        2 AS nb_loans_before_last_date, amount / 3 AS sum_loan_amount_before_last_date,
        CASE WHEN id % 2 = 0 THEN NULL ELSE DATE '2020-12-31' END AS previous_loan_date, DATE '1980-02-29' AS birthday,
        CASE WHEN id % 3 = 0 THEN DATE '3024-11-02' ELSE NULL END AS job_start_date,
        CASE WHEN id % 4 = 0 THEN NULL ELSE CAST(id % 2 AS INTEGER) END AS flag_own_car, amount * 1e6 AS amt_income_total
      FROM (VALUES (1, 0.1::DOUBLE + 0.2::DOUBLE), (2, 1::DOUBLE / 3), (3, 1e-7::DOUBLE), (4, 123456789.123456789::DOUBLE), (5, 2100.123456::DOUBLE), (6, 5e-324::DOUBLE)) t(id, amount))
      TO '${file}' (FORMAT parquet)`);
    conn.closeSync();
    db.closeSync();
    const viaRows: Array<CustomerFeatureRow | undefined> = [];
    await store.replaceSnapshot('ROWS', readOnlineRows(file, 'ROWS'));
    for (let id = 1; id <= 6; id++) viaRows.push(await store.get(String(id)));
    expect(await store.replaceSnapshotFromParquet('PARQUET', file)).toEqual({ rows: 6 });
    for (let id = 1; id <= 6; id++) {
      expect(await store.get(String(id))).toEqual({ ...viaRows[id - 1], snapshotId: 'PARQUET' });
    }
    expect((await store.get('1'))?.sumLoanAmount).toBe(0.1 + 0.2);
    expect((await store.get('2'))?.sumLoanAmountBeforeLastDate).toBe(1 / 3 / 3);
    expect(await store.currentSnapshot()).toBe('PARQUET');
  });

  it('refuses an online.parquet without the online columns and keeps the current snapshot', async () => {
    const file = join(dir, 'bad.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`COPY (SELECT '1' AS id, 3 AS nb_loans) TO '${file}' (FORMAT parquet)`);
    conn.closeSync();
    db.closeSync();
    await expect(store.replaceSnapshotFromParquet('BAD', file)).rejects.toThrow(
      /lacks the online column\(s\) sum_loan_amount/,
    );
    expect(await store.currentSnapshot()).toBe('PARQUET');
    await store.replaceSnapshot('NEW', [rows('NEW', 2000, 3000)]);
  });

  it('persists across a close and a reopen of the data directory', async () => {
    await store.close();
    await expect(store.get('2500')).rejects.toBeInstanceOf(FeatureStoreUnavailableError);
    store = PgliteFeatureStore.shared(dir);
    expect(await store.currentSnapshot()).toBe('NEW');
    expect(await store.get('2500')).toEqual(customer(2500, 'NEW'));
  });
});
