import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { erasedSnapshotKey, ERASED_PREFIX, STAGING_PREFIX } from '#lib/features/offline-layout.ts';
import {
  listStoredSnapshots,
  publishErasedSnapshot,
  readCurrentSnapshot,
  type ErasedSnapshot,
} from '#lib/features/publish.ts';
import type { ChampionRequirement } from '#lib/features/publish-guards.ts';
import {
  appendSnapshotAudit,
  snapshotAuditLog,
  type SnapshotAuditEntry,
} from '#lib/features/snapshot-history.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import { checkCustomerId, checkReason, isCustomerField, mentionPattern, subjectHash } from './customer-id.ts';
import { filterCsvFile, headerNames, type CsvRecord } from './csv-records.ts';
import { filterLines } from './line-files.ts';
import {
  countCustomerRows,
  countRowsAndSum,
  openParquetDb,
  parquetColumns,
  parquetMentions,
  rewriteParquetWithout,
  type ParquetDb,
} from './parquet-rows.ts';
import { PREDICTION_LOG_PREFIX, RAW_PREFIX } from './personal-data.ts';
import {
  deleteSnapshotObjects,
  isCustomersQuarantineRow,
  rewriteSnapshotWithout,
} from './snapshot-rewrite.ts';

/**
 * `credit-risk data erase --id ID`: one customer removed from every store of the ObjectStore and
 * FeatureStore ports (docs/adr/0150-erasure-rewrites-snapshots-under-new-ids.md). The order, and
 * what an interruption at each point leaves (running the erase again finishes it):
 *
 * 1. the online store's row (FeatureStore.deleteCustomer): from here on /predict answers 404.
 * 2. the raw zone: every raw/ file rewritten without the customer's records.
 * 3. every stored snapshot holding the customer rewritten under a new id (old ones kept for now).
 * 4. quarantine files of no stored snapshot, staging (deleted whole), batch predictions (rewritten
 *    in place, their manifests' counts with them), the prediction log.
 * 5. the rewritten current snapshot published (online load, audit entry `erase` with the keyed hash
 *    and old -> new ids, CURRENT), or, when the current snapshot did not hold the customer, an
 *    `erase` entry alone, which maps the rollback stack to the new ids.
 * 6. a tombstone for each rewritten snapshot (features/erased/<old>.json -> new), then the old
 *    snapshot deleted, manifest first.
 *
 * The customer's id is never written anywhere: the audit names them by an HMAC of the id.
 */

export interface EraseOptions {
  objectStore: ObjectStore;
  featureStore: FeatureStore;
  id: string;
  reason: string;
  /** The secret of the keyed hash that names the customer in the audit log. */
  subjectKey: Uint8Array;
  publisher: string;
  clock?: Clock;
  /** What the champion reads (the erase's publish runs the rollback guards, forced). */
  champion?: ChampionRequirement | null;
  /** Scratch space (downloads, rewritten files); removed at the end. Default: the OS temp dir. */
  tmpDir?: string;
  onProgress?: (message: string) => void;
}

export interface FileErasure {
  key: string;
  /** Records (rows, lines) removed. */
  removed: number;
}

export interface EraseResult {
  subject: string;
  online: { deleted: number };
  raw: FileErasure[];
  /** Raw objects this erase cannot read (not CSV or Parquet), and raw CSV files without an `id` column. */
  rawNotChecked: string[];
  snapshots: Array<{
    from: string;
    to: string;
    removed: { features: number; online: number; quarantine: number };
  }>;
  current: { before: string | null; after: string | null };
  quarantine: FileErasure[];
  staging: { deleted: string[] };
  predictions: FileErasure[];
  predictionLog: FileErasure[];
  audit: SnapshotAuditEntry | null;
  tombstones: string[];
  deleted: string[];
}

