import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { ObjectExistsError, getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import { readOnlineRows } from './snapshot-reader.ts';

/**
 * Publishing a built snapshot (the directory `features build` wrote) to the offline store (object
 * store) and the online store (FeatureStore).
 *
 * Order, and what a crash at each point leaves:
 * 1. the snapshot's objects, each written atomically and create-if-absent: the parquet part, the
 *    quarantine file, then the manifest LAST (a snapshot folder without manifest.json is not a
 *    snapshot; readers and re-runs ignore or finish it). Previous snapshot current everywhere.
 * 2. the online load: staging + one-transaction swap (FeatureStore.replaceSnapshot). A crash
 *    during it leaves the previous snapshot online.
 * 3. `features/CURRENT` swapped LAST: the commit point. A crash between 2 and 3 is the one window
 *    where the online store already serves the new snapshot while CURRENT still names the
 *    previous one (two stores cannot share a transaction); re-running publish closes it.
 *
 * Every step is idempotent: objects already present (same snapshot id = same content) are kept,
 * an online store already serving the snapshot is not reloaded, and a CURRENT already naming the
 * snapshot is not rewritten. Publishing the same directory twice is a cheap success.
 */

export const CURRENT_KEY = 'features/CURRENT';

export interface CurrentSnapshotPointer {
  snapshotId: string;
  /** ISO timestamp of the publish that made this snapshot current. */
  publishedAt: string;
  manifestKey: string;
}

export function snapshotKeys(snapshotId: string): { part: string; quarantine: string; manifest: string } {
  return {
    part: `features/snapshot=${snapshotId}/part-00000.parquet`,
    quarantine: `quarantine/snapshot=${snapshotId}/quarantine.csv`,
    manifest: `features/snapshot=${snapshotId}/manifest.json`,
  };
}

/** The files of a built snapshot directory. */
export const SNAPSHOT_FILES = {
  manifest: 'manifest.json',
  features: 'features.parquet',
  online: 'online.parquet',
  quarantine: 'quarantine.csv',
} as const;

export type PublishStep = 'offline' | 'online' | 'current';

export interface PublishOptions {
  snapshotDir: string;
  objectStore: ObjectStore;
  featureStore: FeatureStore;
  clock?: Clock;
  /** Progress lines for a human (the CLI prints them on stderr). */
  onProgress?: (message: string) => void;
  /** Called after each step completes; tests throw here to simulate a crash between steps. */
  afterStep?: (step: PublishStep) => void | Promise<void>;
}

export interface PublishResult {
  snapshotId: string;
  manifestKey: string;
  /** Keys written by this run, and keys that were already there from an earlier run. */
  objectsWritten: string[];
  objectsKept: string[];
  /** Customers in the online store for this snapshot; null when it was already serving it. */
  onlineRows: number | null;
  current: CurrentSnapshotPointer;
  /** True when every store already had this snapshot current: nothing was changed. */
  alreadyCurrent: boolean;
}

/** The snapshot CURRENT points at, or undefined before the first publish. */
export async function readCurrentSnapshot(
  objectStore: ObjectStore,
): Promise<CurrentSnapshotPointer | undefined> {
  return getJson<CurrentSnapshotPointer>(objectStore, CURRENT_KEY);
}

/** The id in DIR/manifest.json, validated; an InputError names what is wrong with DIR. */
export function readSnapshotId(snapshotDir: string): string {
  const manifestPath = join(snapshotDir, SNAPSHOT_FILES.manifest);
  if (!existsSync(snapshotDir) || !statSync(snapshotDir).isDirectory()) {
    throw new InputError('SNAPSHOT_NOT_FOUND', `snapshot directory not found: ${snapshotDir}`);
  }
  if (!existsSync(manifestPath)) {
    throw new InputError(
      'SNAPSHOT_INCOMPLETE',
      `${manifestPath} is missing: \`features build\` writes it last, so ${snapshotDir} is not a finished build (run the build again)`,
    );
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    throw new InputError('SNAPSHOT_INCOMPLETE', `${manifestPath} is not valid JSON: ${(e as Error).message}`);
  }
  const id = (manifest as { snapshotId?: unknown } | null)?.snapshotId;
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(id)) {
    throw new InputError(
      'SNAPSHOT_INCOMPLETE',
      `${manifestPath} has no valid "snapshotId" (got ${JSON.stringify(id)})`,
    );
  }
  return id;
}

