/**
 * The key layout of the features store (FEATURES_BUCKET in AWS, `.credit-risk/store` locally):
 * the one place every key below is spelled out. Imports nothing, so any module (the predict and
 * batch bundles included) can use it without pulling in the code that writes the objects.
 *
 *   features/snapshot=<id>/part-00000.parquet   the offline table of a snapshot (one row per loan)
 *   features/snapshot=<id>/online.parquet       its per-customer rows (what the online store loads)
 *   features/snapshot=<id>/manifest.json        written last: a folder without it is not a snapshot
 *   features/CURRENT                            {snapshotId, publishedAt, manifestKey}: the pointer
 *   features/audit/<seq>.json                   every publish, forced publish, rollback and erase
 *   features/erased/<id>.json                   a snapshot rewritten by an erase: what replaced it
 *   quarantine/snapshot=<id>/quarantine.csv     the rows the snapshot refused, with reasons
 *   staging/<id>/                               the Glue branch's scratch (expires after 7 days)
 *   predictions/<model>/<version>/snapshot=<id>/ batch-scoring runs; predictions/<model>/CURRENT
 *   monitoring/drift/<time>.json                drift reports; monitoring/drift/retrains/ markers
 */
export const CURRENT_KEY = 'features/CURRENT';

/** Every snapshot folder starts with this (a listing under it finds them all). */
export const SNAPSHOTS_PREFIX = 'features/snapshot=';

export function snapshotPrefix(snapshotId: string): string {
  return `${SNAPSHOTS_PREFIX}${snapshotId}/`;
}

export function snapshotKeys(snapshotId: string): {
  part: string;
  online: string;
  quarantine: string;
  manifest: string;
} {
  const prefix = snapshotPrefix(snapshotId);
  return {
    part: `${prefix}part-00000.parquet`,
    online: `${prefix}online.parquet`,
    quarantine: `quarantine/snapshot=${snapshotId}/quarantine.csv`,
    manifest: `${prefix}manifest.json`,
  };
}

/**
 * The tombstone of a snapshot an erase rewrote (docs/adr/0150-erasure-rewrites-snapshots-under-new-ids.md):
 * `{snapshotId, replacedBy, at, auditSeq}`. The old id is never published again (its build
 * directory still holds the customer), and readers that kept the old id (a model card's training
 * snapshot, an old audit entry) find the new one here.
 */
export const ERASED_PREFIX = 'features/erased/';

export function erasedSnapshotKey(snapshotId: string): string {
  return `${ERASED_PREFIX}${snapshotId}.json`;
}

/** The audit log's prefix: its entries are `<prefix>/audit/<seq>.json` (lib/registry/audit.ts). */
export const FEATURES_AUDIT_PREFIX = 'features';

export const STAGING_PREFIX = 'staging/';

/** A model version's batch-scoring runs, every snapshot. */
export function batchRunsPrefix(modelName: string, modelVersion: string): string {
  return `predictions/${modelName}/${modelVersion}/`;
}

/** One batch-scoring run: a model version on a snapshot. */
export function predictionsPrefix(modelName: string, modelVersion: string, snapshotId: string): string {
  return `${batchRunsPrefix(modelName, modelVersion)}snapshot=${snapshotId}/`;
}

export function predictionsCurrentKey(modelName: string): string {
  return `predictions/${modelName}/CURRENT`;
}

export const DRIFT_PREFIX = 'monitoring/drift/';