export async function eraseCustomer(options: EraseOptions): Promise<EraseResult> {
  const id = checkCustomerId(options.id);
  const reason = checkReason(options.reason, id);
  const { objectStore: store, featureStore } = options;
  const clock = options.clock ?? systemClock;
  const progress = options.onProgress ?? (() => undefined);
  const subject = subjectHash(id, options.subjectKey);
  const at = clock.now().toISOString();
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'erase-'));
  const db = await openParquetDb();
  let scratch = 0;
  const dir = () => join(work, String(++scratch));
  try {
    // 1. Online first: the customer stops being served before anything else is touched.
    await featureStore.init();
    const online = await featureStore.deleteCustomer(id);
    progress(`online store: ${online.deleted} row deleted`);

    // 2. The raw zone.
    const raw: FileErasure[] = [];
    const rawNotChecked: string[] = [];
    for (const o of await store.list(RAW_PREFIX)) {
      const r = await eraseFromTable(store, db, o.key, id, dir());
      if (r === 'not-checked') rawNotChecked.push(o.key);
      else if (r > 0) {
        raw.push({ key: o.key, removed: r });
        progress(`raw: ${store.describe(o.key)}: ${r} records removed`);
      }
    }

    // 3. Stored snapshots, rewritten under new ids.
    const snapshots: EraseResult['snapshots'] = [];
    const stored = await listStoredSnapshots(store);
    for (const snapshotId of stored) {
      const r = await rewriteSnapshotWithout({ store, db, snapshotId, id, work: dir(), at });
      if (!r) continue;
      snapshots.push({ from: r.from, to: r.to, removed: r.removed });
      progress(
        `snapshot ${r.from} -> ${r.to}: ${r.removed.features} feature rows, ${r.removed.online} online row, ` +
          `${r.removed.quarantine} quarantined rows removed`,
      );
    }
    const replaced = Object.fromEntries(snapshots.map((s) => [s.from, s.to]));

    // 4. Quarantine of no stored snapshot, staging, batch predictions, the prediction log.
    const quarantine: FileErasure[] = [];
    for (const o of await store.list('quarantine/')) {
      const owner = /^quarantine\/snapshot=([^/]+)\//.exec(o.key)?.[1];
      if (owner !== undefined && (stored.includes(owner) || replaced[owner] !== undefined)) continue;
      if (!o.key.endsWith('.csv')) continue;
      const removed = await rewriteObject(store, o.key, dir(), (local, out) =>
        filterCsvFile(local, out, (r) => isCustomersQuarantineRow(r, id)),
      );
      if (removed > 0) quarantine.push({ key: o.key, removed });
    }
    const staging = { deleted: await eraseStaging(store, db, id, dir) };
    if (staging.deleted.length > 0) progress(`staging: ${staging.deleted.length} objects deleted`);
    const predictions = await erasePredictions(store, db, id, dir);
    for (const p of predictions) progress(`predictions: ${store.describe(p.key)}: ${p.removed} rows removed`);
    const predictionLog: FileErasure[] = [];
    for (const o of await store.list(PREDICTION_LOG_PREFIX)) {
      const removed = await rewriteObject(store, o.key, dir(), (local, out) => filterLines(local, out, id));
      if (removed > 0) predictionLog.push({ key: o.key, removed });
    }

    // 5. The audit entry, with the publish of the rewritten current snapshot when there is one.
    const before = (await readCurrentSnapshot(store))?.snapshotId ?? null;
    let after = before;
    let audit: SnapshotAuditEntry | null = null;
    const changed = snapshots.length > 0 || online.deleted > 0;
    if (before !== null && replaced[before] !== undefined) {
      const published = await publishErasedSnapshot({
        objectStore: store,
        featureStore,
        clock,
        snapshotId: replaced[before],
        tmpDir: work,
        publisher: options.publisher,
        reason,
        guards: { champion: options.champion ?? null },
        erasure: { subject, replaced },
        onProgress: progress,
      });
      after = published.snapshotId;
      audit = published.audit;
    } else if (before !== null && changed) {
      const latest = await snapshotAuditLog(store).latest();
      audit = await appendSnapshotAudit(
        store,
        {
          at,
          action: 'erase',
          snapshotId: before,
          previousSnapshotId: before,
          rows: null,
          customers: null,
          quarantined: null,
          publisher: options.publisher,
          reason,
          forced: false,
          overridden: [],
          erasure: { subject, replaced },
        },
        { latest },
      );
    }
    if (audit)
      progress(
        `audited: features audit entry ${audit.seq} (action erase, customer as ${subject.slice(0, 24)}...)`,
      );

    // 6. Tombstones, then the old snapshots go.
    const tombstones: string[] = [];
    const deleted: string[] = [];
    for (const s of snapshots) {
      const tomb: ErasedSnapshot = { snapshotId: s.from, replacedBy: s.to, at, auditSeq: audit?.seq ?? null };
      const key = erasedSnapshotKey(s.from);
      await store.put(key, `${JSON.stringify(tomb, null, 2)}\n`, { contentType: 'application/json' });
      tombstones.push(key);
      deleted.push(...(await deleteSnapshotObjects(store, s.from)));
    }
    // A tombstone pointing at a snapshot this erase replaced again follows it to the newest one.
    for (const o of await store.list(ERASED_PREFIX)) {
      const tomb = await getJson<ErasedSnapshot>(store, o.key);
      if (tomb?.replacedBy && replaced[tomb.replacedBy] !== undefined && !tombstones.includes(o.key)) {
        await store.put(
          o.key,
          `${JSON.stringify({ ...tomb, replacedBy: replaced[tomb.replacedBy] }, null, 2)}\n`,
          {
            contentType: 'application/json',
          },
        );
      }
    }
    if (deleted.length > 0)
      progress(`deleted ${deleted.length} objects of ${snapshots.length} old snapshots`);

    return {
      subject,
      online,
      raw,
      rawNotChecked,
      snapshots,
      current: { before, after },
      quarantine,
      staging,
      predictions,
      predictionLog,
      audit,
      tombstones,
      deleted,
    };
  } finally {
    db.close();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A table file (CSV with a header, or Parquet) rewritten without the customer's rows when it has
 * any; the number removed, or 'not-checked' when it cannot be read as either (no `id` column).
 */
async function eraseFromTable(
  store: ObjectStore,
  db: ParquetDb,
  key: string,
  id: string,
  work: string,
): Promise<number | 'not-checked'> {
  const name = basename(key).toLowerCase();
  if (name.endsWith('.parquet')) {
    let hasId = true;
    const removed = await rewriteObject(store, key, work, async (local, out) => {
      hasId = (await parquetColumns(db, local)).some((c) => c.name === 'id');
      if (!hasId || (await countCustomerRows(db, local, id)) === 0) return { removed: 0 };
      return rewriteParquetWithout(db, local, out, id);
    });
    return hasId ? removed : 'not-checked';
  }
  if (name.endsWith('.csv') || name.endsWith('.txt')) {
    let idColumn = -1;
    const removed = await rewriteObject(store, key, work, (local, out) =>
      filterCsvFile(local, out, (r) => isCustomersRecord(r, id, (i) => (idColumn = i), idColumn)),
    );
    return idColumn < 0 ? 'not-checked' : removed;
  }
  return 'not-checked';
}

/** A CSV record of the customer: its `id` column (found in the header, record 0) is their id. */
function isCustomersRecord(
  record: CsvRecord,
  id: string,
  setColumn: (i: number) => void,
  column: number,
): boolean {
  if (record.index === 0) {
    setColumn(headerNames(record).indexOf('id'));
    return false;
  }
  if (column < 0) return false;
  const field = record.fields()[column];
  return field !== undefined && isCustomerField(field, id);
}

/**
 * Downloads `key`, lets `rewrite` write the version without the customer, and uploads it over the
 * key when anything was removed. Returns how many records were removed.
 */
async function rewriteObject(
  store: ObjectStore,
  key: string,
  work: string,
  rewrite: (local: string, out: string) => { removed: number } | Promise<{ removed: number }>,
): Promise<number> {
  const local = join(work, 'in', basename(key));
  const out = join(work, 'out', basename(key));
  await store.download(key, local);
  mkdirSync(join(work, 'out'), { recursive: true });
  const { removed } = await rewrite(local, out);
  if (removed > 0) await store.upload(out, key, { contentType: contentTypeOf(key) });
  return removed;
}

function contentTypeOf(key: string): string {
  if (key.endsWith('.parquet')) return 'application/vnd.apache.parquet';
  if (key.endsWith('.csv')) return 'text/csv';
  if (key.endsWith('.json')) return 'application/json';
  return 'application/x-ndjson';
}

/**
 * staging/<id>/ is scratch between the Glue branch's steps (validated raw rows, the job's output):
 * a prefix with any row of the customer is deleted whole; a resumed run stages it again.
 */
async function eraseStaging(
  store: ObjectStore,
  db: ParquetDb,
  id: string,
  dir: () => string,
): Promise<string[]> {
  const byPrefix = new Map<string, string[]>();
  for (const o of await store.list(STAGING_PREFIX)) {
    const prefix = o.key.split('/').slice(0, 2).join('/') + '/';
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), o.key]);
  }
  const deleted: string[] = [];
  for (const keys of byPrefix.values()) {
    let mentions = 0;
    for (const key of keys) {
      const local = join(dir(), basename(key));
      await store.download(key, local);
      if (key.endsWith('.parquet')) mentions += await parquetMentions(db, local, id);
      else if (mentionPattern(id).test(readFileSync(local, 'latin1'))) mentions++;
      if (mentions > 0) break;
    }
    if (mentions === 0) continue;
    for (const key of keys) {
      await store.delete(key);
      deleted.push(key);
    }
  }
  return deleted;
}

