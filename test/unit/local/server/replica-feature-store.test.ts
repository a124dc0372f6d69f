import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { FeatureStoreUnavailableError } from '#lib/ports/feature-store.ts';
import { httpErrorFor } from '#lib/serving/http-errors.ts';
import { OnlineSnapshotTable } from '#lib/serving/online-snapshot-table.ts';
import { ReplicaFeatureStore, toWire, type ToPrimary } from '#local/server/replica-feature-store.ts';

function row(
  id: string,
  snapshotId: string,
  nbLoans: number,
  jobStartDate: string | null,
): CustomerFeatureRow {
  return {
    id,
    snapshotId,
    nbLoans,
    sumLoanAmount: 300.1 + nbLoans / 7,
    lastLoanDate: '2021-06-30',
    nbLoansBeforeLastDate: nbLoans - 1,
    sumLoanAmountBeforeLastDate: 200.05,
    previousLoanDate: nbLoans % 2 === 0 ? null : '2020-12-31',
    birthday: '1980-02-29',
    jobStartDate,
    flagOwnCar: nbLoans % 3 === 0 ? null : 1,
    amtIncomeTotal: null,
  };
}

function tableOf(snapshotId: string, rows: CustomerFeatureRow[]): OnlineSnapshotTable {
  const t = new OnlineSnapshotTable(snapshotId, 2);
  t.add(rows);
  return t;
}

function replica(now: { t: number }) {
  const sent: ToPrimary[] = [];
  const store = new ReplicaFeatureStore({
    send: (m) => (sent.push(m), true),
    maxStaleMs: 2_000,
    now: () => now.t,
    callTimeoutMs: 1_000,
  });
  return { store, sent };
}

describe('the snapshot copy sent to serve workers', () => {
  it('a table rebuilt from its data answers every row exactly as the original', () => {
    const rows = [row('1', 's', 1, null), row('2', 's', 2, '2010-01-15'), row('3', 's', 3, '2010-01-15')];
    const original = tableOf('s', rows);
    const copy = OnlineSnapshotTable.fromData(structuredClone(original.toData()));
    expect(copy.rows).toBe(3);
    for (const r of rows) expect(copy.get(r.id)).toEqual(original.get(r.id));
    expect(copy.get('4')).toBeUndefined();
  });
});

describe('ReplicaFeatureStore (a serve worker feature store)', () => {
  it('answers from the copy only while the primary confirmed it less than maxStaleMs ago', async () => {
    const now = { t: 10_000 };
    const { store, sent } = replica(now);
    store.receive({ t: 'snapshot', data: tableOf('s1', [row('1', 's1', 4, null)]).toData() });
    // Not confirmed yet: the lookup goes to the primary.
    const first = store.get('1');
    expect(sent).toEqual([{ t: 'call', n: 1, op: 'get', id: '1' }]);
    store.receive({ t: 'reply', n: 1, row: row('1', 'from-primary', 4, null) });
    expect((await first)?.snapshotId).toBe('from-primary');

    store.receive({ t: 'confirm', snapshotId: 's1', confirmedAt: 9_500 });
    expect((await store.get('1'))?.snapshotId).toBe('s1');
    expect(await store.get('2')).toBeUndefined();
    expect(sent).toHaveLength(1);

    // A confirmation of another snapshot does not freshen this copy.
    now.t = 12_000;
    store.receive({ t: 'confirm', snapshotId: 's2', confirmedAt: 11_900 });
    const stale = store.get('1');
    expect(sent).toHaveLength(2);
    store.receive({ t: 'reply', n: 2, row: undefined });
    expect(await stale).toBeUndefined();
  });

  it('fails as the primary store failed: unavailable is a 503, an input error keeps its code, the primary gone is a 503', async () => {
    const now = { t: 0 };
    const { store } = replica(now);
    const down = store.get('1');
    store.receive({ t: 'reply', n: 1, error: toWire(new FeatureStoreUnavailableError('PGlite closed')) });
    const e1 = await down.catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(FeatureStoreUnavailableError);
    expect(httpErrorFor(e1).statusCode).toBe(503);

    const bad = store.get('x');
    store.receive({
      t: 'reply',
      n: 2,
      error: toWire(new InputError('UNKNOWN_CUSTOMER', 'no such customer')),
    });
    expect(httpErrorFor(await bad.catch((e: unknown) => e)).statusCode).toBe(404);

    const waiting = store.get('1');
    store.disconnected();
    expect(httpErrorFor(await waiting.catch((e: unknown) => e)).statusCode).toBe(503);
  });

  it('a call the primary cannot receive fails at once as unavailable', async () => {
    const store = new ReplicaFeatureStore({ send: () => false, maxStaleMs: 2_000 });
    await expect(store.ping()).rejects.toBeInstanceOf(FeatureStoreUnavailableError);
  });
});
