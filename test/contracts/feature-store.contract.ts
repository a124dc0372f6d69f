import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { customer, customers } from '../support/feature-rows.ts';

/**
 * The FeatureStore contract (the online store): PGlite locally, Aurora PostgreSQL through the RDS
 * Data API in AWS (on the emulators: PostgreSQL behind data-api-local). `open` gives a store over an
 * empty database; init() is part of the contract.
 */
export interface FeatureStoreSubject {
  store: FeatureStore;
  close?(): Promise<void>;
}

export { customer, customers };

export function featureStoreContract(open: () => Promise<FeatureStoreSubject>): void {
  let subject: FeatureStoreSubject;
  let store: FeatureStore;

  beforeAll(async () => {
    subject = await open();
    store = subject.store;
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await subject?.close?.();
  });

  it('init is idempotent; an empty store has no snapshot, unknown customers are undefined, ping answers', async () => {
    await store.init();
    await store.init();
    expect(await store.currentSnapshot()).toBeUndefined();
    expect(await store.get('5008804')).toBeUndefined();
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('every column type reads back as written: text, integers, doubles bit for bit, dates, nulls', async () => {
    const full = customer(6, 'A');
    const nulls = customer(7, 'A', {
      birthday: null,
      jobStartDate: null,
      flagOwnCar: null,
      nbLoansBeforeLastDate: 0,
      sumLoanAmountBeforeLastDate: 0,
      previousLoanDate: null,
      amtIncomeTotal: null,
    });
    const edges = customer(8, 'A', {
      jobStartDate: '3024-11-02',
      birthday: '1900-01-01',
      flagOwnCar: 0,
      nbLoans: 2_147_483_647,
      sumLoanAmount: 0.1 + 0.2,
      sumLoanAmountBeforeLastDate: 1.7976931348623157e308,
      amtIncomeTotal: 5e-324,
    });
    const text = customer(9, 'A');
    text.id = 'O\'Brien "9" é';
    expect(
      await store.replaceSnapshot('A', [
        [full, nulls],
        [edges, text],
      ]),
    ).toEqual({ rows: 4 });
    expect(await store.currentSnapshot()).toBe('A');
    expect(await store.get('6')).toEqual(full);
    expect(await store.get('7')).toEqual(nulls);
    expect(await store.get('8')).toEqual(edges);
    expect(await store.get(text.id)).toEqual(text);
  });

  it('tags every row with the snapshot being loaded, and a load replaces, never merges', async () => {
    await store.replaceSnapshot('B', [[customer(6, 'stale')]]);
    expect((await store.get('6'))?.snapshotId).toBe('B');
    expect(await store.get('7')).toBeUndefined();
    expect(await store.currentSnapshot()).toBe('B');
  });

  it('a snapshot larger than one request goes in whole', async () => {
    const n = 1_500;
    const batches = [customers('BIG', 0, 700), customers('BIG', 700, 800)];
    expect(await store.replaceSnapshot('BIG', batches)).toEqual({ rows: n });
    for (const id of [0, 699, 700, 1_499]) expect(await store.get(String(id))).toEqual(customer(id, 'BIG'));
    expect(await store.get(String(n))).toBeUndefined();
  }, 120_000);

  it('rolls back a load that fails half way: the previous snapshot stays whole and served', async () => {
    await store.replaceSnapshot('C', [customers('C', 100, 50)]);
    async function* failing(): AsyncGenerator<CustomerFeatureRow[]> {
      yield customers('D', 1000, 600);
      yield customers('D', 1600, 600);
      throw new Error('disk full while reading online.parquet');
    }
    await expect(store.replaceSnapshot('D', failing())).rejects.toThrow(/disk full/);
    expect(await store.currentSnapshot()).toBe('C');
    expect(await store.get('1000')).toBeUndefined();
    expect((await store.get('120'))?.snapshotId).toBe('C');
    await store.replaceSnapshot('E', [customers('E', 100, 10)]);
    expect(await store.currentSnapshot()).toBe('E');
  }, 120_000);

  it('refuses a snapshot with two rows for one customer (duplicate id) and keeps the current one', async () => {
    await expect(
      store.replaceSnapshot('F', [[customer(1, 'F'), customer(2, 'F')], [customer(1, 'F')]]),
    ).rejects.toThrow(/unique|duplicate/i);
    expect(await store.currentSnapshot()).toBe('E');
    expect(await store.get('2')).toBeUndefined();
    expect((await store.get('105'))?.snapshotId).toBe('E');
  });

  it('swaps atomically: a reader sees the old snapshot or the new one, never a mix', async () => {
    await store.replaceSnapshot('OLD', [customers('OLD', 0, 300)]);
    let loadDone = false;
    async function* slowBatches(): AsyncGenerator<CustomerFeatureRow[]> {
      for (let i = 0; i < 10; i++) {
        yield customers('NEW', 200 + i * 30, 30);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const load = store.replaceSnapshot('NEW', slowBatches()).finally(() => {
      loadDone = true;
    });
    // One read at a time, each placed in the world it saw: 250 is in both snapshots, 5 only in the
    // old one, 499 only in the new one. (Reads issued together may straddle the commit: on the
    // Data API each is its own request and connection.) A half-loaded snapshot would show as the
    // new world followed by the old one, or as a value neither world has.
    const worlds: Array<'old' | 'new'> = [];
    const probes: Array<[string, Record<string, 'old' | 'new'>]> = [
      ['499', { undefined: 'old', NEW: 'new' }],
      ['5', { OLD: 'old', undefined: 'new' }],
      ['250', { OLD: 'old', NEW: 'new' }],
    ];
    while (!loadDone) {
      for (const [id, world] of probes) {
        const seen = String((await store.get(id))?.snapshotId);
        expect({ id, seen, world: world[seen] }).toEqual({ id, seen, world: expect.any(String) });
        worlds.push(world[seen]);
      }
      await new Promise((r) => setImmediate(r));
    }
    await load;
    expect(worlds.length).toBeGreaterThan(3);
    const firstNew = worlds.indexOf('new');
    if (firstNew >= 0) expect(worlds.slice(firstNew)).not.toContain('old');
    for (const [id, world] of probes) expect(world[String((await store.get(id))?.snapshotId)]).toBe('new');
    expect(await store.currentSnapshot()).toBe('NEW');
  }, 120_000);

  it('deleteCustomer removes one customer, keeps the others and the current snapshot; a repeat deletes nothing', async () => {
    const quoted = customer(15, 'ERASE');
    quoted.id = "x'; DROP TABLE customer_features; --";
    await store.replaceSnapshot('ERASE', [[...customers('ERASE', 10, 5), quoted]]);
    expect(await store.deleteCustomer('12')).toEqual({ deleted: 1 });
    expect(await store.get('12')).toBeUndefined();
    for (const id of [10, 11, 13, 14]) expect(await store.get(String(id))).toEqual(customer(id, 'ERASE'));
    expect(await store.currentSnapshot()).toBe('ERASE');
    expect(await store.deleteCustomer('12')).toEqual({ deleted: 0 });
    expect(await store.deleteCustomer('5008804')).toEqual({ deleted: 0 });
    // The id is a parameter, never SQL text.
    expect(await store.deleteCustomer(quoted.id)).toEqual({ deleted: 1 });
    expect(await store.get(quoted.id)).toBeUndefined();
    expect(await store.get('10')).toEqual(customer(10, 'ERASE'));
    // The store still loads and swaps after a delete (PGlite purges its files in between).
    expect(await store.replaceSnapshot('AFTER', [customers('AFTER', 10, 3)])).toEqual({ rows: 3 });
    expect(await store.get('12')).toEqual(customer(12, 'AFTER'));
    expect(await store.currentSnapshot()).toBe('AFTER');
  }, 120_000);
}