export async function publishSnapshot(options: PublishOptions): Promise<PublishResult> {
  const { snapshotDir, objectStore, featureStore } = options;
  const clock = options.clock ?? systemClock;
  const progress = options.onProgress ?? (() => undefined);
  const afterStep = options.afterStep ?? (() => undefined);

  const snapshotId = readSnapshotId(snapshotDir);
  const files = {
    part: join(snapshotDir, SNAPSHOT_FILES.features),
    online: join(snapshotDir, SNAPSHOT_FILES.online),
    quarantine: join(snapshotDir, SNAPSHOT_FILES.quarantine),
    manifest: join(snapshotDir, SNAPSHOT_FILES.manifest),
  };
  for (const f of [files.part, files.online]) {
    if (!existsSync(f))
      throw new InputError(
        'SNAPSHOT_INCOMPLETE',
        `${f} is missing from the snapshot directory (build with --format parquet)`,
      );
  }
  const keys = snapshotKeys(snapshotId);

  const previous = await readCurrentSnapshot(objectStore);
  await featureStore.init();
  const onlineBefore = await featureStore.currentSnapshot();

  // 1. Offline objects, the manifest last.
  const written: string[] = [];
  const kept: string[] = [];
  const uploads: Array<[string, string, string]> = [
    [files.part, keys.part, 'application/vnd.apache.parquet'],
  ];
  if (existsSync(files.quarantine)) uploads.push([files.quarantine, keys.quarantine, 'text/csv']);
  uploads.push([files.manifest, keys.manifest, 'application/json']);
  for (const [file, key, contentType] of uploads) {
    const wrote = await uploadOnce(
      objectStore,
      file,
      key,
      contentType,
      key === keys.manifest ? snapshotId : undefined,
    );
    (wrote ? written : kept).push(key);
    progress(`${wrote ? 'uploaded' : 'already there'}: ${objectStore.describe(key)}`);
  }
  await afterStep('offline');

  // 2. Online store.
  let onlineRows: number | null = null;
  if (onlineBefore === snapshotId) {
    progress(`online store already serves snapshot ${snapshotId}`);
  } else {
    progress(`loading ${SNAPSHOT_FILES.online} into the online store (staging, then one-transaction swap)`);
    const loaded = featureStore.replaceSnapshotFromParquet
      ? await featureStore.replaceSnapshotFromParquet(snapshotId, files.online)
      : await featureStore.replaceSnapshot(snapshotId, readOnlineRows(files.online, snapshotId));
    onlineRows = loaded.rows;
    progress(`online store now serves snapshot ${snapshotId} (${onlineRows} customers)`);
  }
  await afterStep('online');

  // 3. The pointer, last.
  let current: CurrentSnapshotPointer;
  if (previous?.snapshotId === snapshotId) {
    current = previous;
  } else {
    current = { snapshotId, publishedAt: clock.now().toISOString(), manifestKey: keys.manifest };
    await objectStore.put(CURRENT_KEY, JSON.stringify(current, null, 2) + '\n', {
      contentType: 'application/json',
    });
    progress(`${objectStore.describe(CURRENT_KEY)} -> ${snapshotId}`);
  }
  await afterStep('current');

  return {
    snapshotId,
    manifestKey: keys.manifest,
    objectsWritten: written,
    objectsKept: kept,
    onlineRows,
    current,
    alreadyCurrent: written.length === 0 && onlineRows === null && previous?.snapshotId === snapshotId,
  };
}

/**
 * Uploads create-if-absent; true when written, false when the object was already there. A data
 * file already there must have the local file's size (same snapshot id = same content). A
 * manifest (manifestOf set) records build times too, so a rebuild's manifest differs in bytes:
 * the one already published is kept when it names the same snapshot.
 */
async function uploadOnce(
  store: ObjectStore,
  file: string,
  key: string,
  contentType: string,
  manifestOf?: string,
): Promise<boolean> {
  const size = statSync(file).size;
  const existing = await store.head(key);
  if (existing) return checkSame(existing.size, size, store, key, manifestOf);
  try {
    await store.upload(file, key, { contentType, ifAbsent: true });
    return true;
  } catch (e) {
    if (!(e instanceof ObjectExistsError)) throw e;
    const raced = await store.head(key);
    return checkSame(raced?.size ?? -1, size, store, key, manifestOf);
  }
}

async function checkSame(
  existingSize: number,
  size: number,
  store: ObjectStore,
  key: string,
  manifestOf?: string,
): Promise<false> {
  if (manifestOf !== undefined) {
    const published = await getJson<{ snapshotId?: unknown }>(store, key);
    if (published?.snapshotId !== manifestOf) {
      throw new Error(
        `${store.describe(key)} names snapshot ${JSON.stringify(published?.snapshotId)}, expected ${manifestOf}`,
      );
    }
    return false;
  }
  // A snapshot id is derived from the content: different bytes under the same id is a bug upstream.
  if (existingSize !== size) {
    throw new Error(
      `${store.describe(key)} exists with ${existingSize} bytes, the local file has ${size}: snapshot ids must be content-derived`,
    );
  }
  return false;
}
