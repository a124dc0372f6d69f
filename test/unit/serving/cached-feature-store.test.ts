import { describe, expect, it } from '@jest/globals';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { FeatureStoreUnavailableError } from '#lib/ports/feature-store.ts';
import {
  CachedFeatureStore,
  isScannable,
  type ScannableFeatureStore,
} from '#lib/serving/cached-feature-store.ts';
import { OnlineSnapshotTable, SnapshotChangedError } from '#lib/serving/online-snapshot-table.ts';
import { customerRow, MemoryFeatureStore } from './fake-ports.ts';

/** A scannable store whose snapshot the test publishes, switches off, or swaps in the middle of a scan. */
class ScannableStore implements ScannableFeatureStore {
  down = false;
  gets = 0;
  scans = 0;
  pageRows = 2;
  /** Called between two pages of a scan (to publish mid-read). */
  betweenPages?: () => void;
  private snapshot?: { id: string; rows: Map<string, CustomerFeatureRow> };

  publish(id: string, rows: CustomerFeatureRow[]): void {
    this.snapshot = { id, rows: new Map(rows.map((r) => [r.id, { ...r, snapshotId: id }])) };
  }

  private check(): void {
    if (this.down) throw new FeatureStoreUnavailableError('connection refused (test)');
  }

  async init(): Promise<void> {}
  async replaceSnapshot(
    snapshotId: string,
    batches: Iterable<CustomerFeatureRow[]>,
  ): Promise<{ rows: number }> {
    const rows = [...batches].flat();
    this.publish(snapshotId, rows);
    return { rows: rows.length };
  }
  async get(id: string): Promise<CustomerFeatureRow | undefined> {
    this.check();
    this.gets++;
    return this.snapshot?.rows.get(id);
  }
  async deleteCustomer(id: string): Promise<{ deleted: number }> {
    this.check();
    return { deleted: this.snapshot?.rows.delete(id) ? 1 : 0 };
  }
  async currentSnapshot(): Promise<string | undefined> {
    this.check();
    return this.snapshot?.id;
  }
  async ping(): Promise<void> {
    this.check();
  }
  async close(): Promise<void> {}
  async *scanRows(): AsyncIterable<CustomerFeatureRow[]> {
    this.check();
    this.scans++;
    let first = true;
    let after = '';
    for (;;) {
      if (!first) this.betweenPages?.();
      first = false;
      const rows = [...(this.snapshot?.rows.values() ?? [])]
        .filter((r) => r.id > after)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      const page = rows.slice(0, this.pageRows);
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1].id;
    }
  }
}

const ids = ['5008804', '5008805', '5008806', '5008807', '5008808'];
const snapshotRows = (nbLoans: number) => ids.map((id) => customerRow({ id, nbLoans }));

function cacheOver(store: ScannableStore, maxStaleMs = 1000) {
  let time = 0;
  const errors: unknown[] = [];
  const cache = new CachedFeatureStore(store, {
    maxStaleMs,
    now: () => time,
    onError: (e) => errors.push(e),
  });
  return { cache, errors, advance: (ms: number) => (time += ms) };
}

describe('OnlineSnapshotTable', () => {
  it('gives back exactly the rows it was given, nulls and date texts included', () => {
    const rows = [
      customerRow({
        id: '1',
        snapshotId: 's',
        sumLoanAmount: 300.1 + 1 / 7,
        amtIncomeTotal: null,
        flagOwnCar: null,
      }),
      customerRow({
        id: '2',
        snapshotId: 's',
        previousLoanDate: null,
        birthday: null,
        jobStartDate: '2980-12-31',
        flagOwnCar: 0,
      }),
      customerRow({ id: '3', snapshotId: 's', nbLoansBeforeLastDate: 0, sumLoanAmountBeforeLastDate: 0 }),
    ];
    const table = new OnlineSnapshotTable('s', 1); // capacity 1: growing is exercised too
    table.add(rows.slice(0, 1));
    table.add(rows.slice(1));
    expect(table.rows).toBe(3);
    for (const r of rows) expect(table.get(r.id)).toEqual(r);
    expect(table.get('4')).toBeUndefined();
  });

  it('refuses a row of another snapshot: the table was swapped while it was read', () => {
    const table = new OnlineSnapshotTable('s');
    expect(() => table.add([customerRow({ id: '1', snapshotId: 't' })])).toThrow(SnapshotChangedError);
  });
});

