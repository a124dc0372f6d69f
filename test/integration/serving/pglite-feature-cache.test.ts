import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { FeatureStoreUnavailableError } from '#lib/ports/feature-store.ts';
import { CachedFeatureStore } from '#lib/serving/cached-feature-store.ts';

function customer(id: number, snapshotId: string, nbLoans: number): CustomerFeatureRow {
  return {
    id: String(id),
    snapshotId,
    nbLoans,
    sumLoanAmount: 300.1 + id / 7, // must round-trip bit for bit through PGlite and the copy
    lastLoanDate: '2021-06-30',
    nbLoansBeforeLastDate: nbLoans - 1,
    sumLoanAmountBeforeLastDate: 200.05,
    previousLoanDate: id % 3 === 0 ? null : '2020-12-31',
    birthday: '1980-02-29',
    jobStartDate: id % 4 === 0 ? null : '2010-01-15',
    flagOwnCar: id % 5 === 0 ? null : ((id % 2) as 0 | 1),
    amtIncomeTotal: id % 6 === 0 ? null : 112500.5,
  };
}

const rows = (snapshotId: string, n: number, nbLoans: number) =>
  Array.from({ length: n }, (_, i) => customer(5008804 + i, snapshotId, nbLoans));

describe('the in-memory copy of the PGlite online table (real PGlite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cr-pglite-cache-'));
  let store: PgliteFeatureStore;

  beforeAll(async () => {
    store = new PgliteFeatureStore(dir);
    await store.init();
  });
  afterAll(async () => {
    await store.close();
  });

  it('scanRows pages through the whole live table in id order, each row as get() returns it', async () => {
    await store.replaceSnapshot('snap-1', [rows('snap-1', 25, 4)]);
    const pages: CustomerFeatureRow[][] = [];
    for await (const page of store.scanRows(10)) pages.push(page);
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    const all = pages.flat();
    expect(all.map((r) => r.id)).toEqual([...all.map((r) => r.id)].sort());
    for (const r of all) expect(r).toEqual(await store.get(r.id));
  });

  it('answers exactly what the store answers, and follows a newly published snapshot', async () => {
    const errors: unknown[] = [];
    const cache = await new CachedFeatureStore(store, { pollMs: 20, onError: (e) => errors.push(e) }).start();
    try {
      expect(cache.cached).toEqual({ snapshotId: 'snap-1', rows: 25 });
      for (const r of rows('snap-1', 25, 4)) expect(await cache.get(r.id)).toEqual(await store.get(r.id));
      expect(await cache.get('9000000001')).toBeUndefined();

      // Published on the store itself (as `features publish` does), not through the cache.
      await store.replaceSnapshot('snap-2', [rows('snap-2', 30, 9)]);
      for (let i = 0; i < 300 && cache.cached?.snapshotId !== 'snap-2'; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(cache.cached).toEqual({ snapshotId: 'snap-2', rows: 30 });
      expect(await cache.get('5008833')).toEqual(await store.get('5008833'));
      expect((await cache.get('5008833'))?.nbLoans).toBe(9);
      expect(errors).toEqual([]);
    } finally {
      await cache.close();
    }
  });

  it('a closed store is unavailable through the copy once the copy is stale', async () => {
    let time = 0;
    const cache = new CachedFeatureStore(store, {
      maxStaleMs: 1000,
      now: () => time,
      onError: () => undefined,
    });
    await cache.refresh();
    await store.close();
    time = 500;
    await cache.refresh();
    expect((await cache.get('5008804'))?.snapshotId).toBe('snap-2');
    time = 1600;
    await expect(cache.get('5008804')).rejects.toBeInstanceOf(FeatureStoreUnavailableError);
    await cache.close();
  });
});
