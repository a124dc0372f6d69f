import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { CURRENT_KEY, publishSnapshot, readCurrentSnapshot, snapshotKeys } from '#lib/features/publish.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { InputError } from '#lib/errors.ts';
import { snapshotDir } from './publish-fixture.ts';

describe('publishSnapshot (FsObjectStore + real PGlite)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cr-publish-'));
  const objectStore = new FsObjectStore(join(root, 'store'));
  let featureStore: PgliteFeatureStore;
  const clock = fixedClock('2024-05-01');

  beforeAll(() => {
    featureStore = PgliteFeatureStore.shared(join(root, 'pglite'));
  });
  afterAll(async () => {
    await featureStore.close();
  });

  async function state() {
    return {
      current: (await readCurrentSnapshot(objectStore))?.snapshotId,
      online: await featureStore.currentSnapshot(),
    };
  }

  it('refuses a directory without manifest.json and writes nothing', async () => {
    const dir = await snapshotDir('s0', [1], { manifest: false });
    const err = await publishSnapshot({ snapshotDir: dir, objectStore, featureStore }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('SNAPSHOT_INCOMPLETE');
    expect((err as InputError).message).toContain('manifest.json');
    expect(await objectStore.list('')).toEqual([]);
    await expect(
      publishSnapshot({ snapshotDir: join(root, 'nope'), objectStore, featureStore }),
    ).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });

  it('publishes the offline objects, the online rows and then CURRENT', async () => {
    const progress: string[] = [];
    const res = await publishSnapshot({
      snapshotDir: await snapshotDir('s1', [5008804, 5008805]),
      objectStore,
      featureStore,
      clock,
      onProgress: (m) => progress.push(m),
    });
    const keys = snapshotKeys('s1');
    expect(res).toEqual({
      snapshotId: 's1',
      manifestKey: keys.manifest,
      action: 'publish',
      previousSnapshotId: null,
      objectsWritten: [keys.part, keys.online, keys.quarantine, keys.manifest],
      objectsKept: [],
      onlineRows: 2,
      current: { snapshotId: 's1', publishedAt: '2024-05-01T12:00:00.000Z', manifestKey: keys.manifest },
      alreadyCurrent: false,
      guards: {
        overridden: [],
        forced: false,
        // The fixture's manifest has no validation counts, and no registry was consulted: said, not skipped silently.
        notChecked: [
          'champion columns: no model registry was consulted',
          'quarantine rate: the manifest of s1 has no validation counts',
        ],
      },
      audit: {
        seq: 1,
        at: '2024-05-01T12:00:00.000Z',
        action: 'publish',
        snapshotId: 's1',
        previousSnapshotId: null,
        rows: 2,
        customers: 2,
        quarantined: null,
        publisher: 'unknown',
        reason: null,
        forced: false,
        overridden: [],
        earlier: [],
      },
    });
    expect((await objectStore.list('')).map((o) => o.key)).toEqual(
      [
        CURRENT_KEY,
        'features/audit/0000000001.json',
        keys.manifest,
        keys.online,
        keys.part,
        keys.quarantine,
      ].sort(),
    );
    expect(await state()).toEqual({ current: 's1', online: 's1' });
    expect(await featureStore.get('5008805')).toEqual({
      id: '5008805',
      snapshotId: 's1',
      nbLoans: 2,
      sumLoanAmount: 250.5 + 5008805,
      lastLoanDate: '2022-01-05',
      nbLoansBeforeLastDate: 1,
      sumLoanAmountBeforeLastDate: 100.25,
      previousLoanDate: '2021-03-01',
      birthday: '1985-07-14',
      jobStartDate: null,
      flagOwnCar: 1,
      amtIncomeTotal: 54000,
    });
    expect(progress.some((p) => p.includes('online store now serves snapshot s1'))).toBe(true);
  });

  it('publishing the same snapshot again changes nothing', async () => {
    const res = await publishSnapshot({
      snapshotDir: await snapshotDir('s1', [5008804, 5008805]),
      objectStore,
      featureStore,
      clock: fixedClock('2024-06-01'),
    });
    expect(res.alreadyCurrent).toBe(true);
    expect(res.objectsWritten).toEqual([]);
    expect(res.onlineRows).toBeNull();
    expect((await readCurrentSnapshot(objectStore))?.publishedAt).toBe('2024-05-01T12:00:00.000Z');
  });

  it('keeps the published manifest when a rebuild of the same snapshot has other build times in it', async () => {
    const dir = await snapshotDir('s1', [5008804, 5008805]);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({ snapshotId: 's1', rowsValid: 2, timingsMs: { build: 12345 } }),
    );
    const res = await publishSnapshot({ snapshotDir: dir, objectStore, featureStore });
    expect(res.alreadyCurrent).toBe(true);
    expect(JSON.parse(new TextDecoder().decode(await objectStore.get(snapshotKeys('s1').manifest)))).toEqual({
      snapshotId: 's1',
      rowsValid: 2,
    });
  });

  it('a crash after the offline objects leaves s1 current in both stores; a re-run finishes the publish', async () => {
    const dir = await snapshotDir('s2', [7, 8, 9]);
    const crash = async (step: string) => {
      if (step === 'offline') throw new Error('crash after offline');
    };
    await expect(
      publishSnapshot({ snapshotDir: dir, objectStore, featureStore, afterStep: crash }),
    ).rejects.toThrow('crash after offline');
    expect(await state()).toEqual({ current: 's1', online: 's1' });
    expect(await featureStore.get('7')).toBeUndefined();

    const res = await publishSnapshot({ snapshotDir: dir, objectStore, featureStore, clock });
    expect(res.objectsWritten).toEqual([]);
    expect(res.objectsKept).toEqual(Object.values(snapshotKeys('s2')));
    expect(res.onlineRows).toBe(3);
    expect(await state()).toEqual({ current: 's2', online: 's2' });
  });

  it('a failed online load leaves the previous snapshot current in both stores', async () => {
    const dir = await snapshotDir('s3', [11, 12], { duplicateOnline: true });
    await expect(publishSnapshot({ snapshotDir: dir, objectStore, featureStore })).rejects.toThrow(
      /unique|duplicate/i,
    );
    expect(await state()).toEqual({ current: 's2', online: 's2' });
    expect(await featureStore.get('11')).toBeUndefined();
    expect((await featureStore.get('8'))?.snapshotId).toBe('s2');
  });

  it('a crash before CURRENT is the documented window (online new, CURRENT old), closed by a re-run', async () => {
    // Two customers: at least half of s2's three (the customer-share guard).
    const dir = await snapshotDir('s4', [21, 22]);
    const crash = async (step: string) => {
      if (step === 'online') throw new Error('crash before CURRENT');
    };
    await expect(
      publishSnapshot({ snapshotDir: dir, objectStore, featureStore, afterStep: crash }),
    ).rejects.toThrow('crash before CURRENT');
    expect(await state()).toEqual({ current: 's2', online: 's4' });
    const res = await publishSnapshot({ snapshotDir: dir, objectStore, featureStore, clock });
    expect(res.onlineRows).toBeNull(); // not reloaded
    expect(await state()).toEqual({ current: 's4', online: 's4' });
  });

  it('refuses a snapshot whose parquet is missing, naming the file', async () => {
    const dir = join(root, 'partial');
    mkdirSync(dir);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ snapshotId: 's5' }));
    await expect(publishSnapshot({ snapshotDir: dir, objectStore, featureStore })).rejects.toThrow(
      join(dir, 'features.parquet'),
    );
    expect(existsSync(join(root, 'store', 'features', 'snapshot=s5'))).toBe(false);
  });
});
