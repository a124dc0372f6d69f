import { createHash } from 'node:crypto';

/**
 * New raw data in S3 -> one training execution per object version. The execution name is derived
 * from the object's key and ETag: Step Functions refuses a second execution with the same name
 * (ExecutionAlreadyExists), so a repeated or duplicated event starts nothing twice, while a new
 * upload under the same key (new ETag) starts a new run.
 */
export interface NewObject {
  bucket: string;
  key: string;
  size: number | null;
  etag: string;
}

/** Execution names: 1-80 of A-Z a-z 0-9 - _ (Step Functions also refuses spaces, brackets, wildcards, ...). */
export const MAX_EXECUTION_NAME = 80;

export function executionNameFor(object: Pick<NewObject, 'key' | 'etag'>): string {
  const etag = object.etag.replace(/"/g, '');
  // The hash covers the whole key and ETag, so cutting the readable part never makes two names equal.
  const hash = createHash('sha256').update(object.key).update('\0').update(etag).digest('hex').slice(0, 24);
  const readable = object.key
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const room = MAX_EXECUTION_NAME - 'new-'.length - 1 - hash.length;
  // Keep the END of the key: the file name tells more than the common prefix.
  const tail =
    readable.length > room ? readable.slice(readable.length - room).replace(/^[-_]+/, '') : readable;
  return `new-${tail || 'object'}-${hash}`;
}

/** An S3 key as S3 event notifications spell it: URL-encoded, with '+' for spaces. */
function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

interface EventBridgeS3 {
  'detail-type'?: string;
  source?: string;
  detail?: { bucket?: { name?: string }; object?: { key?: string; size?: number; etag?: string } };
}
interface S3Notification {
  Records?: {
    eventName?: string;
    s3?: { bucket?: { name?: string }; object?: { key?: string; size?: number; eTag?: string } };
  }[];
}

/**
 * The objects an event announces: EventBridge "Object Created" (what serverless.yml wires) or a
 * classic S3 notification (Records[]). Anything else announces nothing.
 */
export function objectsInEvent(event: unknown): NewObject[] {
  const eb = event as EventBridgeS3;
  if (eb?.source === 'aws.s3' && eb.detail?.object?.key && eb.detail.bucket?.name) {
    return [
      {
        bucket: eb.detail.bucket.name,
        key: eb.detail.object.key,
        size: eb.detail.object.size ?? null,
        etag: eb.detail.object.etag ?? '',
      },
    ];
  }
  const records = (event as S3Notification)?.Records;
  if (!Array.isArray(records)) return [];
  return records
    .filter(
      (r) =>
        r.s3?.object?.key &&
        r.s3.bucket?.name &&
        (r.eventName ?? 'ObjectCreated').startsWith('ObjectCreated'),
    )
    .map((r) => ({
      bucket: r.s3!.bucket!.name!,
      key: decodeS3Key(r.s3!.object!.key!),
      size: r.s3!.object!.size ?? null,
      etag: r.s3!.object!.eTag ?? '',
    }));
}

/** Why an object does not start a run, or undefined when it should. */
export function skipReason(object: NewObject): string | undefined {
  if (object.key.endsWith('/')) return 'a folder marker, not data';
  if (object.size === 0) return 'an empty object';
  if (!object.etag) return 'no ETag in the event, so no idempotent execution name';
  return undefined;
}

/** The training execution input for one new object (state-machines/training.asl.json). */
export function trainingInputFor(object: NewObject): Record<string, unknown> {
  return {
    input: object.key,
    ...(object.size !== null ? { sizeBytes: object.size } : {}),
    trigger: 'new-data',
    source: { bucket: object.bucket, key: object.key, etag: object.etag.replace(/"/g, '') },
  };
}
