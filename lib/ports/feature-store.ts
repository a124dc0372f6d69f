import { InputError, isInputError } from '#lib/errors.ts';
import type { CustomerFeatureRow } from '#lib/features/online-store-sql.ts';

/**
 * The online feature store: RDS (Aurora PostgreSQL) through the Data API in AWS, PGlite locally,
 * the same SQL in both. One row per customer, tagged with the snapshot it came from.
 */
export interface FeatureStore {
  /** Creates the tables if they are missing. Idempotent. */
  init(): Promise<void>;
  /**
   * Loads a whole snapshot into a staging table, then swaps it in with one transaction:
   * a reader sees the previous snapshot or the new one, never a mix.
   */
  replaceSnapshot(
    snapshotId: string,
    batches: AsyncIterable<CustomerFeatureRow[]> | Iterable<CustomerFeatureRow[]>,
  ): Promise<{ rows: number }>;
  /**
   * Optional faster replaceSnapshot from a snapshot's online.parquet (the columns of
   * lib/features/online.ts ONLINE_ROW_COLUMNS), read the adapter's own fastest way, with the same
   * guarantees. Callers use it when present and fall back to replaceSnapshot(readOnlineRows(...)).
   */
  replaceSnapshotFromParquet?(snapshotId: string, file: string): Promise<{ rows: number }>;
  /** The customer's row, or undefined when the customer is unknown. */
  get(id: string): Promise<CustomerFeatureRow | undefined>;
  /**
   * Erasure (`credit-risk data erase`, docs/adr/0150-erasure-rewrites-snapshots-under-new-ids.md):
   * removes the customer's row from the live table; afterwards get(id) is undefined. `deleted` is
   * 0 when the customer was not there (a repeated erase is a success). Waits for a load in
   * progress, so the row cannot come back with it. An adapter whose files a person can read (PGlite)
   * also purges the row's bytes from its data directory: dead tuples, index entries and WAL.
   */
  deleteCustomer(id: string): Promise<{ deleted: number }>;
  /** The snapshot currently served, or undefined before the first load. */
  currentSnapshot(): Promise<string | undefined>;
  /** Cheap round trip: keeps a connection warm, proves the store answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The store did not answer (network, Aurora resuming, PGlite closed). Mapped to 503 by the API. */
export class FeatureStoreUnavailableError extends Error {
  readonly code = 'FEATURE_STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FeatureStoreUnavailableError';
  }
}

/**
 * A store error as it crosses a process boundary (the serve cluster's IPC channel, the local
 * store owner's socket), so the far side answers 404/400/503 exactly as the store failed.
 */
export interface WireError {
  kind: 'input' | 'unavailable' | 'other';
  code?: string;
  message: string;
}

export function toWire(e: unknown): WireError {
  if (isInputError(e)) return { kind: 'input', code: e.code, message: e.message };
  if (e instanceof FeatureStoreUnavailableError) return { kind: 'unavailable', message: e.message };
  return { kind: 'other', message: e instanceof Error ? e.message : String(e) };
}

export function fromWire(w: WireError): Error {
  if (w.kind === 'input') return new InputError(w.code ?? 'INVALID_INPUT', w.message);
  if (w.kind === 'unavailable') return new FeatureStoreUnavailableError(w.message);
  return new Error(w.message);
}
