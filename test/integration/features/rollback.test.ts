import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { generateLoans } from '#lib/data/generate.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { championRequirement } from '#lib/features/champion-requirement.ts';
import {
  publishSnapshot,
  publishStoredSnapshot,
  readCurrentSnapshot,
  rollbackSnapshot,
} from '#lib/features/publish.ts';
import { snapshotAuditLog } from '#lib/features/snapshot-history.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { snapshotDir } from './publish-fixture.ts';

/**
 * Rollback and republish of stored snapshots, and the audit log through interrupted changes, on
 * the directory object store and real PGlite; the champion-columns guard against a real build's
 * manifest and a registered model's card.
 */
describe('rollback and republish (FsObjectStore + real PGlite)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cr-rollback-'));
  const objectStore = new FsObjectStore(join(root, 'store'));
  let featureStore: PgliteFeatureStore;
  const common = () => ({ objectStore, featureStore, clock: fixedClock('2024-05-01'), tmpDir: root });

  beforeAll(() => {
    featureStore = PgliteFeatureStore.shared(join(root, 'pglite'));
  });
  afterAll(async () => {
    await featureStore.close();
  });

  const state = async () => ({
    current: (await readCurrentSnapshot(objectStore))?.snapshotId,
    online: await featureStore.currentSnapshot(),
    entries: (await snapshotAuditLog(objectStore).entries()).map((e) => `${e.action}:${e.snapshotId}`),
  });

  it('rolls the online rows and CURRENT back to the stored snapshot, with one audit entry', async () => {
    await publishSnapshot({ ...common(), snapshotDir: await snapshotDir('r1', [1, 2, 3]) });
    await publishSnapshot({ ...common(), snapshotDir: await snapshotDir('r2', [4, 5, 6]) });
    const back = await rollbackSnapshot({ ...common(), publisher: 'test', reason: 'bad data' });
    expect(back).toMatchObject({
      action: 'rollback',
      snapshotId: 'r1',
      previousSnapshotId: 'r2',
      onlineRows: 3,
    });
    expect(back.audit).toMatchObject({ seq: 3, reason: 'bad data', publisher: 'test', earlier: [] });
    expect(await state()).toEqual({
      current: 'r1',
      online: 'r1',
      entries: ['publish:r1', 'publish:r2', 'rollback:r1'],
    });
    expect((await featureStore.get('2'))?.snapshotId).toBe('r1');
    expect(await featureStore.get('5')).toBeUndefined();
    // The same rollback target again is a no-op: nothing reloaded, no second entry.
    const again = await rollbackSnapshot({ ...common(), to: 'r1' });
    expect(again).toMatchObject({ alreadyCurrent: true, onlineRows: null, audit: null });
  });

  it('republishing a stored snapshot by id runs every guard, against the current snapshot', async () => {
    await publishSnapshot({
      ...common(),
      snapshotDir: await snapshotDir('big', [10, 11, 12, 13, 14, 15, 16, 17]),
    });
    await expect(publishStoredSnapshot({ ...common(), snapshotId: 'r2' })).rejects.toMatchObject({
      code: 'PUBLISH_REFUSED',
      message: expect.stringContaining('too_few_customers: snapshot r2 has 3 customers, 37.5% of the 8'),
    });
    // A rollback checks only what keeps serving working: the smaller r2 is fine to go back to.
    await expect(rollbackSnapshot({ ...common(), to: 'r2' })).resolves.toMatchObject({ snapshotId: 'r2' });
    const forced = await publishStoredSnapshot({ ...common(), snapshotId: 'r1', guards: { force: true } });
    expect(forced.guards.forced).toBe(false); // 3 of 3: nothing to override
    expect((await state()).current).toBe('r1');
  });

  it('a publish interrupted after its audit entry is finished by a re-run without a second entry', async () => {
    const dir = await snapshotDir('r3', [7, 8, 9]);
    const crash = async (step: string) => {
      if (step === 'audit') throw new Error('crash after the audit entry');
    };
    await expect(publishSnapshot({ ...common(), snapshotDir: dir, afterStep: crash })).rejects.toThrow(
      'crash after the audit entry',
    );
    const before = await state();
    expect([before.current, before.online, before.entries.at(-1)]).toEqual(['r1', 'r3', 'publish:r3']);
    const rerun = await publishSnapshot({ ...common(), snapshotDir: dir });
    expect(rerun).toMatchObject({ onlineRows: null, audit: null, current: { snapshotId: 'r3' } });
    expect((await state()).entries.filter((e) => e === 'publish:r3')).toHaveLength(1);
  });

  it('a rollback right after an interrupted publish goes back to what CURRENT names', async () => {
    const crash = async (step: string) => {
      if (step === 'audit') throw new Error('crash');
    };
    await expect(
      publishSnapshot({ ...common(), snapshotDir: await snapshotDir('r4', [1, 2, 3]), afterStep: crash }),
    ).rejects.toThrow('crash');
    expect([(await state()).current, (await state()).online]).toEqual(['r3', 'r4']);
    const back = await rollbackSnapshot(common());
    expect(back).toMatchObject({ snapshotId: 'r3', onlineRows: 3 });
    const after = await state();
    expect([after.current, after.online, after.entries.at(-1)]).toEqual(['r3', 'r3', 'rollback:r3']);
    expect((await featureStore.get('8'))?.snapshotId).toBe('r3');
  });

  it('refuses an unknown or malformed id with the stored ones named', async () => {
    await expect(rollbackSnapshot({ ...common(), to: 'nope' })).rejects.toMatchObject({
      code: 'SNAPSHOT_NOT_FOUND',
      message: expect.stringContaining('stored: big, r1, r2, r3, r4'),
    });
    await expect(publishStoredSnapshot({ ...common(), snapshotId: '../x' })).rejects.toMatchObject({
      code: 'BAD_SNAPSHOT_ID',
    });
  });
});

