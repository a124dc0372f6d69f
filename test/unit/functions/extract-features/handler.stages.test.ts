import { beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler, parseEvent, type FeatureStages } from '#functions/extract-features/handler.ts';
import { S3ObjectStore } from '#lib/adapters/aws/s3-object-store.ts';
import { InputError } from '#lib/errors.ts';
import { PREPARED_VERSION, type PreparedInput } from '#lib/features/build.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { captureJsonLines } from '../../../support/stdout.ts';

/**
 * The extract function's stage requests (the Glue branch of the training machine) over the S3
 * adapter, with aws-sdk-client-mock asserting the exact S3 requests: what prepare stages where,
 * and where publish looks for the Glue job's output. The stages themselves are stand-ins here
 * (lib/features/build.ts has its own tests, and test/integration/sfn/glue-branch.test.ts runs
 * the real ones with pyspark).
 */
const s3Mock = mockClient(S3Client);
const RAW = 'credit-risk-test-raw';
const FEATURES = 'credit-risk-test-features';
const SNAPSHOT = '0123456789abcdef';
const STAGING = `staging/${SNAPSHOT}/`;
const QUARANTINE = 'line,reason,raw\n3,bad_date,"x"\n';
const context = { functionName: 'extract-features', awsRequestId: 'req-1' } as unknown as Context;

const notFound = () => new NotFound({ message: 'not found', $metadata: { httpStatusCode: 404 } });
const noSuchKey = () => new NoSuchKey({ message: 'no such key', $metadata: { httpStatusCode: 404 } });
/** A GetObject body as the SDK gives it in Node: a Readable with the SDK's stream helpers. */
function body(bytes: Uint8Array | string): never {
  const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  return Object.assign(Readable.from([Buffer.from(b)]), { transformToByteArray: async () => b }) as never;
}

class MemoryFeatureStore implements FeatureStore {
  snapshot?: string;
  rows = 0;
  async init() {}
  async replaceSnapshot(
    snapshotId: string,
    batches: AsyncIterable<CustomerFeatureRow[]> | Iterable<CustomerFeatureRow[]>,
  ) {
    let rows = 0;
    for await (const b of batches) rows += b.length;
    this.snapshot = snapshotId;
    this.rows = rows;
    return { rows };
  }
  async get() {
    return undefined;
  }
  async currentSnapshot() {
    return this.snapshot;
  }
  async deleteCustomer() {
    return { deleted: 0 };
  }
  async ping() {}
  async close() {}
}

const PREPARED: PreparedInput = {
  preparedVersion: PREPARED_VERSION,
  snapshotId: SNAPSHOT,
  asOf: '2025-01-31',
  format: 'parquet',
  input: { path: '/tmp/x/loans.csv', sha256: 'ab'.repeat(32), bytes: 20 },
  validation: {
    rowsIn: 3,
    rowsValid: 2,
    rowsQuarantined: 1,
    byReason: { bad_date: 1 },
    inputSha256: 'ab'.repeat(32),
  },
  code: { sqlSha256: 'cd'.repeat(32), featureCodeVersion: 'test' },
  timingsMs: { validate: 1 },
};

function setup() {
  const s3 = new S3Client({ region: 'eu-west-1' });
  const calls: Array<{ stage: string; request: unknown }> = [];
  const stages: FeatureStages = {
    async prepare(request) {
      calls.push({ stage: 'prepare', request: { ...request, bytes: readFileSync(request.input, 'utf8') } });
      mkdirSync(request.out, { recursive: true });
      writeFileSync(join(request.out, 'raw_valid.parquet'), 'PAR1-valid-rows');
      writeFileSync(join(request.out, 'quarantine.csv'), QUARANTINE);
      writeFileSync(join(request.out, 'prepared.json'), JSON.stringify(PREPARED));
      return { ...PREPARED, ...(request.asOf ? { asOf: request.asOf } : {}) };
    },
    async finish(request) {
      calls.push({
        stage: 'finish',
        request: {
          prepared: JSON.parse(readFileSync(join(request.preparedDir, 'prepared.json'), 'utf8')).snapshotId,
          features: readdirSync(request.featuresDir).sort(),
          online: readdirSync(request.onlineDir).sort(),
        },
      });
      const { snapshotDir } = await import('../../../integration/features/publish-fixture.ts');
      const built = await snapshotDir(SNAPSHOT, [5008804, 5008805]);
      mkdirSync(request.out, { recursive: true });
      for (const f of readdirSync(built)) writeFileSync(join(request.out, f), readFileSync(join(built, f)));
      return { snapshotId: SNAPSHOT, rowsIn: 3, rowsValid: 2, rowsQuarantined: 1 };
    },
  };
  const tmp = mkdtempSync(join(tmpdir(), 'cr-extract-stages-'));
  const featureStore = new MemoryFeatureStore();
  const handler = createHandler({
    rawStore: new S3ObjectStore(s3, RAW),
    rawBucket: RAW,
    featuresStore: new S3ObjectStore(s3, FEATURES),
    featureStore,
    buildFeatures: async () => {
      throw new Error('a stage request must not run the full build');
    },
    stages,
    tmpDir: tmp,
    clock: fixedClock('2025-03-01'),
  });
  return { handler, calls, featureStore };
}

