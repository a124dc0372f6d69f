import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { crashPoint } from '#lib/crash-point.ts';
import { InputError } from '#lib/errors.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { ObjectExistsError, getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import {
  ALL_GUARDS,
  DEFAULT_PUBLISH_GUARD_POLICY,
  PublishRefusedError,
  ROLLBACK_GUARDS,
  evaluatePublishGuards,
  type ChampionRequirement,
  type CurrentFacts,
  type GuardName,
  type GuardReason,
  type PublishGuardPolicy,
} from './publish-guards.ts';
import { manifestFacts, snapshotFacts, type SnapshotFacts } from './snapshot-facts.ts';
import {
  appendSnapshotAudit,
  defaultRollbackTarget,
  snapshotAuditLog,
  type SnapshotAction,
  type SnapshotAuditEntry,
  type SnapshotErasure,
} from './snapshot-history.ts';
import { readOnlineRows } from './snapshot-reader.ts';
import { readErasedSnapshot, type ErasedSnapshot } from './erased-snapshots.ts';
import { CURRENT_KEY, FEATURES_AUDIT_PREFIX, snapshotKeys, SNAPSHOTS_PREFIX } from './offline-layout.ts';

/**
 * Publishing a snapshot: a built directory (what `features build` wrote), or a snapshot already in
 * the offline store (`publish --id`, `features rollback`), made the one the online store serves
 * and `features/CURRENT` names.
 *
 * Order, and what a crash at each point leaves:
 * 0. the publish guards (lib/features/publish-guards.ts) on the snapshot's facts: a refusal
 *    (PublishRefusedError, unless forced) writes NOTHING; everything serves as before.
 * 1. the snapshot's objects (directory publishes only), each written atomically and
 *    create-if-absent: the parquet part, the online rows, the quarantine file, then the manifest
 *    LAST (a snapshot folder without manifest.json is not a snapshot; readers and re-runs ignore
 *    or finish it). Previous snapshot current everywhere.
 * 2. the online load: staging + one-transaction swap (FeatureStore.replaceSnapshot). A crash
 *    during it leaves the previous snapshot online.
 * 3. the audit entry (features/audit/<seq>.json, lib/features/snapshot-history.ts): written once
 *    the online store serves the snapshot, before the pointer, so every change of what is served
 *    has its entry; a re-run does not write a second one (the newest entry already names it).
 * 4. `features/CURRENT` swapped LAST: the commit point. A crash between 2 and 4 is the one window
 *    where the online store already serves the new snapshot while CURRENT still names the
 *    previous one (two stores cannot share a transaction); re-running the command closes it.
 *
 * Every step is idempotent: objects already present (same snapshot id = same content) are kept,
 * an online store already serving the snapshot is not reloaded, and a CURRENT already naming the
 * snapshot is not rewritten. Publishing the same directory twice is a cheap success.
 */

export { CURRENT_KEY, snapshotKeys } from './offline-layout.ts';
export { followErasures, readErasedSnapshot, type ErasedSnapshot } from './erased-snapshots.ts';

export interface CurrentSnapshotPointer {
  snapshotId: string;
  /** ISO timestamp of the publish that made this snapshot current. */
  publishedAt: string;
  manifestKey: string;
}

/**
 * Every object of a snapshot in the offline store: the one definition of the layout (the train
 * function, the history and rollback read it too). `online` (the per-customer rows) is what
 * makes a stored snapshot restorable by `features rollback` and `features publish --id`.
 */

/** The prefix of every snapshot folder; `features/snapshot=<id>/`. */
const SNAPSHOT_FOLDER = /^features\/snapshot=([A-Za-z0-9._-]{1,128})\/manifest\.json$/;

/** The files of a built snapshot directory. */
export const SNAPSHOT_FILES = {
  manifest: 'manifest.json',
  features: 'features.parquet',
  online: 'online.parquet',
  quarantine: 'quarantine.csv',
} as const;

