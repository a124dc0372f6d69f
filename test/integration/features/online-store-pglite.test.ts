import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { FeatureStoreUnavailableError } from '#lib/ports/feature-store.ts';

function customer(id: number, snapshotId: string, over: Partial<CustomerFeatureRow> = {}): CustomerFeatureRow {
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

function rows(snapshotId: string, from: number, n: number): CustomerFeatureRow[] {
  return Array.from({ length: n }, (_, i) => customer(from + i, snapshotId));
}

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
    const withNulls = customer(7, 'A', { birthday: null, jobStartDate: null, flagOwnCar: null, nbLoansBeforeLastDate: 0, sumLoanAmountBeforeLastDate: 0, previousLoanDate: null, amtIncomeTotal: null });
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
    await expect(store.replaceSnapshot('F', [[customer(1, 'F'), customer(1, 'F')]])).rejects.toThrow(/unique|duplicate/i);
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
      const [onlyNew, onlyOld, shared] = await Promise.all([store.get('4999'), store.get('5'), store.get('2500')]);
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

  it('persists across a close and a reopen of the data directory', async () => {
    await store.close();
    await expect(store.get('2500')).rejects.toBeInstanceOf(FeatureStoreUnavailableError);
    store = PgliteFeatureStore.shared(dir);
    expect(await store.currentSnapshot()).toBe('NEW');
    expect(await store.get('2500')).toEqual(customer(2500, 'NEW'));
  });
});
