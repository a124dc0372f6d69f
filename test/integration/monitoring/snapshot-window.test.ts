import { afterAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { readSnapshotWindow } from '#lib/monitoring/snapshot-window.ts';

/**
 * The window the drift check compares, read by DuckDB from a snapshot in the offline store's
 * layout: 100 loans, ids 0..99, loan i on 2021-12-31 minus (i div 10) days (10 loans a day over
 * 10 days), x = i with every 7th missing, split over two part files.
 */
const work = mkdtempSync(join(tmpdir(), 'cr-drift-window-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function snapshotStore(): Promise<FsObjectStore> {
  const store = new FsObjectStore(join(work, `store-${Math.random().toString(36).slice(2)}`));
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    for (const [part, where] of [
      ['part-00000', 'i < 50'],
      ['part-00001', 'i >= 50'],
    ] as const) {
      const file = join(work, `${part}.parquet`);
      await c.run(`COPY (SELECT i AS loan_id, DATE '2021-12-31' - (i // 10)::INTEGER AS loan_date,
                     CASE WHEN i % 7 = 0 THEN NULL ELSE i END AS x FROM range(100) t(i) WHERE ${where}) TO '${file}' (FORMAT parquet)`);
      await store.upload(file, `features/snapshot=w1/${part}.parquet`);
    }
  } finally {
    c.closeSync();
    db.closeSync();
  }
  await store.put('features/snapshot=w1/online.parquet', 'not a shard');
  await store.put(
    'features/snapshot=w1/manifest.json',
    JSON.stringify({ snapshotId: 'w1', timeColumn: 'loan_date', idColumns: ['loan_id'] }),
  );
  await store.put('features/CURRENT', JSON.stringify({ snapshotId: 'w1' }));
  return store;
}

const sorted = (a: Float64Array) => Array.from(a).sort((p, q) => p - q);

describe('the drift window', () => {
  it('is the loans of the last N days ending at the newest loan date, over every shard', async () => {
    const out = await readSnapshotWindow({
      store: await snapshotStore(),
      columns: ['x', 'nope'],
      windowDays: 3,
      minRows: 1,
      tmpDir: work,
    });
    if (!out.found) throw new Error(out.reason);
    expect(out.window).toEqual({
      snapshotId: 'w1',
      from: '2021-12-29',
      to: '2021-12-31',
      windowDays: 3,
      extended: false,
      rows: 30,
      rowsInSnapshot: 100,
    });
    // Loans 0..29 are the last three days; 0, 7, 14, 21, 28 are missing (NaN).
    const x = out.values.get('x') as Float64Array;
    expect(x.filter(Number.isNaN)).toHaveLength(5);
    expect(sorted(x.filter((v) => !Number.isNaN(v)))).toEqual(
      Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 7 !== 0),
    );
    expect(out.values.has('nope')).toBe(false);
  });

  it('takes the newest minRows rows when the window holds fewer, cutting the boundary day by id', async () => {
    const out = await readSnapshotWindow({
      store: await snapshotStore(),
      columns: ['x'],
      windowDays: 1,
      minRows: 25,
      tmpDir: work,
    });
    if (!out.found) throw new Error(out.reason);
    expect(out.window).toMatchObject({ from: '2021-12-29', to: '2021-12-31', extended: true, rows: 25 });
    // Days 31 and 30 (loans 0..19), then the five highest ids of 2021-12-29 (25..29).
    const x = out.values.get('x') as Float64Array;
    expect(sorted(x.filter((v) => !Number.isNaN(v)))).toEqual([
      1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 25, 26, 27, 29,
    ]);
  });

  it('says why there is nothing to compare: no CURRENT, no manifest, no shard', async () => {
    const empty = new FsObjectStore(join(work, 'empty'));
    expect(await readSnapshotWindow({ store: empty, columns: ['x'], tmpDir: work })).toEqual({
      found: false,
      reason: expect.stringContaining('no published feature snapshot'),
    });
    await empty.put('features/snapshot=half/part-00000.parquet', 'x');
    expect(
      await readSnapshotWindow({ store: empty, columns: ['x'], tmpDir: work, snapshotId: 'half' }),
    ).toEqual({ found: false, reason: expect.stringContaining('not a finished snapshot') });
    await empty.put('features/snapshot=bare/manifest.json', '{}');
    expect(
      await readSnapshotWindow({ store: empty, columns: ['x'], tmpDir: work, snapshotId: 'bare' }),
    ).toEqual({ found: false, reason: expect.stringContaining('no part-*.parquet') });
  });
});
