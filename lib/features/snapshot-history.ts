import type { ObjectStore } from '#lib/ports/object-store.ts';
import { AuditLog } from '#lib/registry/audit.ts';
import type { GuardReason } from './publish-guards.ts';
import { FEATURES_AUDIT_PREFIX } from './offline-layout.ts';

/**
 * The audit log of the feature snapshot pointer (`features/CURRENT`): one object per publish,
 * forced publish and rollback, `features/audit/<seq>.json`, created create-if-absent like the
 * registry's (lib/registry/audit.ts, the same class). `credit-risk features history` lists it and
 * `credit-risk features rollback` finds its default target in it.
 *
 * CURRENT stays the commit point of a publish; the entry is appended right after it moves. A
 * crash between the two leaves CURRENT without its entry, and the next publish of the same
 * snapshot (a re-run) appends the missing one (lib/features/publish.ts).
 */
export { FEATURES_AUDIT_PREFIX } from './offline-layout.ts';
/** How many earlier snapshots an entry remembers for rollback (one rollback pops one). */
export const MAX_EARLIER_SNAPSHOTS = 20;

/** `erase`: `credit-risk data erase` rewrote snapshots without a customer (docs/adr/0150-...). */
export type SnapshotAction = 'publish' | 'rollback' | 'erase';

/**
 * What an erase entry adds: the customer as a keyed hash (never the id in clear), and which
 * stored snapshots were rewritten under new ids (old -> new), so the rollback stack and the
 * history stay readable after the old ids are gone.
 */
export interface SnapshotErasure {
  /** `hmac-sha256:<hex>` of the customer id (lib/privacy/customer-id.ts). */
  subject: string;
  replaced: Record<string, string>;
}

export interface SnapshotAuditEntry {
  seq: number;
  at: string;
  action: SnapshotAction;
  snapshotId: string;
  /** What CURRENT named before this change (null: nothing was published). */
  previousSnapshotId: string | null;
  /** Feature rows (one per valid loan), customers (online rows) and quarantined rows; null when unknown. */
  rows: number | null;
  customers: number | null;
  quarantined: number | null;
  /** Who: `user@host: credit-risk features publish ...` or the Lambda's function and request id. */
  publisher: string;
  reason: string | null;
  /** True when guards refused and --force overrode them; `overridden` lists what they said. */
  forced: boolean;
  overridden: GuardReason[];
  /**
   * The snapshots current before this one, most recent last: a rollback goes back to the last of
   * them and drops it (like the registry's previous champions). At most MAX_EARLIER_SNAPSHOTS.
   */
  earlier: string[];
  /** Only on `erase` entries. */
  erasure?: SnapshotErasure;
}

export type SnapshotAuditFields = Omit<SnapshotAuditEntry, 'seq' | 'earlier'>;

export function snapshotAuditLog(store: ObjectStore): AuditLog<SnapshotAuditEntry> {
  return new AuditLog<SnapshotAuditEntry>(store, FEATURES_AUDIT_PREFIX);
}

/**
 * The rollback stack after a change. When the newest entry does not name what CURRENT named
 * before the change, CURRENT moved without an entry (published before this log existed, or a
 * crash before the entry was written); the newest entry's snapshot then counts as earlier too.
 */
export function earlierAfter(latest: SnapshotAuditEntry | undefined, change: SnapshotAuditFields): string[] {
  let stack = latest ? [...latest.earlier] : [];
  if (latest && latest.snapshotId !== change.previousSnapshotId) stack.push(latest.snapshotId);
  if (change.action === 'erase') {
    // The snapshot served before was rewritten (it is `change.snapshotId` now), not left behind:
    // the stack keeps its earlier snapshots under their new ids, and nothing is pushed.
    const replaced = change.erasure?.replaced ?? {};
    stack = stack.map((id) => replaced[id] ?? id);
  } else if (change.action === 'publish') {
    const prev = change.previousSnapshotId;
    if (prev !== null && prev !== change.snapshotId && stack.at(-1) !== prev) stack.push(prev);
  } else {
    const at = stack.lastIndexOf(change.snapshotId);
    if (at >= 0) stack = stack.slice(0, at);
  }
  // A snapshot never appears twice in a row, nor as its own predecessor.
  stack = stack.filter((id, i) => id !== stack[i - 1]);
  while (stack.at(-1) === change.snapshotId) stack.pop();
  return stack.slice(-MAX_EARLIER_SNAPSHOTS);
}