const inputs = <T>(command: new (...a: never[]) => T) =>
  s3Mock.commandCalls(command as never).map((c) => {
    const { Body: _b, ...rest } = (c.args[0] as { input: Record<string, unknown> }).input;
    return rest;
  });

describe('extract-features stage requests', () => {
  beforeEach(() => {
    s3Mock.reset();
    s3Mock.on(HeadObjectCommand).rejects(notFound());
    s3Mock.on(GetObjectCommand).rejects(noSuchKey());
    s3Mock.on(PutObjectCommand).resolves({});
  });

  it('parses the two stage requests and refuses an unknown stage or a malformed one, naming the field', () => {
    expect(
      parseEvent({
        stage: 'prepare',
        request: { input: 'raw/a.csv', asOf: '2025-01-31', trigger: 'manual' },
      }),
    ).toEqual({
      kind: 'stage',
      stage: 'prepare',
      request: { input: 'raw/a.csv', asOf: '2025-01-31' },
    });
    expect(parseEvent({ stage: 'publish', staging: STAGING })).toEqual({
      kind: 'stage',
      stage: 'publish',
      staging: STAGING,
    });
    expect(parseEvent({ input: 'raw/a.csv' })).toEqual({ kind: 'build', key: 'raw/a.csv', asOf: undefined });
    expect(() => parseEvent({ stage: 'train' })).toThrow(
      new InputError('BAD_EXTRACT_EVENT', 'unknown stage "train": expected one of resolve, prepare, publish'),
    );
    expect(() => parseEvent({ stage: 'prepare', input: 'raw/a.csv' })).toThrow(
      /"request": \{"input".*\(request: /,
    );
    expect(() => parseEvent({ stage: 'prepare', request: { input: 'raw/a.csv', asOf: 'May' } })).toThrow(
      /request\.asOf: YYYY-MM-DD/,
    );
    expect(() => parseEvent({ stage: 'publish' })).toThrow(InputError);
    expect(parseEvent({ stage: 'resolve', input: 'raw/' })).toEqual({
      kind: 'stage',
      stage: 'resolve',
      input: 'raw/',
    });
    expect(() => parseEvent({ stage: 'resolve', input: '' })).toThrow(/"stage": "resolve".*\(input: /);
  });

  it('resolve: one listing of the raw bucket under the prefix, the newest non-empty raw key and its size; nothing read or written', async () => {
    const { handler, calls } = setup();
    s3Mock.on(ListObjectsV2Command, { Bucket: RAW, Prefix: 'raw/' }).resolves({
      Contents: [
        { Key: 'raw/', Size: 0 },
        { Key: 'raw/2025-01-31/loans.csv', Size: 900_000_000 },
        { Key: 'raw/2025-02-28/loans.csv', Size: 3_500_000_000 },
        { Key: 'raw/2025-02-28/README.txt', Size: 10 },
        { Key: 'raw/2025-03-31/loans.csv', Size: 0 },
      ],
    });
    const { result: answer, lines } = await captureJsonLines(() =>
      handler({ stage: 'resolve', input: 'raw/' }, context),
    );
    expect(answer).toEqual({
      input: 'raw/2025-02-28/loans.csv',
      sizeBytes: 3_500_000_000,
      requestedInput: 'raw/',
    });
    // Its one metric: the size of the raw file the training will read.
    expect(lines.filter((d) => d._aws)).toEqual([expect.objectContaining({ rawInputBytes: 3_500_000_000 })]);
    expect(inputs(ListObjectsV2Command)).toEqual([{ Bucket: RAW, Prefix: 'raw/' }]);
    expect(s3Mock.commandCalls(GetObjectCommand)).toEqual([]);
    expect(s3Mock.commandCalls(HeadObjectCommand)).toEqual([]);
    expect(s3Mock.commandCalls(PutObjectCommand)).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('resolve answers every field the ResolveInput state selects (state-machines/training.asl.json)', async () => {
    const { handler } = setup();
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'raw/a.csv', Size: 5 }] });
    const answer = (await handler({ stage: 'resolve', input: 'raw/' }, context)) as unknown as Record<
      string,
      unknown
    >;
    const asl = JSON.parse(readFileSync('state-machines/training.asl.json', 'utf8')) as {
      States: Record<string, { ResultSelector: Record<string, string> }>;
    };
    const selected = Object.values(asl.States.ResolveInput.ResultSelector).map((path) =>
      path.replace(/^\$\.Payload\./, ''),
    );
    expect(selected.length).toBeGreaterThan(0);
    expect(selected.filter((field) => answer[field] === undefined)).toEqual([]);
  });

  it('prepare: reads the raw object, stages the valid rows and quarantine, prepared.json last, and answers the keys', async () => {
    const { handler, calls } = setup();
    s3Mock
      .on(HeadObjectCommand, { Bucket: RAW, Key: 'raw/2025/loans.csv' })
      .resolves({ ContentLength: 20, ETag: '"e1"' });
    s3Mock
      .on(GetObjectCommand, { Bucket: RAW, Key: 'raw/2025/loans.csv' })
      .callsFake(() => ({ Body: body('id,loan_id\n1,1\n') }));
    const answer = await handler(
      { stage: 'prepare', request: { input: 'raw/2025/loans.csv', asOf: '2025-01-31', canaryWeight: 0.1 } },
      context,
    );
    expect(answer).toEqual({
      staging: STAGING,
      snapshotId: SNAPSHOT,
      asOf: '2025-01-31',
      rawValidKey: `${STAGING}raw_valid.parquet`,
      engineOutputKey: `${STAGING}spark/`,
      rowsIn: 3,
      rowsValid: 2,
      rowsQuarantined: 1,
    });
    expect(calls).toEqual([
      {
        stage: 'prepare',
        request: {
          input: expect.stringMatching(/loans\.csv$/),
          out: expect.any(String),
          asOf: '2025-01-31',
          bytes: 'id,loan_id\n1,1\n',
        },
      },
    ]);
    expect(inputs(GetObjectCommand)).toEqual([{ Bucket: RAW, Key: 'raw/2025/loans.csv' }]);
    expect(inputs(PutObjectCommand)).toEqual([
      {
        Bucket: FEATURES,
        Key: `${STAGING}raw_valid.parquet`,
        ContentLength: 15,
        ContentType: 'application/vnd.apache.parquet',
      },
      {
        Bucket: FEATURES,
        Key: `${STAGING}quarantine.csv`,
        ContentLength: QUARANTINE.length,
        ContentType: 'text/csv',
      },
      { Bucket: FEATURES, Key: `${STAGING}prepared.json`, ContentType: 'application/json' },
    ]);
    const staged = JSON.parse(String(s3Mock.commandCalls(PutObjectCommand)[2].args[0].input.Body));
    expect(staged).toMatchObject({
      snapshotId: SNAPSHOT,
      source: { key: 'raw/2025/loans.csv', location: `s3://${RAW}/raw/2025/loans.csv` },
    });
  });

  it('publish: reads prepared.json, the quarantine and only the Parquet parts of the job output, then publishes the snapshot', async () => {
    const { handler, calls, featureStore } = setup();
    const staged = {
      ...PREPARED,
      source: { key: 'raw/2025/loans.csv', location: `s3://${RAW}/raw/2025/loans.csv` },
    };
    s3Mock
      .on(HeadObjectCommand, { Bucket: FEATURES, Key: `${STAGING}prepared.json` })
      .resolves({ ContentLength: 100 });
    s3Mock
      .on(GetObjectCommand, { Bucket: FEATURES, Key: `${STAGING}prepared.json` })
      .callsFake(() => ({ Body: body(JSON.stringify(staged)) }));
    s3Mock
      .on(GetObjectCommand, { Bucket: FEATURES, Key: `${STAGING}quarantine.csv` })
      .callsFake(() => ({ Body: body('line,reason,raw\n') }));
    for (const dir of ['features', 'online']) {
      s3Mock.on(ListObjectsV2Command, { Bucket: FEATURES, Prefix: `${STAGING}spark/${dir}/` }).resolves({
        Contents: [
          { Key: `${STAGING}spark/${dir}/_SUCCESS`, Size: 0 },
          { Key: `${STAGING}spark/${dir}/part-00000-a.snappy.parquet`, Size: 4 },
        ],
      });
      s3Mock
        .on(GetObjectCommand, { Bucket: FEATURES, Key: `${STAGING}spark/${dir}/part-00000-a.snappy.parquet` })
        .callsFake(() => ({ Body: body('PAR1') }));
    }
    // The snapshot audit log is empty: this is the first publish.
    s3Mock
      .on(ListObjectsV2Command, { Bucket: FEATURES, Prefix: 'features/audit/' })
      .resolves({ Contents: [] });
    const answer = await handler({ stage: 'publish', staging: STAGING }, context);
    expect(answer).toEqual({
      snapshotId: SNAPSHOT,
      rowsIn: 3,
      rowsValid: 2,
      rowsQuarantined: 1,
      input: 'raw/2025/loans.csv',
      alreadyCurrent: false,
    });
    expect(calls).toEqual([
      {
        stage: 'finish',
        request: {
          prepared: SNAPSHOT,
          features: ['part-00000-a.snappy.parquet'],
          online: ['part-00000-a.snappy.parquet'],
        },
      },
    ]);
    expect(inputs(ListObjectsV2Command)).toEqual([
      { Bucket: FEATURES, Prefix: `${STAGING}spark/features/` },
      { Bucket: FEATURES, Prefix: `${STAGING}spark/online/` },
      { Bucket: FEATURES, Prefix: 'features/audit/' },
    ]);
    expect(inputs(GetObjectCommand).filter((i) => String(i.Key).startsWith('staging/'))).toEqual([
      { Bucket: FEATURES, Key: `${STAGING}prepared.json` },
      { Bucket: FEATURES, Key: `${STAGING}quarantine.csv` },
      { Bucket: FEATURES, Key: `${STAGING}spark/features/part-00000-a.snappy.parquet` },
      { Bucket: FEATURES, Key: `${STAGING}spark/online/part-00000-a.snappy.parquet` },
    ]);
    // The publish of the finished snapshot: objects (the online rows too, so it can be restored),
    // the manifest last of them, the audit entry (create-if-absent), then CURRENT.
    expect(inputs(PutObjectCommand).map((i) => i.Key)).toEqual([
      `features/snapshot=${SNAPSHOT}/part-00000.parquet`,
      `features/snapshot=${SNAPSHOT}/online.parquet`,
      `quarantine/snapshot=${SNAPSHOT}/quarantine.csv`,
      `features/snapshot=${SNAPSHOT}/manifest.json`,
      'features/audit/0000000001.json',
      'features/CURRENT',
    ]);
    const audit = inputs(PutObjectCommand).find((i) => i.Key === 'features/audit/0000000001.json');
    expect(audit).toMatchObject({ IfNoneMatch: '*' });
    const entry = JSON.parse(
      String(
        s3Mock
          .commandCalls(PutObjectCommand)
          .find((c) => c.args[0].input.Key === 'features/audit/0000000001.json')?.args[0].input.Body,
      ),
    );
    expect(entry).toMatchObject({
      seq: 1,
      action: 'publish',
      snapshotId: SNAPSHOT,
      previousSnapshotId: null,
      customers: 2,
      publisher: 'lambda extract-features request req-1',
      reason: 'built from raw/2025/loans.csv',
      forced: false,
      overridden: [],
    });
    expect(featureStore.snapshot).toBe(SNAPSHOT);
    expect(inputs(PutObjectCommand).some((i) => String(i.Key).startsWith('staging/'))).toBe(false);
  });

  it('publish refuses a staging prefix of another shape, and one the prepare stage never finished', async () => {
    const { handler } = setup();
    await expect(handler({ stage: 'publish', staging: 'features/' }, context)).rejects.toMatchObject({
      code: 'BAD_STAGING',
    });
    await expect(
      handler({ stage: 'publish', staging: `staging/${SNAPSHOT}/../x/` }, context),
    ).rejects.toMatchObject({ code: 'BAD_STAGING' });
    await expect(handler({ stage: 'publish', staging: STAGING }, context)).rejects.toMatchObject({
      code: 'STAGING_NOT_FOUND',
    });
    expect(inputs(HeadObjectCommand)).toEqual([{ Bucket: FEATURES, Key: `${STAGING}prepared.json` }]);
  });
});
