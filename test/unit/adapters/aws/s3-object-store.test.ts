import { beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { S3ObjectStore } from '#lib/adapters/aws/s3-object-store.ts';
import { ObjectExistsError, getJson } from '#lib/ports/object-store.ts';

const s3Mock = mockClient(S3Client);
const Bucket = 'credit-risk-data-dev';

/** A GetObject body as the SDK gives it in Node: a Readable with the SDK's stream helpers. */
function body(text: string): any {
  const bytes = new TextEncoder().encode(text);
  return Object.assign(Readable.from([Buffer.from(bytes)]), { transformToByteArray: async () => bytes });
}

describe('S3ObjectStore (aws-sdk-client-mock, exact command inputs)', () => {
  let store: S3ObjectStore;
  beforeEach(() => {
    s3Mock.reset();
    store = new S3ObjectStore(new S3Client({}), Bucket, 'env/dev');
  });

  it('gets an object under the key prefix and reads a missing key (NoSuchKey) as undefined', async () => {
    s3Mock
      .on(GetObjectCommand, { Bucket, Key: 'env/dev/features/CURRENT' })
      .resolves({ Body: body('{"snapshotId":"abc"}') });
    s3Mock
      .on(GetObjectCommand, { Bucket, Key: 'env/dev/features/none' })
      .rejects(new NoSuchKey({ message: 'nope', $metadata: {} }));
    expect(await getJson(store, 'features/CURRENT')).toEqual({ snapshotId: 'abc' });
    expect(await store.get('features/none')).toBeUndefined();
    expect(s3Mock.commandCalls(GetObjectCommand)[0].args[0].input).toEqual({
      Bucket,
      Key: 'env/dev/features/CURRENT',
    });
  });

  it('puts with a content type, and with ifAbsent sends If-None-Match: *', async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    await store.put('features/CURRENT', '{"a":1}', { contentType: 'application/json' });
    await store.put('models/m/v1/model.onnx', new Uint8Array([1, 2]), { ifAbsent: true });
    const calls = s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(calls[0]).toEqual({
      Bucket,
      Key: 'env/dev/features/CURRENT',
      Body: '{"a":1}',
      ContentType: 'application/json',
    });
    expect(calls[1]).toEqual({
      Bucket,
      Key: 'env/dev/models/m/v1/model.onnx',
      Body: new Uint8Array([1, 2]),
      IfNoneMatch: '*',
    });
  });

  it('turns 412 Precondition Failed on an ifAbsent put into ObjectExistsError', async () => {
    s3Mock.on(PutObjectCommand).rejects(
      new S3ServiceException({
        name: 'PreconditionFailed',
        $fault: 'client',
        $metadata: { httpStatusCode: 412 },
        message: 'At least one of the pre-conditions you specified did not hold',
      }),
    );
    await expect(store.put('models/m/v1/model.onnx', 'x', { ifAbsent: true })).rejects.toBeInstanceOf(
      ObjectExistsError,
    );
  });

  it('lets other put failures through unchanged', async () => {
    s3Mock.on(PutObjectCommand).rejects(
      new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'denied',
      }),
    );
    await expect(store.put('a', 'x', { ifAbsent: true })).rejects.toThrow('denied');
  });

  it('heads an object (size, etag) and reads NotFound as undefined', async () => {
    s3Mock.on(HeadObjectCommand, { Bucket, Key: 'env/dev/a' }).resolves({ ContentLength: 42, ETag: '"e1"' });
    s3Mock
      .on(HeadObjectCommand, { Bucket, Key: 'env/dev/b' })
      .rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));
    expect(await store.head('a')).toEqual({ key: 'a', size: 42, etag: '"e1"' });
    expect(await store.head('b')).toBeUndefined();
    expect(s3Mock.commandCalls(HeadObjectCommand)[0].args[0].input).toEqual({ Bucket, Key: 'env/dev/a' });
  });

  it('lists every page with ContinuationToken and returns keys without the store prefix', async () => {
    s3Mock
      .on(ListObjectsV2Command)
      .resolvesOnce({
        IsTruncated: true,
        NextContinuationToken: 't1',
        Contents: [{ Key: 'env/dev/features/snapshot=a/part-00000.parquet', Size: 10, ETag: '"1"' }],
      })
      .resolvesOnce({
        IsTruncated: true,
        NextContinuationToken: 't2',
        Contents: [{ Key: 'env/dev/features/snapshot=b/manifest.json', Size: 5, ETag: '"2"' }],
      })
      .resolvesOnce({
        IsTruncated: false,
        Contents: [{ Key: 'env/dev/features/snapshot=b/part-00000.parquet', Size: 7, ETag: '"3"' }],
      });
    const listed = await store.list('features/snapshot=');
    expect(listed).toEqual([
      { key: 'features/snapshot=a/part-00000.parquet', size: 10, etag: '"1"' },
      { key: 'features/snapshot=b/manifest.json', size: 5, etag: '"2"' },
      { key: 'features/snapshot=b/part-00000.parquet', size: 7, etag: '"3"' },
    ]);
    const inputs = s3Mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
    expect(inputs).toEqual([
      { Bucket, Prefix: 'env/dev/features/snapshot=' },
      { Bucket, Prefix: 'env/dev/features/snapshot=', ContinuationToken: 't1' },
      { Bucket, Prefix: 'env/dev/features/snapshot=', ContinuationToken: 't2' },
    ]);
  });

  it('lists an empty prefix as an empty array in one call', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ IsTruncated: false, KeyCount: 0 });
    expect(await store.list('nothing/')).toEqual([]);
    expect(s3Mock.commandCalls(ListObjectsV2Command)).toHaveLength(1);
  });

  it('deletes by key', async () => {
    s3Mock.on(DeleteObjectCommand).resolves({});
    await store.delete('tmp/x');
    expect(s3Mock.commandCalls(DeleteObjectCommand)[0].args[0].input).toEqual({
      Bucket,
      Key: 'env/dev/tmp/x',
    });
  });

  it('downloads to a file through a temp name, and names the s3 url when the key is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-s3-'));
    s3Mock
      .on(GetObjectCommand, { Bucket, Key: 'env/dev/raw/loans.csv' })
      .resolves({ Body: body('id,loan_id\n1,2\n') });
    s3Mock
      .on(GetObjectCommand, { Bucket, Key: 'env/dev/raw/none.csv' })
      .rejects(new NoSuchKey({ message: 'nope', $metadata: {} }));
    await store.download('raw/loans.csv', join(dir, 'in', 'loans.csv'));
    expect(readFileSync(join(dir, 'in', 'loans.csv'), 'utf8')).toBe('id,loan_id\n1,2\n');
    await expect(store.download('raw/none.csv', join(dir, 'none.csv'))).rejects.toThrow(
      's3://credit-risk-data-dev/env/dev/raw/none.csv',
    );
    expect(existsSync(join(dir, 'none.csv'))).toBe(false);
    expect(readdirSync(join(dir, 'in'))).toEqual(['loans.csv']);
  });

  it('uploads a file as one streamed PutObject with its length', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-s3-'));
    writeFileSync(join(dir, 'f.parquet'), 'PAR1....PAR1');
    s3Mock.on(PutObjectCommand).resolves({});
    await store.upload(join(dir, 'f.parquet'), 'features/snapshot=a/part-00000.parquet', { ifAbsent: true });
    const input = s3Mock.commandCalls(PutObjectCommand)[0].args[0].input;
    expect({ ...input, Body: undefined }).toEqual({
      Bucket,
      Key: 'env/dev/features/snapshot=a/part-00000.parquet',
      Body: undefined,
      ContentLength: 12,
      IfNoneMatch: '*',
    });
    expect(input.Body).toBeInstanceOf(Readable);
  });

  it('describes keys as s3 urls and refuses keys that would escape the prefix', async () => {
    expect(store.describe('a/b')).toBe('s3://credit-risk-data-dev/env/dev/a/b');
    await expect(store.get('../other/x')).rejects.toThrow(/invalid object key/);
    expect(new S3ObjectStore(new S3Client({}), Bucket).describe('a')).toBe('s3://credit-risk-data-dev/a');
  });
});
