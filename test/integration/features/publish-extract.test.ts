import { afterAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import {
  createHandler,
  featureSqlBuild,
  type ExtractFeaturesResult,
} from '#functions/extract-features/handler.ts';
import { generateLoans } from '#lib/data/generate.ts';
import { lookupOnlineFeatures } from '#lib/features/online.ts';
import { readCurrentSnapshot, snapshotKeys } from '#lib/features/publish.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { createLocalRoot } from '#local/root.ts';
import { freshHome } from '../../support/home.ts';

const context = { functionName: 'extract-features', awsRequestId: 'req-1' } as unknown as Context;

/**
 * The extract-features handler on the local adapters (directory object store, PGlite under a
 * fresh home) with the real build (validation + feature SQL on DuckDB), fed the sample events.
 */
describe('extract-features handler, local adapters, real build and publish', () => {
  const root = createLocalRoot(freshHome());
  afterAll(async () => {
    await root.featureStore.close();
  });

  it('turns the sample direct event into a published snapshot whose counts add up', async () => {
    const raw = join(root.home.data, 'loans.csv');
    generateLoans({ rows: 3000, seed: 11, out: raw, dirtyRate: 0.02 });
    const direct = JSON.parse(readFileSync('events/extract-features-direct.json', 'utf8')) as {
      input: string;
      asOf: string;
    };
    await root.objectStore.upload(raw, direct.input);
    const clock = fixedClock('2025-03-01');
    const handler = createHandler({
      rawStore: root.objectStore,
      featuresStore: root.objectStore,
      featureStore: root.featureStore,
      buildFeatures: featureSqlBuild(clock),
      tmpDir: root.home.tmp,
      clock,
    });

    const result = (await handler(direct, context)) as ExtractFeaturesResult;
    expect(result.rowsIn).toBe(result.rowsValid + result.rowsQuarantined);
    expect(result.rowsQuarantined).toBeGreaterThan(0);
    expect(result.rowsIn).toBeGreaterThanOrEqual(3000);
    expect(result.alreadyCurrent).toBe(false);

    expect((await readCurrentSnapshot(root.objectStore))?.snapshotId).toBe(result.snapshotId);
    expect(await root.featureStore.currentSnapshot()).toBe(result.snapshotId);
    for (const key of Object.values(snapshotKeys(result.snapshotId)))
      expect(await root.objectStore.head(key)).toBeDefined();
    const manifest = JSON.parse(
      new TextDecoder().decode(await root.objectStore.get(snapshotKeys(result.snapshotId).manifest)),
    );
    expect(manifest.snapshotId).toBe(result.snapshotId);

    // a customer of the generated file is served online on the as-of date
    const firstId = readFileSync(raw, 'utf8').split('\n')[1].split(',')[1];
    const online = await lookupOnlineFeatures(root.featureStore, firstId, direct.asOf);
    expect(online.snapshotId).toBe(result.snapshotId);
    expect(online.features.nb_previous_loans).toBeGreaterThanOrEqual(1);

    // the same event again (a re-delivery) is a cheap success that changes nothing
    const again = await handler(direct, context);
    expect(again).toEqual({ ...result, alreadyCurrent: true });
  });
});
