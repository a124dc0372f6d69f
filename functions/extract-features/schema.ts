import { z } from 'zod';
import { InputError } from '#lib/errors.ts';
import { parseS3ObjectEvent } from '#lib/pipeline/new-data.ts';

/**
 * The extract-features function's events. A full build: an S3 ObjectCreated notification (or its
 * EventBridge form) on the raw bucket, or `{"input": "<raw key>", "asOf": "YYYY-MM-DD"}` from the
 * training machine. The training machine's stages:
 *   {"stage": "resolve", "input": "raw/"}  -> {"input": "<newest raw key>", "sizeBytes", "requestedInput"}
 *        (lib/features/raw-input.ts; for a key, the key and its size); reads nothing but the listing.
 *   {"stage": "prepare", "request": {"input": "<raw key>", "asOf"?}}  validate, stage raw_valid.parquet
 *        and the quarantine under staging/<snapshotId>/ for the Glue job;
 *   {"stage": "publish", "staging": "staging/<snapshotId>/"}  the job's Parquet -> the same snapshot
 *        (manifest) as the DuckDB build -> published, answered like a full build.
 */
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const DirectEvent = z.object({
  input: z.string().min(1),
  asOf: z.string().regex(DATE, 'YYYY-MM-DD').optional(),
});

export interface ExtractRequest {
  key: string;
  bucket?: string;
  asOf?: string;
}

/**
 * `request` is the full build's direct request ({input, asOf?}), nested because the state machine
 * passes its whole config there: JSONPath cannot add a field to an object, nor leave out an
 * absent asOf.
 */
const PrepareRequest = z.object({
  stage: z.literal('prepare'),
  request: DirectEvent,
});

const PublishRequest = z.object({
  stage: z.literal('publish'),
  staging: z.string().min(1),
});

const ResolveRequest = z.object({
  stage: z.literal('resolve'),
  input: z.string().min(1),
});

export type StageRequest =
  z.infer<typeof PrepareRequest> | z.infer<typeof PublishRequest> | z.infer<typeof ResolveRequest>;

/** Each stage request's schema and the shape an error names, in the order errors list them. */
const STAGES = {
  resolve: { schema: ResolveRequest, shape: '{"stage": "resolve", "input": "<raw key or prefix/>"}' },
  prepare: {
    schema: PrepareRequest,
    shape: '{"stage": "prepare", "request": {"input": "<raw key>", "asOf"?: "YYYY-MM-DD"}}',
  },
  publish: { schema: PublishRequest, shape: '{"stage": "publish", "staging": "staging/<snapshot id>/"}' },
};

/** What the handler was asked: a full build (one of the event shapes) or one stage of the Glue branch. */
export type ExtractEvent = ({ kind: 'build' } & ExtractRequest) | ({ kind: 'stage' } & StageRequest);

export function parseEvent(event: unknown): ExtractEvent {
  if (event && typeof event === 'object' && 'stage' in event) {
    const stage = (event as { stage: unknown }).stage;
    const known =
      typeof stage === 'string' && Object.hasOwn(STAGES, stage)
        ? STAGES[stage as keyof typeof STAGES]
        : undefined;
    if (!known) {
      throw new InputError(
        'BAD_EXTRACT_EVENT',
        `unknown stage ${JSON.stringify(stage)}: expected one of ${Object.keys(STAGES).join(', ')}`,
      );
    }
    const parsed = known.schema.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError(
        'BAD_EXTRACT_EVENT',
        `expected ${known.shape} (${issue.path.join('.')}: ${issue.message})`,
      );
    }
    return { kind: 'stage', ...parsed.data };
  }
  return { kind: 'build', ...parseExtractEvent(event) };
}

/** The raw object to build from, whichever of the three event shapes arrived. */
export function parseExtractEvent(event: unknown): ExtractRequest {
  const direct = DirectEvent.safeParse(event);
  if (direct.success) return { key: direct.data.input, asOf: direct.data.asOf };
  const s3 = parseS3ObjectEvent(event);
  if (s3) {
    const records = s3.objects.length + s3.ignored.length;
    if (records > 1)
      throw new InputError('BAD_EXTRACT_EVENT', `one raw file per event, got ${records} records`);
    if (s3.ignored.length > 0)
      throw new InputError('BAD_EXTRACT_EVENT', `not an ObjectCreated event: ${s3.ignored[0].eventName}`);
    return { bucket: s3.objects[0].bucket, key: s3.objects[0].key };
  }
  const issue = direct.error.issues[0];
  throw new InputError(
    'BAD_EXTRACT_EVENT',
    `expected an S3 ObjectCreated event or {"input": "<raw key>", "asOf": "YYYY-MM-DD"}` +
      (issue && event && typeof event === 'object' && 'input' in event
        ? ` (${issue.path.join('.')}: ${issue.message})`
        : ''),
  );
}

/** A notification naming another bucket than the function reads is misrouted: refused. */
export function checkBucket(request: ExtractEvent, rawBucket: string | undefined): void {
  if (request.kind !== 'build' || request.bucket === undefined || rawBucket === undefined) return;
  if (request.bucket !== rawBucket)
    throw new InputError(
      'WRONG_BUCKET',
      `event names bucket ${request.bucket}, this function reads ${rawBucket}`,
    );
}