export type PublishStep = 'offline' | 'online' | 'audit' | 'current';

/** The guards a publish runs (default: every guard with the default policy, no champion check). */
export interface PublishGuardOptions {
  policy?: PublishGuardPolicy;
  /** What the champion reads (lib/features/champion-requirement.ts); null = no champion. */
  champion?: ChampionRequirement | null;
  /** Publish even when guards refuse; the audit entry records it and what was overridden. */
  force?: boolean;
}

interface CommonOptions {
  objectStore: ObjectStore;
  featureStore: FeatureStore;
  clock?: Clock;
  /** Progress lines for a human (the CLI prints them on stderr). */
  onProgress?: (message: string) => void;
  /** Called after each step completes; tests throw here to simulate a crash between steps. */
  afterStep?: (step: PublishStep) => void | Promise<void>;
  guards?: PublishGuardOptions;
  /** Who publishes, for the audit log: `user@host: <command>`, or the Lambda's request id. */
  publisher?: string;
  /** Why, for the audit log. */
  reason?: string;
}

export interface PublishOptions extends CommonOptions {
  /** A directory written by `features build`, or a stored snapshot folder (part-00000.parquet). */
  snapshotDir: string;
}

export interface PublishResult {
  snapshotId: string;
  manifestKey: string;
  action: SnapshotAction;
  /** What CURRENT named before (null: nothing was published). */
  previousSnapshotId: string | null;
  /** Keys written by this run, and keys that were already there from an earlier run. */
  objectsWritten: string[];
  objectsKept: string[];
  /** Customers in the online store for this snapshot; null when it was already serving it. */
  onlineRows: number | null;
  current: CurrentSnapshotPointer;
  /** True when every store already had this snapshot current: nothing was changed. */
  alreadyCurrent: boolean;
  guards: {
    /** Reasons the guards gave; non-empty only when forced (otherwise the publish throws). */
    overridden: GuardReason[];
    /** Guards that could not run for lack of facts, in words. */
    notChecked: string[];
    forced: boolean;
  };
  /** The audit entry written; null when the log already recorded this state. */
  audit: SnapshotAuditEntry | null;
}

/** The snapshot CURRENT points at, or undefined before the first publish. */
export async function readCurrentSnapshot(
  objectStore: ObjectStore,
): Promise<CurrentSnapshotPointer | undefined> {
  return getJson<CurrentSnapshotPointer>(objectStore, CURRENT_KEY);
}

function erasedError(snapshotId: string, erased: ErasedSnapshot): InputError {
  return new InputError(
    'SNAPSHOT_ERASED',
    `snapshot ${snapshotId} was rewritten by an erasure at ${erased.at}` +
      (erased.auditSeq !== null ? ` (features audit entry ${erased.auditSeq})` : '') +
      ': it held a customer who must not be served again. ' +
      (erased.replacedBy
        ? `Its rows without that customer are snapshot ${erased.replacedBy}: publish that one (credit-risk features publish --id ${erased.replacedBy}), or build again from the raw zone.`
        : 'Build again from the raw zone.'),
    { snapshotId, replacedBy: erased.replacedBy },
  );
}

/** The ids of every snapshot in the offline store (a folder with its manifest), sorted. */
export async function listStoredSnapshots(objectStore: ObjectStore): Promise<string[]> {
  return (await objectStore.list(SNAPSHOTS_PREFIX))
    .map((o) => SNAPSHOT_FOLDER.exec(o.key)?.[1])
    .filter((id): id is string => id !== undefined);
}

/** The id in DIR/manifest.json, validated; an InputError names what is wrong with DIR. */
export function readSnapshotId(snapshotDir: string): string {
  return readSnapshotManifest(snapshotDir).snapshotId;
}

function readSnapshotManifest(snapshotDir: string): { snapshotId: string; manifest: unknown } {
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
  return { snapshotId: validSnapshotId(manifest, manifestPath), manifest };
}

