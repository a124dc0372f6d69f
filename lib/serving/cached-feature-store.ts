import type { CustomerFeatureRow } from '#lib/features/online.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { OnlineSnapshotTable, SnapshotChangedError } from './online-snapshot-table.ts';

/** A feature store that can hand over its whole live table, page by page (the local PGlite store). */
export interface ScannableFeatureStore extends FeatureStore {
  /** Every row of the live table, in pages; each row carries the snapshot it belongs to. */
  scanRows(): AsyncIterable<CustomerFeatureRow[]>;
}

export function isScannable(store: FeatureStore): store is ScannableFeatureStore {
  return typeof (store as Partial<ScannableFeatureStore>).scanRows === 'function';
}

export interface CachedFeatureStoreOptions {
  /** How often the store's current snapshot id is read (ms). */
  pollMs?: number;
  /**
   * The longest the cache answers without having confirmed that its snapshot is still the
   * current one (ms). Past it (the store is down, or a new snapshot is still loading) every
   * lookup goes to the store itself: it answers the new snapshot, or fails as the store fails.
   */
  maxStaleMs?: number;
  now?: () => number;
  /** Told about a failed poll or reload (lookups fall back to the store meanwhile). */
  onError?: (error: unknown) => void;
  onLoad?: (info: { snapshotId: string; rows: number; ms: number }) => void;
  /**
   * Told after each poll that confirmed the copy as current, with the copy and the time the
   * confirmation is dated (before the read): `credit-risk serve --workers N` forwards both to its
   * workers, which apply the same staleness bound to their copies.
   */
  onConfirm?: (table: OnlineSnapshotTable, confirmedAt: number) => void;
}

/**
 * A read-through copy of the online table in memory, in front of the store of record (PGlite
 * locally). The store stays the truth: the copy is of exactly one snapshot, the one the store
 * says is current, and it is used only while that was confirmed less than `maxStaleMs` ago.
 *
 * - Every `pollMs` the store's current snapshot id is read; when it changed, the new snapshot is
 *   read page by page into a new table, which replaces the old one in one assignment. Lookups
 *   meanwhile go to the old table until it is `maxStaleMs` stale, then to the store.
 * - A read that sees rows of two snapshots (a swap between pages) is dropped and redone.
 * - No current snapshot, a failed poll or a failed read: lookups go to the store, so an unknown
 *   id is still a 404 and a store that is down is still a 503 once the copy is stale, and the
 *   next successful poll brings the copy back.
 *
 * Why: a PGlite lookup is a WASM PostgreSQL query (parse, plan, execute, one connection), about
 * 0.2 ms of the event loop's CPU per request; a Map lookup is microseconds (docs/adr/0019-serve-answers-from-in-memory-snapshot-copy.md).
 */
export class CachedFeatureStore implements FeatureStore {
  private table?: OnlineSnapshotTable;
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private generation = 0;
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private readonly pollMs: number;
  private readonly maxStaleMs: number;
  private readonly now: () => number;

  constructor(
    private readonly source: ScannableFeatureStore,
    private readonly options: CachedFeatureStoreOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 500;
    this.maxStaleMs = options.maxStaleMs ?? Math.max(2_000, this.pollMs * 4);
    this.now = options.now ?? Date.now;
  }

  /** Loads the current snapshot (a failure is reported, not thrown) and starts polling. */
  async start(): Promise<this> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.pollMs);
    this.timer.unref();
    return this;
  }

  /** The snapshot held in memory and how many customers it has (undefined: none). */
  get cached(): { snapshotId: string; rows: number } | undefined {
    return this.table ? { snapshotId: this.table.snapshotId, rows: this.table.rows } : undefined;
  }

  /** Confirms the current snapshot, reading it into memory when it changed. One at a time. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh()
      .catch((e: unknown) => this.options.onError?.(e))
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    // Confirmed as of BEFORE the read: a swap right after it is then served stale for at most
    // maxStaleMs, whatever the read and the load take.
    const checkedAt = this.now();
    const generation = this.generation;
    const current = await this.source.currentSnapshot();
    if (current === undefined) {
      this.table = undefined;
      return;
    }
    if (this.table?.snapshotId !== current) {
      const started = this.now();
      const table = new OnlineSnapshotTable(current);
      try {
        for await (const page of this.source.scanRows()) table.add(page);
      } catch (e) {
        // Swapped while read: the next poll reads the newer snapshot.
        if (e instanceof SnapshotChangedError) return;
        throw e;
      }
      if (generation !== this.generation) return;
      this.table = table;
      this.options.onLoad?.({ snapshotId: current, rows: table.rows, ms: this.now() - started });
    }
    // A replaceSnapshot through this wrapper during the read makes what was read outdated.
    if (generation === this.generation) {
      this.confirmedAt = checkedAt;
      if (this.table) this.options.onConfirm?.(this.table, checkedAt);
    }
  }

  get(id: string): Promise<CustomerFeatureRow | undefined> {
    const table = this.table;
    if (table && this.now() - this.confirmedAt <= this.maxStaleMs) return Promise.resolve(table.get(id));
    return this.source.get(id);
  }

  init(): Promise<void> {
    return this.source.init();
  }

  async replaceSnapshot(
    snapshotId: string,
    batches: AsyncIterable<CustomerFeatureRow[]> | Iterable<CustomerFeatureRow[]>,
  ): Promise<{ rows: number }> {
    const result = await this.source.replaceSnapshot(snapshotId, batches);
    this.generation++;
    this.confirmedAt = Number.NEGATIVE_INFINITY; // the store answers until the copy catches up
    void this.refresh();
    return result;
  }

  /** Deletes in the store and drops the copy (same snapshot id, one row fewer): re-read on the next poll. */
  async deleteCustomer(id: string): Promise<{ deleted: number }> {
    const result = await this.source.deleteCustomer(id);
    this.generation++;
    this.table = undefined;
    this.confirmedAt = Number.NEGATIVE_INFINITY;
    void this.refresh();
    return result;
  }

  currentSnapshot(): Promise<string | undefined> {
    return this.source.currentSnapshot();
  }

  ping(): Promise<void> {
    return this.source.ping();
  }

  /** Stops polling and drops the copy. The store itself is not closed: the caller owns it. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
    this.table = undefined;
  }
}
