import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { FeatureManifest, ManifestFile } from '#lib/features/manifest.ts';
import { snapshotKeys, snapshotPrefix } from '#lib/features/offline-layout.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import { isCustomerField } from './customer-id.ts';
import { filterCsvFile, parseCsvFields, type CsvRecord } from './csv-records.ts';
import { countCustomerRows, rewriteParquetWithout, type ParquetDb } from './parquet-rows.ts';

/**
 * One stored feature snapshot rewritten without a customer: its per-loan part(s), its online rows
 * and its quarantine file, under a NEW snapshot id (ids are content-derived: the same id must
 * never name two contents). The old snapshot is left as it is: the erase moves CURRENT, writes
 * the old id's tombstone and only then deletes it (lib/privacy/erase.ts).
 */

export interface SnapshotRewrite {
  from: string;
  to: string;
  removed: { features: number; online: number; quarantine: number };
  /** Rows and customers of the rewritten snapshot. */
  rows: number;
  customers: number;
}

/** The manifest of a rewritten snapshot: the build's, plus where it came from. */
export type ErasedManifest = FeatureManifest & {
  erasedFrom: Array<{ snapshotId: string; at: string }>;
};

/** A quarantine.csv row (`line,reason,raw`) whose raw record has the customer's id in a field. */
export function isCustomersQuarantineRow(record: CsvRecord, id: string): boolean {
  if (record.index === 0) return false;
  const raw = record.fields()[2];
  return raw !== undefined && parseCsvFields(raw).some((f) => isCustomerField(f, id));
}

/**
 * The new id: the first 16 hex of a sha256 over the old id and the bytes of every rewritten file
 * (the same length as a build's id, lib/features/manifest.ts snapshotIdOf). The same erase of the
 * same snapshot gives the same files (one DuckDB thread) and so the same id: an interrupted erase
 * run again writes the same objects again, and finds no second snapshot to make.
 */
export function erasedSnapshotId(from: string, fileSha256s: string[]): string {
  return createHash('sha256')
    .update(JSON.stringify(['features-snapshot-erased-v1', from, ...fileSha256s]))
    .digest('hex')
    .slice(0, 16);
}

function fileFacts(file: string, name: string, rows: number): ManifestFile {
  return {
    name,
    rows,
    bytes: statSync(file).size,
    sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
  };
}

/**
 * Rewrites snapshot `snapshotId` without customer `id` when it holds any of their rows; undefined
 * when it holds none (nothing written). `work`: an empty scratch directory.
 */