describe('the champion-columns guard on a real build', () => {
  const root = mkdtempSync(join(tmpdir(), 'cr-champion-guard-'));
  const objectStore = new FsObjectStore(join(root, 'store'));
  let featureStore: PgliteFeatureStore;
  let dir = '';
  let snapshotId = '';

  beforeAll(async () => {
    featureStore = PgliteFeatureStore.shared(join(root, 'pglite'));
    const raw = join(root, 'loans.csv');
    generateLoans({ rows: 1000, seed: 3, out: raw, startDate: '2020-01-01', years: 1 });
    dir = join(root, 'snap');
    snapshotId = (await buildFeatures({ input: raw, outDir: dir, asOf: '2022-01-01' })).snapshotId;
  }, 60_000);
  afterAll(async () => {
    await featureStore.close();
  });

  it("reads the champion's features and their trained types, and refuses a snapshot without one of them", async () => {
    const registry = new ModelRegistry(objectStore);
    expect(await championRequirement(registry, objectStore)).toBeNull();
    // The snapshot the champion was trained on is stored (its manifest gives the types).
    await objectStore.upload(join(dir, 'manifest.json'), `features/snapshot=${snapshotId}/manifest.json`);
    const { version } = await registry.register({
      model: new Uint8Array([9, 9]),
      card: JSON.stringify({ features: ['age', 'amt_income_total', 'credit_score'], data: { snapshotId } }),
      report: '',
    });
    await registry.promote(version);
    const champion = await championRequirement(registry, objectStore);
    expect(champion).toEqual({
      modelName: 'credit-risk',
      version,
      features: [
        { name: 'age', type: 'INTEGER' },
        { name: 'amt_income_total', type: 'DOUBLE' },
        { name: 'credit_score', type: null },
      ],
    });
    await expect(
      publishSnapshot({ snapshotDir: dir, objectStore, featureStore, guards: { champion } }),
    ).rejects.toMatchObject({
      code: 'PUBLISH_REFUSED',
      message: expect.stringContaining('reads column(s) missing from the snapshot: credit_score'),
    });
    expect(await readCurrentSnapshot(objectStore)).toBeUndefined();
    expect(await featureStore.currentSnapshot()).toBeUndefined();
    // The champion's real inputs are all there: published.
    const fits = { ...champion!, features: champion!.features.slice(0, 2) };
    const ok = await publishSnapshot({
      snapshotDir: dir,
      objectStore,
      featureStore,
      guards: { champion: fits },
    });
    expect(ok.guards).toEqual({ overridden: [], notChecked: [], forced: false });
  });
});
