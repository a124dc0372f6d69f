import type { CustomerFeatureRow } from '#lib/features/online.ts';
import {
  FeatureStoreUnavailableError,
  fromWire,
  type FeatureStore,
  type WireError,
} from '#lib/ports/feature-store.ts';
import { OnlineSnapshotTable, type OnlineSnapshotTableData } from '#lib/serving/online-snapshot-table.ts';

/**
 * The messages between the `credit-risk serve --workers N` primary (which owns PGlite: one
 * instance per data directory) and its workers, over the cluster IPC channel (advanced, i.e.
 * structured-clone, serialization: typed arrays travel as they are).
 */
export type ToWorker =
  | { t: 'snapshot'; data: OnlineSnapshotTableData }
  | { t: 'confirm'; snapshotId: string; confirmedAt: number }
  | { t: 'reply'; n: number; row?: CustomerFeatureRow; snapshotId?: string; error?: WireError }
  | { t: 'shutdown' };

export type ToPrimary =
  | { t: 'hello' }
  | { t: 'call'; n: number; op: 'get' | 'currentSnapshot' | 'ping'; id?: string }
  | { t: 'listening'; url: string; port: number }
  | { t: 'failed'; code?: string; message: string };

export { toWire, fromWire, type WireError } from '#lib/ports/feature-store.ts';

export interface ReplicaFeatureStoreOptions {
  /** Sends a message to the primary; false or a throw when the channel is gone. */
  send(message: ToPrimary): boolean;
  /** The longest the copy answers without a confirmation from the primary (ms); the primary's own bound. */
  maxStaleMs: number;
  now?: () => number;
  /** A call the primary has not answered in this long fails as "store unavailable" (ms). */
  callTimeoutMs?: number;
}

interface Pending {
  resolve(value: { row?: CustomerFeatureRow; snapshotId?: string }): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A worker's feature store: the primary's in-memory copy of the current snapshot, replicated
 * (lib/serving/cached-feature-store.ts runs in the primary; each confirmation it makes is
 * forwarded here with its date). Lookups answer from the replica while that confirmation is less
 * than `maxStaleMs` old, the same bound the primary applies to its own copy; otherwise (a new
 * snapshot still on its way, the store down, no snapshot) the lookup goes to the primary, which
 * answers from its store or fails as its store fails (503). The primary gone: 503.
 */
export class ReplicaFeatureStore implements FeatureStore {
  private table?: OnlineSnapshotTable;
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly now: () => number;

  constructor(private readonly options: ReplicaFeatureStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The snapshot held and how many customers (undefined: none yet). */
  get cached(): { snapshotId: string; rows: number } | undefined {
    return this.table ? { snapshotId: this.table.snapshotId, rows: this.table.rows } : undefined;
  }

  /** Handles a primary message meant for the store; false when the message is not one. */
  receive(message: ToWorker): boolean {
    switch (message.t) {
      case 'snapshot':
        this.table = OnlineSnapshotTable.fromData(message.data);
        // Not confirmed until the primary says so (its confirmation follows the table).
        this.confirmedAt = Number.NEGATIVE_INFINITY;
        return true;
      case 'confirm':
        if (this.table?.snapshotId === message.snapshotId)
          this.confirmedAt = Math.max(this.confirmedAt, message.confirmedAt);
        return true;
      case 'reply': {
        const p = this.pending.get(message.n);
        if (!p) return true;
        this.pending.delete(message.n);
        clearTimeout(p.timer);
        if (message.error) p.reject(fromWire(message.error));
        else p.resolve({ row: message.row, snapshotId: message.snapshotId });
        return true;
      }
      default:
        return false;
    }
  }

  /** The primary is gone: every call waiting for it fails as the store being unavailable. */
  disconnected(): void {
    for (const [n, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new FeatureStoreUnavailableError('the serve primary that owns the feature store is gone'));
      this.pending.delete(n);
    }
    this.table = undefined;
  }

  private call(
    op: 'get' | 'currentSnapshot' | 'ping',
    id?: string,
  ): Promise<{ row?: CustomerFeatureRow; snapshotId?: string }> {
    return new Promise((resolve, reject) => {
      const n = ++this.next;
      const timer = setTimeout(() => {
        this.pending.delete(n);
        reject(
          new FeatureStoreUnavailableError(
            `the serve primary did not answer ${op} in ${this.options.callTimeoutMs ?? 10_000} ms`,
          ),
        );
      }, this.options.callTimeoutMs ?? 10_000);
      this.pending.set(n, { resolve, reject, timer });
      let sent: boolean;
      try {
        sent = this.options.send({ t: 'call', n, op, id });
      } catch {
        sent = false;
      }
      if (!sent) {
        this.pending.delete(n);
        clearTimeout(timer);
        reject(
          new FeatureStoreUnavailableError('the serve primary that owns the feature store is not reachable'),
        );
      }
    });
  }

  get(id: string): Promise<CustomerFeatureRow | undefined> {
    const table = this.table;
    if (table && this.now() - this.confirmedAt <= this.options.maxStaleMs)
      return Promise.resolve(table.get(id));
    return this.call('get', id).then((r) => r.row);
  }

  currentSnapshot(): Promise<string | undefined> {
    return this.call('currentSnapshot').then((r) => r.snapshotId);
  }

  ping(): Promise<void> {
    return this.call('ping').then(() => undefined);
  }

  init(): Promise<void> {
    return Promise.resolve();
  }

  replaceSnapshot(): Promise<{ rows: number }> {
    return Promise.reject(
      new Error(
        'a serve worker cannot publish snapshots: publish through the store (credit-risk features publish)',
      ),
    );
  }

  deleteCustomer(): Promise<{ deleted: number }> {
    return Promise.reject(
      new Error('a serve worker cannot erase customers: erase through the store (credit-risk data erase)'),
    );
  }

  close(): Promise<void> {
    this.disconnected();
    return Promise.resolve();
  }
}
