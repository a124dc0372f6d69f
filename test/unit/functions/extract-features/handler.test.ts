import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import {
  createHandler,
  parseExtractEvent,
  type BuildFeaturesFn,
  type ExtractFeaturesResult,
} from '#functions/extract-features/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { readCurrentSnapshot, snapshotKeys } from '#lib/features/publish.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { InputError } from '#lib/errors.ts';
import { PublishingMemoryFeatureStore } from '../../../support/memory-feature-store.ts';

const context = { functionName: 'extract-features', awsRequestId: 'req-1' } as unknown as Context;
const event = (name: string): unknown => JSON.parse(readFileSync(join('events', name), 'utf8'));

const MemoryFeatureStore = PublishingMemoryFeatureStore;

/**
 * Stands in for lib/features/build.ts: writes a finished snapshot directory (manifest last)
 * whose id depends on the input bytes, and records what it was asked.
 */
function fakeBuild(calls: Array<{ input: string; asOf?: string; bytes: string }>): BuildFeaturesFn {
  return async ({ input, out, asOf }) => {
    const bytes = readFileSync(input, 'utf8');
    calls.push({ input, asOf, bytes });
    const { snapshotDir } = await import('../../../integration/features/publish-fixture.ts');
    const built = await snapshotDir(`s${bytes.length}`, [5008804, 5008805]);
    mkdirSync(out, { recursive: true });
    for (const f of readdirSync(built)) writeFileSync(join(out, f), readFileSync(join(built, f)));
    return { snapshotId: `s${bytes.length}`, rowsIn: 3, rowsValid: 2, rowsQuarantined: 1 };
  };
}

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'cr-extract-'));
  const objectStore = new FsObjectStore(join(root, 'store'));
  const featureStore = new MemoryFeatureStore();
  const calls: Array<{ input: string; asOf?: string; bytes: string }> = [];
  const tmp = join(root, 'tmp');
  mkdirSync(tmp);
  const handler = createHandler({
    rawStore: objectStore,
    rawBucket: 'credit-risk-dev-raw-123456789012',
    featuresStore: objectStore,
    featureStore,
    buildFeatures: fakeBuild(calls),
    tmpDir: tmp,
    clock: fixedClock('2025-03-01'),
  });
  return { objectStore, featureStore, calls, handler, tmp };
}