/** Appends the change; `known`: the newest entry as the caller just read it (saves a listing). */
export async function appendSnapshotAudit(
  store: ObjectStore,
  change: SnapshotAuditFields,
  known?: { latest: SnapshotAuditEntry | undefined },
): Promise<SnapshotAuditEntry> {
  return snapshotAuditLog(store).append((latest) => ({ ...change, earlier: earlierAfter(latest, change) }), {
    known,
  });
}

/**
 * Where `features rollback` goes without --to: the snapshot current before the current one.
 * undefined when the log knows none. When the newest entry does not name CURRENT:
 * - the online store serves the newest entry's snapshot: that change was interrupted before the
 *   pointer moved. An interrupted rollback is finished (its target); an interrupted publish is
 *   undone (back to what CURRENT names);
 * - otherwise CURRENT moved without an entry (before this log existed): back to the newest
 *   audited snapshot, the one it moved from.
 */
export function defaultRollbackTarget(
  latest: SnapshotAuditEntry | undefined,
  currentSnapshotId: string | undefined,
  onlineSnapshotId: string | undefined,
): string | undefined {
  if (!latest) return undefined;
  if (latest.snapshotId === currentSnapshotId) return latest.earlier.at(-1);
  if (latest.snapshotId === onlineSnapshotId)
    return latest.action === 'rollback' ? latest.snapshotId : currentSnapshotId;
  return latest.snapshotId;
}

export interface SnapshotHistoryRow {
  seq: number | null;
  at: string;
  action: SnapshotAction;
  forced: boolean;
  snapshotId: string;
  previousSnapshotId: string | null;
  rows: number | null;
  customers: number | null;
  quarantined: number | null;
  publisher: string | null;
  reason: string | null;
  overridden: GuardReason[];
  /** The row whose snapshot CURRENT names now (its newest entry). */
  current: boolean;
  /** false for a CURRENT that no entry records (published before the audit log existed). */
  audited: boolean;
}

/**
 * The history newest first. CURRENT marks the newest entry of the snapshot it names; a CURRENT
 * that no entry records (published before this log existed) is listed first, unaudited.
 */
export function historyRows(
  entries: readonly SnapshotAuditEntry[],
  current: { snapshotId: string; publishedAt: string } | undefined,
): SnapshotHistoryRow[] {
  const rows: SnapshotHistoryRow[] = [...entries]
    .sort((a, b) => b.seq - a.seq)
    .map((e) => ({
      seq: e.seq,
      at: e.at,
      action: e.action,
      forced: e.forced,
      snapshotId: e.snapshotId,
      previousSnapshotId: e.previousSnapshotId,
      rows: e.rows,
      customers: e.customers,
      quarantined: e.quarantined,
      publisher: e.publisher,
      reason: e.reason,
      overridden: e.overridden,
      current: false,
      audited: true,
    }));
  if (!current) return rows;
  const newest = rows[0];
  if (newest && newest.snapshotId === current.snapshotId) {
    newest.current = true;
    return rows;
  }
  return [
    {
      seq: null,
      at: current.publishedAt,
      action: 'publish',
      forced: false,
      snapshotId: current.snapshotId,
      previousSnapshotId: newest?.snapshotId ?? null,
      rows: null,
      customers: null,
      quarantined: null,
      publisher: null,
      reason: 'not in the audit log (CURRENT moved without an entry)',
      overridden: [],
      current: true,
      audited: false,
    },
    ...rows,
  ];
}

export async function snapshotHistory(
  store: ObjectStore,
  current: { snapshotId: string; publishedAt: string } | undefined,
): Promise<SnapshotHistoryRow[]> {
  return historyRows(await snapshotAuditLog(store).entries(), current);
}
