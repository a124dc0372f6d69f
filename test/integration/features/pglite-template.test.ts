import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';

function customer(id: string, snapshotId: string): CustomerFeatureRow {
  return {
    id,
    snapshotId,
    nbLoans: 2,
    sumLoanAmount: 10.5,
    lastLoanDate: '2022-01-31',
    nbLoansBeforeLastDate: 1,
    sumLoanAmountBeforeLastDate: 4.25,
    previousLoanDate: '2021-12-01',
    birthday: '1990-02-28',
    jobStartDate: null,
    flagOwnCar: 0,
    amtIncomeTotal: 1000,
  };
}

describe('PgliteFeatureStore: new data directories come from an initdb template', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cr-pglite-template-'));
  const template = join(dir, 'cache', 'initdb');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds the template once, then copies it into each new (missing or empty) data directory; the stores are independent', async () => {
    const first = new PgliteFeatureStore(join(dir, 'a'), { template });
    await first.replaceSnapshot('S1', [[customer('1', 'S1')]]);
    expect(existsSync(join(template, 'PG_VERSION'))).toBe(true);

    mkdirSync(join(dir, 'b')); // an empty directory (ensureHome creates it) counts as new
    const second = new PgliteFeatureStore(join(dir, 'b'), { template });
    expect(await second.currentSnapshot()).toBeUndefined();
    expect(await second.get('1')).toBeUndefined();
    await second.replaceSnapshot('S2', [[customer('2', 'S2')]]);
    expect(await first.get('2')).toBeUndefined();
    expect((await first.get('1'))?.snapshotId).toBe('S1');
    await Promise.all([first.close(), second.close()]);

    // Reopened from disk, not from the template: the data is still there.
    const reopened = new PgliteFeatureStore(join(dir, 'b'), { template });
    expect((await reopened.get('2'))?.sumLoanAmountBeforeLastDate).toBe(4.25);
    await reopened.close();
    // Nothing half-made is left next to the directories.
    expect(readdirSync(dir).sort()).toEqual(['a', 'b', 'cache']);
    expect(readdirSync(join(dir, 'cache'))).toEqual(['initdb']);
  });

  it('without a template (false) a new directory is initialised by PGlite itself', async () => {
    const store = new PgliteFeatureStore(join(dir, 'plain'), { template: false });
    expect(await store.currentSnapshot()).toBeUndefined();
    await store.close();
    expect(existsSync(join(dir, 'plain', 'PG_VERSION'))).toBe(true);
  });
});