describe('CachedFeatureStore', () => {
  it('is used only for stores that can be scanned', () => {
    expect(isScannable(new ScannableStore())).toBe(true);
    expect(isScannable(new MemoryFeatureStore())).toBe(false);
  });

  it('an erased customer is gone at once, and the copy is read again without it (same snapshot id)', async () => {
    const store = new ScannableStore();
    store.publish('snap-1', snapshotRows(4));
    const { cache } = cacheOver(store);
    await cache.refresh();
    expect(await cache.get('5008806')).toBeDefined();
    expect(await cache.deleteCustomer('5008806')).toEqual({ deleted: 1 });
    expect(await cache.get('5008806')).toBeUndefined();
    await cache.refresh();
    expect(cache.cached).toEqual({ snapshotId: 'snap-1', rows: 4 });
    expect(await cache.get('5008806')).toBeUndefined();
    expect(await cache.deleteCustomer('5008806')).toEqual({ deleted: 0 });
  });

  it('answers known and unknown customers from memory once the current snapshot is loaded', async () => {
    const store = new ScannableStore();
    store.publish('snap-1', snapshotRows(4));
    const { cache } = cacheOver(store);
    await cache.refresh();
    expect(cache.cached).toEqual({ snapshotId: 'snap-1', rows: 5 });
    expect(await cache.get('5008806')).toEqual(
      customerRow({ id: '5008806', snapshotId: 'snap-1', nbLoans: 4 }),
    );
    expect(await cache.get('9999999')).toBeUndefined();
    expect(store.gets).toBe(0);
  });

  it('serves a newly published snapshot after the next poll, and the store meanwhile once the copy is stale', async () => {
    const store = new ScannableStore();
    store.publish('snap-1', snapshotRows(4));
    const { cache, advance } = cacheOver(store, 1000);
    await cache.refresh();
    store.publish('snap-2', snapshotRows(9));
    // Not yet polled, still within the staleness bound: the old snapshot.
    advance(500);
    expect((await cache.get('5008804'))?.snapshotId).toBe('snap-1');
    // Past the bound without a confirmation: the store answers, with the new snapshot.
    advance(600);
    expect(await cache.get('5008804')).toMatchObject({ snapshotId: 'snap-2', nbLoans: 9 });
    expect(store.gets).toBe(1);
    await cache.refresh();
    expect(cache.cached).toEqual({ snapshotId: 'snap-2', rows: 5 });
    expect(await cache.get('5008804')).toMatchObject({ snapshotId: 'snap-2', nbLoans: 9 });
    expect(store.gets).toBe(1);
  });

  it('an unchanged snapshot is confirmed without reading the table again', async () => {
    const store = new ScannableStore();
    store.publish('snap-1', snapshotRows(4));
    const { cache } = cacheOver(store);
    await cache.refresh();
    await cache.refresh();
    await cache.refresh();
    expect(store.scans).toBe(1);
  });

  it('drops a read that saw a swap between two pages and loads the newer snapshot on the next poll', async () => {
    const store = new ScannableStore();
    store.publish('snap-1', snapshotRows(4));
    store.betweenPages = () => {
      store.betweenPages = undefined;
      store.publish('snap-2', snapshotRows(9));
    };
    const { cache, errors } = cacheOver(store);
    await cache.refresh();
    expect(cache.cached).toBeUndefined();
    expect(await cache.get('5008804')).toMatchObject({ snapshotId: 'snap-2' }); // from the store
    await cache.refresh();
    expect(cache.cached).toEqual({ snapshotId: 'snap-2', rows: 5 });
    expect(errors).toEqual([]);
  });

  it('a store that goes down is still unavailable once the copy is stale, and the copy comes back with it', async () => {
    const store = new ScannableStore();
    store.publish('snap-1', snapshotRows(4));
    const { cache, errors, advance } = cacheOver(store, 1000);
    await cache.refresh();
    store.down = true;
    advance(500);
    await cache.refresh(); // fails: reported, the copy is not confirmed
    expect(errors).toHaveLength(1);
    expect((await cache.get('5008804'))?.snapshotId).toBe('snap-1'); // still within the bound
    advance(600);
    await expect(cache.get('5008804')).rejects.toBeInstanceOf(FeatureStoreUnavailableError);
    store.down = false;
    await cache.refresh();
    expect((await cache.get('5008804'))?.snapshotId).toBe('snap-1');
    expect(store.scans).toBe(1);
  });

  it('with no current snapshot every lookup goes to the store', async () => {
    const store = new ScannableStore();
    const { cache } = cacheOver(store);
    await cache.refresh();
    expect(cache.cached).toBeUndefined();
    expect(await cache.get('5008804')).toBeUndefined();
    expect(store.gets).toBe(1);
  });

  it('a snapshot replaced through the cache is answered by the store until the copy has caught up', async () => {
    const store = new ScannableStore();
    store.publish('snap-1', snapshotRows(4));
    const { cache } = cacheOver(store);
    await cache.refresh();
    await cache.replaceSnapshot('snap-2', [snapshotRows(9)]);
    expect(await cache.get('5008804')).toMatchObject({ snapshotId: 'snap-2' });
    await cache.refresh();
    expect(cache.cached?.snapshotId).toBe('snap-2');
  });

  it('polls on its own once started, and stops when closed', async () => {
    const store = new ScannableStore();
    store.publish('snap-1', snapshotRows(4));
    const cache = await new CachedFeatureStore(store, { pollMs: 10 }).start();
    expect(cache.cached?.snapshotId).toBe('snap-1');
    store.publish('snap-2', snapshotRows(9));
    for (let i = 0; i < 300 && cache.cached?.snapshotId !== 'snap-2'; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(cache.cached?.snapshotId).toBe('snap-2');
    await cache.close();
    expect(cache.cached).toBeUndefined();
  });
});
