import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { customer, customers } from '../../../contracts/feature-store.contract.ts';

/** Every file under dir whose bytes contain text. */
function filesMentioning(dir: string, text: string): string[] {
  const needle = Buffer.from(text);
  const hits: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    if (readFileSync(file).includes(needle)) hits.push(file.slice(dir.length + 1));
  }
  return hits;
}

describe('PgliteFeatureStore.deleteCustomer purges the row from the data directory', () => {
  it('before: the id is in the WAL, the table, its index and the statistics; after: in no file, the others intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-pglite-purge-'));
    const erased = '5009999123';
    const rows = [...customers('S', 5_000_000, 3_000), customer(Number(erased), 'S')];
    const store = new PgliteFeatureStore(dir);
    await store.replaceSnapshot('S', [rows]);
    await store.close();
    // ANALYZE keeps sample values of the id column in pg_statistic (histogram bounds); the
    // store never runs it, but a person may (or a future autovacuum), so the purge must cover it.
    const db = await PGlite.create(dir);
    await db.exec('ANALYZE customer_features; CHECKPOINT');
    const stats = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'customer_features' AND attname = 'id'",
    );
    expect(stats.rows[0].n).toBe(1);
    await db.close();
    expect(filesMentioning(dir, erased).length).toBeGreaterThan(0);

    const again = new PgliteFeatureStore(dir);
    expect(await again.deleteCustomer(erased)).toEqual({ deleted: 1 });
    expect(await again.get(erased)).toBeUndefined();
    expect(await again.get('5000123')).toEqual(customer(5_000_123, 'S'));
    await again.close();
    expect(filesMentioning(dir, erased)).toEqual([]);

    // The directory opens again, serves the others, and loads the next snapshot.
    const reopened = new PgliteFeatureStore(dir);
    expect(await reopened.currentSnapshot()).toBe('S');
    expect(await reopened.get('5002999')).toEqual(customer(5_002_999, 'S'));
    expect(await reopened.replaceSnapshot('T', [customers('T', 1, 2)])).toEqual({ rows: 2 });
    await reopened.close();
  }, 120_000);
});