describe('extract-features handler', () => {
  it('builds and publishes the raw file named by the sample S3 notification (URL-decoded key)', async () => {
    const { objectStore, featureStore, calls, handler, tmp } = setup();
    await objectStore.put('raw/2025/03/loans march.csv', 'id,loan_id\n1,1\n');
    const result = await handler(event('extract-features-s3.json'), context);
    expect(result).toEqual({
      snapshotId: 's15',
      rowsIn: 3,
      rowsValid: 2,
      rowsQuarantined: 1,
      input: 'raw/2025/03/loans march.csv',
      alreadyCurrent: false,
    });
    expect(calls).toEqual([
      { input: expect.stringMatching(/loans march\.csv$/), asOf: undefined, bytes: 'id,loan_id\n1,1\n' },
    ]);
    expect((await readCurrentSnapshot(objectStore))?.snapshotId).toBe('s15');
    expect(await objectStore.head(snapshotKeys('s15').part)).toBeDefined();
    expect(await featureStore.currentSnapshot()).toBe('s15');
    expect(readdirSync(tmp)).toEqual([]); // scratch space cleaned up
  });

  it('takes the state machine form {input, asOf} and passes asOf to the build; a re-run is already current', async () => {
    const { objectStore, calls, handler } = setup();
    await objectStore.put('raw/2025/03/loans march.csv', 'id,loan_id\n1,1\n');
    const first = (await handler(event('extract-features-direct.json'), context)) as ExtractFeaturesResult;
    expect(calls[0].asOf).toBe('2025-03-01');
    expect(first.alreadyCurrent).toBe(false);
    const again = await handler(event('extract-features-direct.json'), context);
    expect(again).toEqual({ ...first, alreadyCurrent: true });
  });

  it('reads the newest raw file under a prefix (the state machine default `raw/`, used by scheduled and drift retraining)', async () => {
    const { objectStore, calls, handler } = setup();
    await objectStore.put('raw/2025/02/loans.csv', 'id,loan_id\n1,1\n');
    await objectStore.put('raw/2025/03/loans.parquet.txt', 'not a raw file');
    await objectStore.put('raw/2025/03/loans.csv', 'id,loan_id\n1,1\n2,2\n');
    await objectStore.put('raw/2025/04/empty.csv', ''); // an empty object is no drop
    const result = (await handler({ input: 'raw/' }, context)) as ExtractFeaturesResult;
    expect(result.input).toBe('raw/2025/03/loans.csv');
    expect(calls.map((c) => c.bytes)).toEqual(['id,loan_id\n1,1\n2,2\n']);
    await expect(handler({ input: 'raw/2025/04/' }, context)).rejects.toMatchObject({
      code: 'RAW_NOT_FOUND',
      message: expect.stringContaining('no .csv or .parquet raw file under'),
    });
  });

  it('resolve stage (events/extract-features-resolve.json): names the newest raw file under the prefix and its size, building nothing', async () => {
    const { objectStore, calls, handler, tmp } = setup();
    await objectStore.put('raw/2025/02/loans.csv', 'id,loan_id\n1,1\n');
    await objectStore.put('raw/2025/03/loans.csv', 'id,loan_id\n1,1\n2,2\n');
    await objectStore.put('raw/2025/03/notes.txt', 'not a raw file');
    await objectStore.put('raw/2025/04/empty.csv', '');
    expect(await handler(event('extract-features-resolve.json'), context)).toEqual({
      input: 'raw/2025/03/loans.csv',
      sizeBytes: 'id,loan_id\n1,1\n2,2\n'.length,
      requestedInput: 'raw/',
    });
    // A key is answered as itself with its size (the state machine only sends prefixes).
    expect(await handler({ stage: 'resolve', input: 'raw/2025/02/loans.csv' }, context)).toEqual({
      input: 'raw/2025/02/loans.csv',
      sizeBytes: 'id,loan_id\n1,1\n'.length,
      requestedInput: 'raw/2025/02/loans.csv',
    });
    expect(calls).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
    expect(await readCurrentSnapshot(objectStore)).toBeUndefined();
    await expect(handler({ stage: 'resolve', input: 'raw/2025/04/' }, context)).rejects.toMatchObject({
      code: 'RAW_NOT_FOUND',
    });
    await expect(handler({ stage: 'resolve', input: 'raw/none.csv' }, context)).rejects.toMatchObject({
      code: 'RAW_NOT_FOUND',
    });
    await expect(handler({ stage: 'resolve' }, context)).rejects.toMatchObject({
      code: 'BAD_EXTRACT_EVENT',
      message: expect.stringContaining('"stage": "resolve", "input"'),
    });
  });

  it('refuses a missing raw file, a notification from another bucket and an unknown event shape', async () => {
    const { handler } = setup();
    await expect(handler({ input: 'raw/none.csv' }, context)).rejects.toMatchObject({
      code: 'RAW_NOT_FOUND',
    });
    const other = event('extract-features-s3.json') as {
      Records: Array<{ s3: { bucket: { name: string } } }>;
    };
    other.Records[0].s3.bucket.name = 'someone-else';
    await expect(handler(other, context)).rejects.toMatchObject({ code: 'WRONG_BUCKET' });
    await expect(handler({ hello: 1 }, context)).rejects.toMatchObject({ code: 'BAD_EXTRACT_EVENT' });
    await expect(handler({ input: 'raw/x.csv', asOf: '1st of May' }, context)).rejects.toBeInstanceOf(
      InputError,
    );
  });

  it('reads the EventBridge form of an S3 Object Created event (keys not URL-encoded there)', () => {
    expect(
      parseExtractEvent({
        source: 'aws.s3',
        'detail-type': 'Object Created',
        detail: { bucket: { name: 'b' }, object: { key: 'raw/a+b.csv' } },
      }),
    ).toEqual({ bucket: 'b', key: 'raw/a+b.csv' });
    expect(() =>
      parseExtractEvent({
        Records: [{ eventName: 'ObjectRemoved:Delete', s3: { bucket: { name: 'b' }, object: { key: 'k' } } }],
      }),
    ).toThrow(/not an ObjectCreated/);
  });
});
