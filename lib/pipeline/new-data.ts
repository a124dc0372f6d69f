import { createHash } from 'node:crypto';
import { z } from 'zod';

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

/**
 * The one parser of "an object landed in S3" events, in both forms the raw bucket can send:
 * EventBridge "Object Created" (what serverless.yml wires) and a classic S3 notification
 * (Records[]; keys URL-encoded with '+' for spaces). Records of other event types (removals) are
 * listed apart, so a caller can refuse or ignore them. undefined: not an S3 object event at all.
 */
export interface S3ObjectEvent {
  objects: NewObject[];
  /** Notification records that are not ObjectCreated (e.g. ObjectRemoved:Delete). */
  ignored: { key: string; eventName: string }[];
}

const EventBridgeObjectCreated = z.object({
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  detail: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({ key: z.string().min(1), size: z.number().optional(), etag: z.string().optional() }),
  }),
});

const S3Notification = z.object({
  Records: z
    .array(
      z.object({
        eventName: z.string().optional(),
        s3: z.object({
          bucket: z.object({ name: z.string().min(1) }),
          object: z.object({
            key: z.string().min(1),
            size: z.number().optional(),
            eTag: z.string().optional(),
          }),
        }),
      }),
    )
    .min(1),
});

export function parseS3ObjectEvent(event: unknown): S3ObjectEvent | undefined {
  const eb = EventBridgeObjectCreated.safeParse(event);
  if (eb.success) {
    const { bucket, object } = eb.data.detail;
    return {
      objects: [{ bucket: bucket.name, key: object.key, size: object.size ?? null, etag: object.etag ?? '' }],
      ignored: [],
    };
  }
  const notification = S3Notification.safeParse(event);
  if (!notification.success) return undefined;
  const out: S3ObjectEvent = { objects: [], ignored: [] };
  for (const r of notification.data.Records) {
    const key = decodeURIComponent(r.s3.object.key.replace(/\+/g, ' '));
    const eventName = r.eventName ?? 'ObjectCreated';
    if (!eventName.startsWith('ObjectCreated')) out.ignored.push({ key, eventName });
    else
      out.objects.push({
        bucket: r.s3.bucket.name,
        key,
        size: r.s3.object.size ?? null,
        etag: r.s3.object.eTag ?? '',
      });
  }
  return out;
}

/** The objects an event announces as created; anything else announces nothing. */
export function objectsInEvent(event: unknown): NewObject[] {
  return parseS3ObjectEvent(event)?.objects ?? [];
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
