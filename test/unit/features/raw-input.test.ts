import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { isRawPrefix, resolveRawInput, resolveRawKey } from '#lib/features/raw-input.ts';

/** lib/features/raw-input.ts over the local adapter (its S3 listing is in extract-features-stages.test.ts). */
async function store() {
  const s = new FsObjectStore(mkdtempSync(join(tmpdir(), 'cr-raw-input-')));
  await s.put('raw/2025-01-31/loans.csv', 'a,b\n1,2\n');
  await s.put('raw/2025-02-28/loans.parquet', 'PAR1....PAR1');
  await s.put('raw/2025-02-28/zz-notes.txt', 'not raw');
  await s.put('raw/2025-03-31/loans.csv', ''); // an empty drop is no drop
  await s.put('other/2099-01-01/loans.csv', 'x\n');
  return s;
}

describe('raw input resolution', () => {
  it('a prefix resolves to the greatest non-empty .csv/.parquet key under it, with the size the listing gives', async () => {
    const s = await store();
    expect(await resolveRawInput(s, 'raw/')).toEqual({
      key: 'raw/2025-02-28/loans.parquet',
      sizeBytes: 12,
      prefix: 'raw/',
    });
    expect(await resolveRawInput(s, 'raw/2025-01-31/')).toEqual({
      key: 'raw/2025-01-31/loans.csv',
      sizeBytes: 8,
      prefix: 'raw/2025-01-31/',
    });
    expect(await resolveRawKey(s, 'raw/')).toBe('raw/2025-02-28/loans.parquet');
  });

  it('a key resolves to itself with its size; resolveRawKey leaves a key unchecked, as before', async () => {
    const s = await store();
    expect(await resolveRawInput(s, 'raw/2025-01-31/loans.csv')).toEqual({
      key: 'raw/2025-01-31/loans.csv',
      sizeBytes: 8,
    });
    expect(await resolveRawKey(s, 'raw/missing.csv')).toBe('raw/missing.csv');
  });

  it('RAW_NOT_FOUND for a missing key and for a prefix with no raw file, naming where it looked', async () => {
    const s = await store();
    await expect(resolveRawInput(s, 'raw/missing.csv')).rejects.toMatchObject({
      code: 'RAW_NOT_FOUND',
      message: expect.stringContaining('raw/missing.csv'),
    });
    await expect(resolveRawInput(s, 'raw/2025-03-31/')).rejects.toMatchObject({
      code: 'RAW_NOT_FOUND',
      message: expect.stringMatching(/no \.csv or \.parquet raw file under .*raw\/2025-03-31\/$/),
    });
  });

  it('isRawPrefix is the trailing slash', () => {
    expect([isRawPrefix('raw/'), isRawPrefix('raw/a.csv'), isRawPrefix('raw')]).toEqual([true, false, false]);
  });
});
