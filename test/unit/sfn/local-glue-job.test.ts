import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { localFeatureGlueJob } from '#local/sfn/local-glue-job.ts';

/**
 * The local Glue job's contract checks, before any Spark starts (the real run on pyspark is
 * test/integration/sfn/glue-branch.test.ts).
 */
function setup(python?: () => string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'cr-local-glue-'));
  const store = new FsObjectStore(join(dir, 'store'));
  return { store, job: localFeatureGlueJob({ store, tmpDir: join(dir, 'tmp'), python }) };
}

const ARGS = {
  '--input': 's3://features/staging/0123456789abcdef/raw_valid.parquet',
  '--output': 's3://features/staging/0123456789abcdef/spark/',
  '--as_of': '2025-01-31',
};

describe('the local Glue feature job', () => {
  it('takes --input and --output as s3:// URIs and requires --as_of', async () => {
    const { job } = setup(() => '/usr/bin/python3');
    await expect(job({ ...ARGS, '--input': '/tmp/raw_valid.parquet' })).rejects.toMatchObject({
      code: 'BAD_GLUE_ARGUMENTS',
      message: expect.stringContaining('--input'),
    });
    await expect(job({ ...ARGS, '--output': 's3://features/' })).rejects.toMatchObject({
      code: 'BAD_GLUE_ARGUMENTS',
      message: expect.stringContaining('--output'),
    });
    const { '--as_of': _a, ...noDate } = ARGS;
    await expect(job(noDate)).rejects.toMatchObject({
      code: 'BAD_GLUE_ARGUMENTS',
      message: expect.stringContaining('--as_of'),
    });
  });

  it('names the missing staged input in the local object store', async () => {
    const { job } = setup(() => '/usr/bin/python3');
    await expect(job(ARGS)).rejects.toMatchObject({
      code: 'GLUE_INPUT_NOT_FOUND',
      message: expect.stringContaining('staging/0123456789abcdef/raw_valid.parquet'),
    });
  });

  it('fails clearly, before touching the output, when there is no project Python', async () => {
    const { job, store } = setup(() => undefined);
    await store.put('staging/0123456789abcdef/raw_valid.parquet', 'PAR1');
    await expect(job(ARGS)).rejects.toThrow(/no project Python: run `node scripts\/python-env.mjs`/);
    expect(await store.list('staging/0123456789abcdef/spark/')).toEqual([]);
  });
});
