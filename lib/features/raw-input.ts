import { InputError } from '#lib/errors.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

const RAW_FILE = /\.(csv|parquet)$/i;

/** A raw input named by a key or a prefix, resolved to the one object a feature build reads. */
export interface ResolvedRawInput {
  /** The object's key (never a prefix). */
  key: string;
  /** Its size in bytes, what the training machine's engine choice compares with largeInputBytes. */
  sizeBytes: number;
  /** The prefix it was resolved from, when the input was one. */
  prefix?: string;
}

/** True when `key` names a prefix (`raw/`), not one object. */
export function isRawPrefix(key: string): boolean {
  return key.endsWith('/');
}

/**
 * The raw object a feature build reads. A key names one object; a key ending in '/' names a
 * prefix and means "the newest raw file under it": the lexicographically greatest `.csv` or
 * `.parquet` key (the store lists keys sorted, and raw drops are named so that they sort by time,
 * e.g. raw/2026-12-03/loans.csv), skipping empty objects (S3 console "folders"). The training state
 * machine's default input is `raw/`, so a scheduled or drift retraining, which names no file, trains
 * on the newest drop. Each drop is a full history (point-in-time features need every loan of a
 * customer), so the newest one is the one to train on.
 *
 * The size comes from the same listing (for a prefix) or a head (for a key): the training machine
 * resolves a prefix with this before it chooses between DuckDB and Glue (its ResolveInput state,
 * docs/adr/0094-prefix-input-resolved-before-engine-choice.md).
 */
export async function resolveRawInput(store: ObjectStore, key: string): Promise<ResolvedRawInput> {
  if (!isRawPrefix(key)) {
    const head = await store.head(key);
    if (!head) throw new InputError('RAW_NOT_FOUND', `raw file not found: ${store.describe(key)}`);
    return { key, sizeBytes: head.size };
  }
  const candidates = (await store.list(key)).filter((o) => RAW_FILE.test(o.key) && o.size > 0);
  const newest = candidates.at(-1);
  if (!newest) {
    // describe() takes object keys only: name the prefix through the key without its slash.
    throw new InputError(
      'RAW_NOT_FOUND',
      `no .csv or .parquet raw file under ${store.describe(key.slice(0, -1))}/`,
    );
  }
  return { key: newest.key, sizeBytes: newest.size, prefix: key };
}

/** The raw key to read: `key` itself (not checked here), or for a prefix its newest raw file. */
export async function resolveRawKey(store: ObjectStore, key: string): Promise<string> {
  if (!isRawPrefix(key)) return key;
  return (await resolveRawInput(store, key)).key;
}
