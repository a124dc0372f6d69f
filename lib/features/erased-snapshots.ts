import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import { erasedSnapshotKey } from './offline-layout.ts';

/**
 * Tombstones of snapshots an erase rewrote (`features/erased/<id>.json`, lib/privacy/erase.ts;
 * docs/adr/0150-erasure-rewrites-snapshots-under-new-ids.md). Imports only the port and the key
 * layout, so the drift check and the retention sweep follow them without the publish code.
 */

/** The tombstone an erase left for a snapshot it rewrote (offline-layout.ts, ERASED_PREFIX). */
export interface ErasedSnapshot {
  snapshotId: string;
  /** The snapshot that holds the same rows minus the erased customer's; null when none is left. */
  replacedBy: string | null;
  at: string;
  /** The erase entry of features/audit/. */
  auditSeq: number | null;
}

export async function readErasedSnapshot(
  objectStore: ObjectStore,
  snapshotId: string,
): Promise<ErasedSnapshot | undefined> {
  return getJson<ErasedSnapshot>(objectStore, erasedSnapshotKey(snapshotId));
}

/**
 * The stored snapshot that now holds what `snapshotId` held: itself, or, when an erase rewrote it
 * (once or several times), the last snapshot of its tombstone chain. null when an erase left none.
 */
export async function followErasures(objectStore: ObjectStore, snapshotId: string): Promise<string | null> {
  let id = snapshotId;
  for (let hops = 0; hops < 100; hops++) {
    const erased = await readErasedSnapshot(objectStore, id);
    if (!erased) return id;
    if (erased.replacedBy === null) return null;
    id = erased.replacedBy;
  }
  throw new Error(`snapshot ${snapshotId}: more than 100 erasure tombstones in a chain`);
}
