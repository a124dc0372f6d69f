import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { createHandler, type BuildFeaturesFn } from '#functions/extract-features/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { readCurrentSnapshot } from '#lib/features/publish.ts';
import { snapshotAuditLog } from '#lib/features/snapshot-history.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { snapshotDir } from '../../../integration/features/publish-fixture.ts';
import { PublishingMemoryFeatureStore } from '../../../support/memory-feature-store.ts';

/**
 * The extract function runs the publish guards before it publishes: a refusal fails the
 * invocation (so the Task, caught by the state machine's NotifyFailure) with a named error, and
 * nothing is written: serving untouched. Local adapters stand in for S3 (the S3 requests of a
 * publish are asserted in extract-features-stages.test.ts); the online store is in memory.
 */
const context = { functionName: 'extract-features', awsRequestId: 'req-7' } as unknown as Context;

const MemoryFeatureStore = PublishingMemoryFeatureStore;

const COLUMNS = [
  { name: 'loan_id', type: 'BIGINT', role: 'id' },
  { name: 'id', type: 'BIGINT', role: 'id' },
  { name: 'loan_date', type: 'DATE', role: 'time' },
  { name: 'status', type: 'INTEGER', role: 'label' },
  { name: 'nb_previous_loans', type: 'INTEGER', role: 'feature' },
];

/** The raw file's first line says what to build: `<snapshot id> <customers> <rows in> <quarantined>`. */
const build: BuildFeaturesFn = async ({ input, out }) => {
  const [id, customers, rowsIn, quarantined] = readFileSync(input, 'utf8').trim().split(' ');
  const ids = Array.from({ length: Number(customers) }, (_, i) => 5008800 + i);
  const built = await snapshotDir(id, ids.length > 0 ? ids : [1]);
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(built)) writeFileSync(join(out, f), readFileSync(join(built, f)));
  if (ids.length === 0) {
    // The online rows of a build that kept no customer: the fixture's file, emptied.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const file = join(out, 'online.parquet');
    await conn.run(
      `COPY (SELECT * FROM read_parquet('${join(built, 'online.parquet')}') LIMIT 0) TO '${file}'`,
    );
    conn.closeSync();
    db.closeSync();
  }
  const validation = { rowsIn: Number(rowsIn), rowsValid: Number(rowsIn) - Number(quarantined) };
  writeFileSync(
    join(out, 'manifest.json'),
    JSON.stringify({
      snapshotId: id,
      validation: { ...validation, rowsQuarantined: Number(quarantined), byReason: {}, inputSha256: 'x' },
      columns: COLUMNS,
      files: { features: { rows: validation.rowsValid }, online: { rows: ids.length } },
    }),
  );
  return {
    snapshotId: id,
    rowsIn: Number(rowsIn),
    rowsValid: validation.rowsValid,
    rowsQuarantined: Number(quarantined),
  };
};

function setup(env: Record<string, string> = {}, withRegistry = false) {
  const root = mkdtempSync(join(tmpdir(), 'cr-extract-guards-'));
  const objectStore = new FsObjectStore(join(root, 'store'));
  const featureStore = new MemoryFeatureStore();
  const tmp = join(root, 'tmp');
  mkdirSync(tmp);
  const handler = createHandler({
    rawStore: objectStore,
    featuresStore: objectStore,
    featureStore,
    buildFeatures: build,
    tmpDir: tmp,
    clock: fixedClock('2025-03-01'),
    env,
    ...(withRegistry ? { modelsStore: objectStore } : {}),
  });
  const run = async (key: string, spec: string) => {
    await objectStore.put(key, `${spec}\n`);
    return handler({ input: key }, context);
  };
  return { objectStore, featureStore, handler, run, tmp };
}