function validSnapshotId(manifest: unknown, where: string): string {
  const id = (manifest as { snapshotId?: unknown } | null)?.snapshotId;
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(id)) {
    throw new InputError(
      'SNAPSHOT_INCOMPLETE',
      `${where} has no valid "snapshotId" (got ${JSON.stringify(id)})`,
    );
  }
  return id;
}

/**
 * A snapshot that cannot be loaded online again: its folder has no online.parquet (published
 * before the offline store kept the online rows). The way out is to build it again.
 */
function notRestorable(snapshotId: string, where: string, manifest: unknown): InputError {
  const m = (manifest ?? {}) as { input?: { path?: unknown }; asOf?: unknown };
  const input = typeof m.input?.path === 'string' ? m.input.path : 'RAW.csv';
  const asOf = typeof m.asOf === 'string' ? ` --as-of ${m.asOf}` : '';
  return new InputError(
    'SNAPSHOT_NOT_RESTORABLE',
    `snapshot ${snapshotId} has no online rows in the offline store (${where} is missing: it was ` +
      `published before publishes kept them), so it cannot be loaded into the online store again. ` +
      `Rebuild it from its raw file: credit-risk features build --input ${input}${asOf} --out DIR, ` +
      `then credit-risk features publish --snapshot DIR`,
    { snapshotId },
  );
}