export async function rewriteSnapshotWithout(options: {
  store: ObjectStore;
  db: ParquetDb;
  snapshotId: string;
  id: string;
  work: string;
  at: string;
}): Promise<SnapshotRewrite | undefined> {
  const { store, db, snapshotId, id, work } = options;
  const keys = snapshotKeys(snapshotId);
  const manifest = await getJson<FeatureManifest>(store, keys.manifest);
  if (!manifest) return undefined;
  const prefix = snapshotPrefix(snapshotId);
  const parts = (await store.list(prefix))
    .map((o) => o.key)
    .filter((k) => /^part-\d+\.parquet$/.test(k.slice(prefix.length)));
  const oldDir = join(work, 'old');
  const newDir = join(work, 'new');
  mkdirSync(oldDir, { recursive: true });
  mkdirSync(newDir, { recursive: true });

  const local = async (key: string): Promise<string> => {
    const file = join(oldDir, basename(key));
    await store.download(key, file);
    return file;
  };
  const partFiles = await Promise.all(parts.map(local));
  const onlineFile = (await store.head(keys.online)) ? await local(keys.online) : undefined;
  const quarantineFile = (await store.head(keys.quarantine)) ? await local(keys.quarantine) : undefined;

  let inParts = 0;
  for (const f of partFiles) inParts += await countCustomerRows(db, f, id);
  const inOnline = onlineFile ? await countCustomerRows(db, onlineFile, id) : 0;
  const removedByReason: Record<string, number> = {};
  const newQuarantine = join(newDir, 'quarantine.csv');
  const quarantine = quarantineFile
    ? filterCsvFile(quarantineFile, newQuarantine, (r) => {
        if (!isCustomersQuarantineRow(r, id)) return false;
        const reason = r.fields()[1] ?? '';
        removedByReason[reason] = (removedByReason[reason] ?? 0) + 1;
        return true;
      })
    : undefined;
  if (inParts === 0 && inOnline === 0 && (quarantine?.removed ?? 0) === 0) return undefined;

  const newParts: Array<{ file: string; name: string; rows: number }> = [];
  let rows = 0;
  let removedFeatures = 0;
  for (const f of partFiles) {
    const out = join(newDir, basename(f));
    const r = await rewriteParquetWithout(db, f, out, id);
    newParts.push({ file: out, name: basename(f), rows: r.rows });
    rows += r.rows;
    removedFeatures += r.removed;
  }
  let customers = 0;
  let removedOnline = 0;
  const newOnline = join(newDir, 'online.parquet');
  if (onlineFile) {
    const r = await rewriteParquetWithout(db, onlineFile, newOnline, id);
    customers = r.rows;
    removedOnline = r.removed;
  }

  const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const to = erasedSnapshotId(snapshotId, [
    ...newParts.map((p) => sha(p.file)),
    onlineFile ? sha(newOnline) : '',
    quarantineFile ? sha(newQuarantine) : '',
  ]);
  const newKeys = snapshotKeys(to);
  const newPrefix = snapshotPrefix(to);

  const validation = { ...manifest.validation, byReason: { ...manifest.validation.byReason } };
  const removedQuarantine = quarantine?.removed ?? 0;
  validation.rowsValid -= removedFeatures;
  validation.rowsQuarantined -= removedQuarantine;
  validation.rowsIn -= removedFeatures + removedQuarantine;
  for (const [reason, n] of Object.entries(removedByReason)) {
    const left = (validation.byReason[reason] ?? n) - n;
    if (left > 0) validation.byReason[reason] = left;
    else delete validation.byReason[reason];
  }
  const files = { ...manifest.files };
  if (files.features && newParts.length === 1)
    files.features = fileFacts(newParts[0].file, files.features.name, newParts[0].rows);
  if (files.online && onlineFile) files.online = fileFacts(newOnline, files.online.name, customers);
  if (files.quarantine && quarantine)
    files.quarantine = fileFacts(
      newQuarantine,
      files.quarantine.name,
      quarantine.records - 1 - quarantine.removed,
    );
  const erasedFrom = (manifest as Partial<ErasedManifest>).erasedFrom ?? [];
  const next: ErasedManifest = {
    ...manifest,
    snapshotId: to,
    validation,
    files,
    erasedFrom: [...erasedFrom, { snapshotId, at: options.at }],
  };

  // Every object of the new snapshot, the manifest last (a folder without one is not a snapshot).
  for (const p of newParts)
    await store.upload(p.file, `${newPrefix}${p.name}`, { contentType: 'application/vnd.apache.parquet' });
  if (onlineFile)
    await store.upload(newOnline, newKeys.online, { contentType: 'application/vnd.apache.parquet' });
  if (quarantineFile) await store.upload(newQuarantine, newKeys.quarantine, { contentType: 'text/csv' });
  await store.put(newKeys.manifest, `${JSON.stringify(next, null, 2)}\n`, {
    contentType: 'application/json',
  });

  return {
    from: snapshotId,
    to,
    removed: { features: removedFeatures, online: removedOnline, quarantine: removedQuarantine },
    rows,
    customers,
  };
}

/** Every object of a stored snapshot, the manifest first (from then on it is not a snapshot). */
export async function deleteSnapshotObjects(store: ObjectStore, snapshotId: string): Promise<string[]> {
  const keys = snapshotKeys(snapshotId);
  const deleted: string[] = [];
  if (await store.head(keys.manifest)) {
    await store.delete(keys.manifest);
    deleted.push(keys.manifest);
  }
  for (const o of await store.list(snapshotPrefix(snapshotId))) {
    await store.delete(o.key);
    deleted.push(o.key);
  }
  if (await store.head(keys.quarantine)) {
    await store.delete(keys.quarantine);
    deleted.push(keys.quarantine);
  }
  return deleted;
}
