import { InputError } from '#lib/errors.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

const RAW_FILE = /\.(csv|parquet)$/i;

/**
 * The raw object a feature build reads. A key names one object; a key ending in '/' names a
 * prefix and means "the newest raw file under it": the lexicographically greatest `.csv` or
 * `.parquet` key (the store lists keys sorted, and raw drops are named so that they sort by time,
 * e.g. raw/2026-12-03/loans.csv), skipping empty objects (S3 console "folders"). The training state
 * machine's default input is `raw/`, so a scheduled or drift retraining, which names no file, trains
 * on the newest drop. Each drop is a full history (point-in-time features need every loan of a
 * customer), so the newest one is the one to train on.
 */
export async function resolveRawKey(store: ObjectStore, key: string): Promise<string> {
  if (!key.endsWith('/')) return key;
  const candidates = (await store.list(key)).filter((o) => RAW_FILE.test(o.key) && o.size > 0);
  const newest = candidates.at(-1);
  if (!newest) {
    // describe() takes object keys only: name the prefix through the key without its slash.
    throw new InputError('RAW_NOT_FOUND', `no .csv or .parquet raw file under ${store.describe(key.slice(0, -1))}/`);
  }
  return newest.key;
}