/**
 * Batch predictions (predictions/<model>/<version>/snapshot=<id>/part-*.parquet): the files are
 * rewritten in place (the folder names the snapshot that was scored), and each run's manifest gets
 * the counts of what its files hold now.
 */
async function erasePredictions(
  store: ObjectStore,
  db: ParquetDb,
  id: string,
  dir: () => string,
): Promise<FileErasure[]> {
  const out: FileErasure[] = [];
  const touched = new Set<string>();
  for (const o of await store.list('predictions/')) {
    if (!/\/snapshot=[^/]+\/[^/]+\.(parquet|csv)$/.test(o.key)) continue;
    const r = await eraseFromTable(store, db, o.key, id, dir());
    if (r === 'not-checked' || r === 0) continue;
    out.push({ key: o.key, removed: r });
    touched.add(o.key.slice(0, o.key.lastIndexOf('/') + 1));
  }
  for (const folder of touched) {
    const manifestKey = `${folder}manifest.json`;
    const manifest = await getJson<{
      rows: number;
      positives: number;
      shards: Array<{ outputKey: string; rows: number; positives: number }>;
    }>(store, manifestKey);
    if (!manifest) continue;
    let rows = 0;
    let positives = 0;
    for (const shard of manifest.shards) {
      if (shard.outputKey.endsWith('.parquet') && (await store.head(shard.outputKey))) {
        const local = join(dir(), basename(shard.outputKey));
        await store.download(shard.outputKey, local);
        const counted = await countRowsAndSum(db, local, 'prediction');
        shard.rows = counted.rows;
        shard.positives = counted.sum ?? shard.positives;
      }
      rows += shard.rows;
      positives += shard.positives;
    }
    await store.put(manifestKey, `${JSON.stringify({ ...manifest, rows, positives }, null, 2)}\n`, {
      contentType: 'application/json',
    });
  }
  return out;
}
