/**
 * The object store: S3 in AWS, a directory with the same key layout locally.
 * Keys are '/'-separated, never start with '/', and are the same in both runtimes.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  /** S3 ETag or a content hash locally; changes whenever the bytes change. */
  etag?: string;
}

export interface PutOptions {
  contentType?: string;
  /**
   * Fail with ObjectExistsError if the key already exists (S3 `If-None-Match: *`).
   * Used for immutable artifacts such as registered model versions.
   */
  ifAbsent?: boolean;
}

export interface ObjectStore {
  /** The bytes at key, or undefined when there is no such object. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Writes the whole object atomically: a reader sees the old bytes or the new ones, never a mix. */
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every key under prefix (all pages), sorted lexicographically. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
  /** Copies an object to a local file (DuckDB reads local files: no httpfs in Lambda). */
  download(key: string, file: string): Promise<void>;
  /** Uploads a local file, atomically as put. */
  upload(file: string, key: string, options?: PutOptions): Promise<void>;
  /** A human-readable location for messages, e.g. s3://bucket/key or /abs/path. */
  describe(key: string): string;
}

export class ObjectExistsError extends Error {
  readonly code = 'OBJECT_EXISTS';
  constructor(readonly key: string) {
    super(`object already exists: ${key}`);
    this.name = 'ObjectExistsError';
  }
}

export async function getText(store: ObjectStore, key: string): Promise<string | undefined> {
  const bytes = await store.get(key);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

export async function getJson<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  const text = await getText(store, key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}