/** The local files of a snapshot directory: a build's, or a stored snapshot folder's. */
function directoryFiles(snapshotDir: string, snapshotId: string) {
  const storedPart = join(snapshotDir, basename(snapshotKeys(snapshotId).part));
  const built = join(snapshotDir, SNAPSHOT_FILES.features);
  return {
    part: !existsSync(built) && existsSync(storedPart) ? storedPart : built,
    stored: !existsSync(built) && existsSync(storedPart),
    online: join(snapshotDir, SNAPSHOT_FILES.online),
    quarantine: join(snapshotDir, SNAPSHOT_FILES.quarantine),
    manifest: join(snapshotDir, SNAPSHOT_FILES.manifest),
  };
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The files a publish would load are the ones the build wrote: the manifest records each file's
 * size and sha256, and a file changed, truncated or overwritten since (a copy cut short, a disk
 * error, someone's edit) is refused with SNAPSHOT_CORRUPT before anything reads it, instead of a
 * DuckDB error from the middle of the load or, worse, a garbage table in the offline store.
 * Manifests without file facts (older builds) are not checked.
 */
async function expectFilesAsBuilt(
  manifest: unknown,
  checks: Array<['features' | 'online', string]>,
): Promise<void> {
  const recorded = (manifest as { files?: Record<string, { bytes?: unknown; sha256?: unknown }> } | null)
    ?.files;
  for (const [name, file] of checks) {
    const want = recorded?.[name];
    if (typeof want?.sha256 !== 'string') continue;
    const bytes = statSync(file).size;
    const sha256 = await sha256Of(file);
    if (sha256 === want.sha256) continue;
    throw new InputError(
      'SNAPSHOT_CORRUPT',
      `${file} is not the file its build wrote (${bytes} bytes, sha256 ${sha256.slice(0, 12)}...; the ` +
        `manifest says ${String(want.bytes)} bytes, sha256 ${want.sha256.slice(0, 12)}...): it changed ` +
        `or broke after the build; build the snapshot again and publish that`,
    );
  }
}

export async function publishSnapshot(options: PublishOptions): Promise<PublishResult> {
  const { snapshotDir, objectStore } = options;
  const progress = options.onProgress ?? (() => undefined);
  const { snapshotId, manifest } = readSnapshotManifest(snapshotDir);
  // A build directory made before an erase still holds the erased customer.
  const erased = await readErasedSnapshot(objectStore, snapshotId);
  if (erased) throw erasedError(snapshotId, erased);
  const files = directoryFiles(snapshotDir, snapshotId);
  if (!existsSync(files.part)) {
    throw new InputError(
      'SNAPSHOT_INCOMPLETE',
      `${files.part} is missing from the snapshot directory (build with --format parquet)`,
    );
  }
  if (!existsSync(files.online)) {
    if (files.stored) throw notRestorable(snapshotId, files.online, manifest);
    throw new InputError(
      'SNAPSHOT_INCOMPLETE',
      `${files.online} is missing from the snapshot directory (build with --format parquet)`,
    );
  }
  await expectFilesAsBuilt(manifest, [
    ['online', files.online],
    // A stored folder's part file is checked where it was written (the erase rewrites it with
    // the manifest, possibly as several parts); a build's features.parquet is checked here.
    ...(files.stored ? [] : ([['features', files.part]] as Array<['features', string]>)),
  ]);
  const keys = snapshotKeys(snapshotId);
  const facts = await snapshotFacts(snapshotId, manifest, files.online);

  return activate(options, {
    snapshotId,
    action: 'publish',
    facts,
    onlineFile: files.online,
    guards: ALL_GUARDS,
    async writeOffline() {
      const written: string[] = [];
      const kept: string[] = [];
      const uploads: Array<[string, string, string]> = [
        [files.part, keys.part, 'application/vnd.apache.parquet'],
        [files.online, keys.online, 'application/vnd.apache.parquet'],
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
        if (key !== keys.manifest) crashPoint('features-publish:offline-before-manifest');
      }
      return { written, kept };
    },
  });
}

export interface StoredPublishOptions extends CommonOptions {
  /** A snapshot already in the offline store (features/snapshot=<id>/). */
  snapshotId: string;
  /** Scratch space for its downloaded online rows (default: the OS temp directory). */
  tmpDir?: string;
}

/**
 * `features publish --id ID`: a snapshot already in the offline store made current again, through
 * the same guards, online load, audit and pointer as a directory publish (nothing is uploaded).
 */
export async function publishStoredSnapshot(options: StoredPublishOptions): Promise<PublishResult> {
  return activateStored(options, 'publish');
}

/**
 * An erase's publish (lib/privacy/erase.ts): the rewritten copy of the current snapshot, already
 * stored, made current through the same online load, audit and pointer, with action `erase` and
 * the erasure (keyed hash, old -> new ids) in its audit entry. The rollback guards run, forced:
 * an erasure is not refused, and what a guard said is audited.
 */
export async function publishErasedSnapshot(
  options: StoredPublishOptions & { erasure: SnapshotErasure },
): Promise<PublishResult> {
  return activateStored({ ...options, guards: { ...options.guards, force: true } }, 'erase', options.erasure);
}

export interface RollbackOptions extends Omit<StoredPublishOptions, 'snapshotId'> {
  /** The snapshot to go back to (default: the one current before the current one, from the audit log). */
  to?: string;
}

/**
 * `features rollback`: the online store and CURRENT back to an earlier stored snapshot, audited.
 * Without `to`, the target is the snapshot that was current before the current one: the rollback
 * stack of the newest audit entry (lib/features/snapshot-history.ts), which a rollback pops, so
 * rolling back twice goes two publishes back. Only the no-customers and champion-columns guards
 * run: the target served before, but it must still be servable.
 */
export async function rollbackSnapshot(options: RollbackOptions): Promise<PublishResult> {
  const { objectStore, featureStore } = options;
  let target = options.to;
  if (target === undefined) {
    const current = await readCurrentSnapshot(objectStore);
    await featureStore.init();
    const online = await featureStore.currentSnapshot();
    const latest = await snapshotAuditLog(objectStore).latest();
    target = defaultRollbackTarget(latest, current?.snapshotId, online);
    if (target === undefined) {
      const stored = (await listStoredSnapshots(objectStore)).filter((id) => id !== current?.snapshotId);
      throw new InputError(
        'NO_ROLLBACK_TARGET',
        `the audit log (${objectStore.describe(`${FEATURES_AUDIT_PREFIX}/audit`)}) names no snapshot current before ` +
          `${current?.snapshotId ?? 'now'}: give one with --to ID` +
          (stored.length > 0
            ? ` (stored: ${stored.slice(0, 10).join(', ')}${stored.length > 10 ? ', ...' : ''})`
            : ' (no other snapshot is stored)'),
      );
    }
  }
  options.onProgress?.(`rolling back to snapshot ${target}`);
  return activateStored({ ...options, snapshotId: target }, 'rollback');
}

async function activateStored(
  options: StoredPublishOptions,
  action: SnapshotAction,
  erasure?: SnapshotErasure,
): Promise<PublishResult> {
  const { objectStore, snapshotId } = options;
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(snapshotId)) {
    throw new InputError('BAD_SNAPSHOT_ID', `${JSON.stringify(snapshotId)} is not a snapshot id`);
  }
  const keys = snapshotKeys(snapshotId);
  const manifest = await getJson<unknown>(objectStore, keys.manifest);
  if (manifest === undefined) {
    const erased = await readErasedSnapshot(objectStore, snapshotId);
    if (erased) throw erasedError(snapshotId, erased);
    const stored = await listStoredSnapshots(objectStore);
    throw new InputError(
      'SNAPSHOT_NOT_FOUND',
      `no snapshot ${snapshotId} in the offline store (${objectStore.describe(keys.manifest)} is missing); ` +
        (stored.length > 0
          ? `stored: ${stored.slice(0, 10).join(', ')}${stored.length > 10 ? ', ...' : ''} (see credit-risk features history)`
          : 'nothing is stored yet'),
    );
  }
  if (validSnapshotId(manifest, objectStore.describe(keys.manifest)) !== snapshotId) {
    throw new Error(`${objectStore.describe(keys.manifest)} names another snapshot than ${snapshotId}`);
  }
  if (!(await objectStore.head(keys.online))) {
    throw notRestorable(snapshotId, objectStore.describe(keys.online), manifest);
  }
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'snapshot-'));
  try {
    const onlineFile = join(work, SNAPSHOT_FILES.online);
    await objectStore.download(keys.online, onlineFile);
    const facts = await snapshotFacts(snapshotId, manifest, onlineFile);
    return await activate(options, {
      snapshotId,
      action,
      facts,
      onlineFile,
      guards: action === 'publish' ? ALL_GUARDS : ROLLBACK_GUARDS,
      erasure,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Activation {
  snapshotId: string;
  action: SnapshotAction;
  facts: SnapshotFacts;
  /** The snapshot's online rows as a local Parquet file. */
  onlineFile: string;
  guards: readonly GuardName[];
  /** An erase's audit addition. */
  erasure?: SnapshotErasure;
  /** Uploads the snapshot's objects (directory publishes); absent for a stored snapshot. */
  writeOffline?: () => Promise<{ written: string[]; kept: string[] }>;
}

/** Steps 0, 2, 3 and 4 of the module comment (1 is the plan's writeOffline), shared by every path. */
async function activate(options: CommonOptions, plan: Activation): Promise<PublishResult> {
  const { objectStore, featureStore } = options;
  const { snapshotId, facts } = plan;
  const clock = options.clock ?? systemClock;
  const progress = options.onProgress ?? (() => undefined);
  const afterStep = async (step: PublishStep) => {
    crashPoint(`features-publish:after-${step}`);
    await options.afterStep?.(step);
  };
  const keys = snapshotKeys(snapshotId);

  const previous = await readCurrentSnapshot(objectStore);
  await featureStore.init();
  const onlineBefore = await featureStore.currentSnapshot();
  const latest = await snapshotAuditLog(objectStore).latest();
  // An audit entry already naming the snapshot is a change decided (and guarded, or forced)
  // before; this run only finishes it. Nothing to change at all needs no guard either.
  const decided =
    latest?.snapshotId === snapshotId || (previous?.snapshotId === snapshotId && onlineBefore === snapshotId);

  // 0. Guards, before anything is written.
  let verdict: { reasons: GuardReason[]; notChecked: string[] } = { reasons: [], notChecked: [] };
  if (!decided) {
    verdict = evaluatePublishGuards({
      candidate: facts,
      current: previous ? await currentFacts(objectStore, previous, latest) : undefined,
      champion: options.guards?.champion,
      policy: options.guards?.policy ?? DEFAULT_PUBLISH_GUARD_POLICY,
      guards: plan.guards,
    });
    for (const n of verdict.notChecked) progress(`not checked: ${n}`);
    if (verdict.reasons.length > 0) {
      if (!options.guards?.force)
        throw new PublishRefusedError(
          snapshotId,
          verdict.reasons,
          plan.action === 'publish' ? 'publish' : 'rollback',
        );
      for (const r of verdict.reasons) progress(`forced past the ${r.guard} guard: ${r.message}`);
    }
  }

  // 1. Offline objects, the manifest last.
  const offline = plan.writeOffline ? await plan.writeOffline() : { written: [], kept: [] };
  await afterStep('offline');

  // 2. Online store.
  let onlineRows: number | null = null;
  if (onlineBefore === snapshotId) {
    progress(`online store already serves snapshot ${snapshotId}`);
  } else {
    progress(`loading ${SNAPSHOT_FILES.online} into the online store (staging, then one-transaction swap)`);
    const loaded = featureStore.replaceSnapshotFromParquet
      ? await featureStore.replaceSnapshotFromParquet(snapshotId, plan.onlineFile)
      : await featureStore.replaceSnapshot(snapshotId, readOnlineRows(plan.onlineFile, snapshotId));
    onlineRows = loaded.rows;
    progress(`online store now serves snapshot ${snapshotId} (${onlineRows} customers)`);
  }
  await afterStep('online');

  // 3. The audit entry, unless the log already records this snapshot as the newest change.
  let audit: SnapshotAuditEntry | null = null;
  if (latest?.snapshotId !== snapshotId) {
    audit = await appendSnapshotAudit(
      objectStore,
      {
        at: clock.now().toISOString(),
        action: plan.action,
        snapshotId,
        previousSnapshotId: previous?.snapshotId ?? null,
        rows: facts.rows,
        customers: facts.customers,
        quarantined: facts.rowsQuarantined,
        publisher: options.publisher ?? 'unknown',
        reason: options.reason ?? null,
        forced: verdict.reasons.length > 0,
        overridden: verdict.reasons,
        ...(plan.erasure ? { erasure: plan.erasure } : {}),
      },
      { latest },
    );
    progress(`audited: ${objectStore.describe(snapshotAuditLog(objectStore).entryKey(audit.seq))}`);
  }
  await afterStep('audit');

  // 4. The pointer, last.
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
    action: plan.action,
    previousSnapshotId: previous?.snapshotId ?? null,
    objectsWritten: offline.written,
    objectsKept: offline.kept,
    onlineRows,
    current,
    alreadyCurrent:
      offline.written.length === 0 && onlineRows === null && previous?.snapshotId === snapshotId,
    guards: {
      overridden: verdict.reasons,
      notChecked: verdict.notChecked,
      forced: verdict.reasons.length > 0,
    },
    audit,
  };
}

/**
 * How many customers the current snapshot serves: from its newest audit entry, else from its
 * stored manifest (files.online.rows); null when neither says (published before either existed).
 */
async function currentFacts(
  objectStore: ObjectStore,
  current: CurrentSnapshotPointer,
  latest: SnapshotAuditEntry | undefined,
): Promise<CurrentFacts> {
  if (latest?.snapshotId === current.snapshotId && latest.customers !== null)
    return { snapshotId: current.snapshotId, customers: latest.customers };
  const manifest = await getJson<unknown>(objectStore, snapshotKeys(current.snapshotId).manifest);
  return { snapshotId: current.snapshotId, customers: manifestFacts(manifest).customers };
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