describe('extract-features: the publish guards', () => {
  it('refuses a build without customers with PublishRefusedError before writing anything; serving keeps the previous snapshot', async () => {
    const { objectStore, featureStore, run, tmp } = setup();
    await run('raw/good.csv', 'good 4 4 0');
    const refused = await run('raw/header-only.csv', 'empty 0 0 0').catch((e: unknown) => e);
    expect(refused).toMatchObject({
      name: 'PublishRefusedError',
      code: 'PUBLISH_REFUSED',
      message: expect.stringContaining(
        '(1) no_customers: snapshot empty has no valid customers (0 online rows)',
      ),
    });
    expect((await readCurrentSnapshot(objectStore))?.snapshotId).toBe('good');
    expect(featureStore.snapshot).toBe('good');
    expect((await featureStore.get('5008800'))?.snapshotId).toBe('good');
    expect(await objectStore.list('features/snapshot=empty/')).toEqual([]);
    expect((await snapshotAuditLog(objectStore).entries()).map((e) => [e.snapshotId, e.publisher])).toEqual([
      ['good', 'lambda extract-features request req-7'],
    ]);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('takes its shares from PUBLISH_MIN_CUSTOMER_SHARE and PUBLISH_MAX_QUARANTINE_RATE', async () => {
    const strict = setup({ PUBLISH_MAX_QUARANTINE_RATE: '0.01', PUBLISH_MIN_CUSTOMER_SHARE: '0.9' });
    await strict.run('raw/a.csv', 'a 10 10 0');
    await expect(strict.run('raw/b.csv', 'b 8 100 2')).rejects.toMatchObject({
      name: 'PublishRefusedError',
      message: expect.stringMatching(
        /\(1\) too_few_customers: snapshot b has 8 customers, 80\.0% of the 10 .*\(2\) quarantine_rate: snapshot b quarantined 2 of 100 rows \(2\.00%, above the maximum 1\.00%\)/,
      ),
    });
    // The defaults (0.5, 0.2) let the same build through.
    const defaults = setup();
    await defaults.run('raw/a.csv', 'a 10 10 0');
    await expect(defaults.run('raw/b.csv', 'b 8 100 2')).resolves.toMatchObject({ snapshotId: 'b' });
    const bad = setup({ PUBLISH_MIN_CUSTOMER_SHARE: 'half' });
    await expect(bad.run('raw/a.csv', 'a 10 10 0')).rejects.toMatchObject({
      code: 'BAD_PUBLISH_GUARD',
      message: 'PUBLISH_MIN_CUSTOMER_SHARE must be a number from 0 to 1, got "half"',
    });
  });

  it('with the registry, refuses a snapshot missing a column the champion reads', async () => {
    const { objectStore, run } = setup({ MODEL_NAME: 'credit-risk' }, true);
    await run('raw/a.csv', 'a 4 4 0');
    const registry = new ModelRegistry(objectStore);
    const { version } = await registry.register({
      model: new Uint8Array([1, 2, 3]),
      card: JSON.stringify({ features: ['nb_previous_loans', 'age'], data: { snapshotId: 'a' } }),
      report: '',
    });
    await registry.promote(version);
    await expect(run('raw/b.csv', 'b 4 4 0')).rejects.toMatchObject({
      name: 'PublishRefusedError',
      message: expect.stringContaining(
        `champion_columns: the champion credit-risk ${version.slice(0, 12)} reads column(s) missing from the snapshot: age`,
      ),
    });
    expect((await readCurrentSnapshot(objectStore))?.snapshotId).toBe('a');
  });

  it('the training machine fails such a Task cleanly: not retried, caught into NotifyFailure with the error name and message', () => {
    const asl = JSON.parse(readFileSync('state-machines/training.asl.json', 'utf8')) as {
      States: Record<
        string,
        {
          Retry?: { ErrorEquals: string[] }[];
          Catch?: { ErrorEquals: string[]; Next: string; ResultPath: string }[];
          Parameters?: Record<string, string>;
          Next?: string;
        }
      >;
    };
    for (const state of ['ExtractFeatures', 'PublishGlueFeatures']) {
      const s = asl.States[state];
      const retried = (s.Retry ?? []).flatMap((r) => r.ErrorEquals);
      expect(retried).not.toContain('PublishRefusedError');
      expect(retried).not.toContain('States.ALL');
      expect(s.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' },
      ]);
    }
    expect(asl.States.NotifyFailure.Parameters?.['Message.$']).toContain('$.error.Error, $.error.Cause');
    expect(asl.States.NotifyFailure.Next).toBe('Failed');
  });
});
