import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { InputError } from '#lib/errors.ts';
import { publishSnapshot } from '#lib/features/publish.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * Feature extraction step: a raw loans file in the object store -> validated rows, point-in-time
 * features (DuckDB) -> a published snapshot (offline store + online store, CURRENT swapped).
 * Triggered by an S3 ObjectCreated notification (or its EventBridge form) on the raw bucket, or
 * called by the training state machine with `{ "input": "<raw key>", "asOf": "YYYY-MM-DD" }`.
 * Thin: the build and the publish are lib code, the same the CLI runs.
 */

/** What `features build` reports (lib/features/build.ts), the part this step passes on. */
export interface BuildSummary {
  snapshotId: string;
  rowsIn: number;
  rowsValid: number;
  rowsQuarantined: number;
}

export type BuildFeaturesFn = (request: { input: string; out: string; asOf?: string }) => Promise<BuildSummary>;

export interface ExtractFeaturesDeps {
  /** Where raw loan files land (RAW_BUCKET in AWS). */
  rawStore: ObjectStore;
  /** When set, an S3 event naming another bucket is refused (misrouted notification). */
  rawBucket?: string;
  /** The offline store: snapshots, quarantine files, CURRENT (FEATURES_BUCKET in AWS). */
  featuresStore: ObjectStore;
  /** The online store (Aurora via the Data API in AWS, PGlite locally). */
  featureStore: FeatureStore;
  buildFeatures: BuildFeaturesFn;
  /** Scratch directory (/tmp in Lambda). */
  tmpDir?: string;
  clock?: Clock;
}

export interface ExtractFeaturesResult {
  snapshotId: string;
  rowsIn: number;
  rowsValid: number;
  rowsQuarantined: number;
  /** The raw key the snapshot was built from. */
  input: string;
  /** True when this snapshot was already published and current (a re-delivered event). */
  alreadyCurrent: boolean;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

const DirectEvent = z.object({
  input: z.string().min(1),
  asOf: z.string().regex(DATE, 'YYYY-MM-DD').optional(),
});

const S3Notification = z.object({
  Records: z
    .array(
      z.object({
        eventName: z.string().optional(),
        s3: z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string() }) }),
      }),
    )
    .min(1),
});

const EventBridgeObjectCreated = z.object({
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  detail: z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string() }) }),
});

export interface ExtractRequest {
  key: string;
  bucket?: string;
  asOf?: string;
}

/** The raw object to build from, whichever of the three event shapes arrived. */
export function parseExtractEvent(event: unknown): ExtractRequest {
  const direct = DirectEvent.safeParse(event);
  if (direct.success) return { key: direct.data.input, asOf: direct.data.asOf };
  const s3 = S3Notification.safeParse(event);
  if (s3.success) {
    if (s3.data.Records.length > 1) {
      throw new InputError('BAD_EXTRACT_EVENT', `one raw file per event, got ${s3.data.Records.length} records`);
    }
    const r = s3.data.Records[0];
    if (r.eventName !== undefined && !r.eventName.startsWith('ObjectCreated:')) {
      throw new InputError('BAD_EXTRACT_EVENT', `not an ObjectCreated event: ${r.eventName}`);
    }
    // Notification keys are URL-encoded, spaces as '+'.
    return { bucket: r.s3.bucket.name, key: decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')) };
  }
  const eb = EventBridgeObjectCreated.safeParse(event);
  if (eb.success) return { bucket: eb.data.detail.bucket.name, key: eb.data.detail.object.key };
  const issue = direct.error.issues[0];
  throw new InputError(
    'BAD_EXTRACT_EVENT',
    `expected an S3 ObjectCreated event or {"input": "<raw key>", "asOf": "YYYY-MM-DD"}` +
      (issue && event && typeof event === 'object' && 'input' in event ? ` (${issue.path.join('.')}: ${issue.message})` : ''),
  );
}

export function createHandler(deps: ExtractFeaturesDeps | (() => ExtractFeaturesDeps)) {
  let resolved: ExtractFeaturesDeps | undefined;
  const getDeps = () => (resolved ??= typeof deps === 'function' ? deps() : deps);

  async function handle(event: unknown): Promise<ExtractFeaturesResult> {
    const d = getDeps();
    const request = parseExtractEvent(event);
    if (request.bucket !== undefined && d.rawBucket !== undefined && request.bucket !== d.rawBucket) {
      throw new InputError('WRONG_BUCKET', `event names bucket ${request.bucket}, this function reads ${d.rawBucket}`);
    }
    logger.info('extracting features', { ...request });
    const work = await mkdtemp(join(d.tmpDir ?? tmpdir(), 'extract-'));
    try {
      const started = performance.now();
      const input = join(work, 'input', basename(request.key) || 'raw.csv');
      if (!(await d.rawStore.head(request.key))) {
        throw new InputError('RAW_NOT_FOUND', `raw file not found: ${d.rawStore.describe(request.key)}`);
      }
      await d.rawStore.download(request.key, input);
      const out = join(work, 'snapshot');
      const summary = await d.buildFeatures({ input, out, ...(request.asOf ? { asOf: request.asOf } : {}) });
      const published = await publishSnapshot({
        snapshotDir: out,
        objectStore: d.featuresStore,
        featureStore: d.featureStore,
        clock: d.clock,
        onProgress: (message) => logger.debug(message),
      });
      const seconds = (performance.now() - started) / 1000;
      metrics.addMetric('extractRowsIn', MetricUnit.Count, summary.rowsIn);
      metrics.addMetric('extractRowsQuarantined', MetricUnit.Count, summary.rowsQuarantined);
      metrics.addMetric('extractSeconds', MetricUnit.Seconds, seconds);
      const result: ExtractFeaturesResult = {
        snapshotId: published.snapshotId,
        rowsIn: summary.rowsIn,
        rowsValid: summary.rowsValid,
        rowsQuarantined: summary.rowsQuarantined,
        input: request.key,
        alreadyCurrent: published.alreadyCurrent,
      };
      logger.info('snapshot published', { ...result, onlineRows: published.onlineRows, seconds });
      return result;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics)) as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<ExtractFeaturesResult>;
}

/**
 * The BuildFeaturesFn over lib/features/build.ts (DuckDB), the same build `features build` runs.
 * `tuning` sizes DuckDB for the function (threads ~ vCPUs, memory below the function's memory).
 */
export function featureSqlBuild(clock?: Clock, tuning: { threads?: number; memoryLimit?: string } = {}): BuildFeaturesFn {
  return async ({ input, out, asOf }) => {
    const built = await buildFeatures({ input, outDir: out, asOf, clock, ...tuning });
    const { rowsIn, rowsValid, rowsQuarantined } = built.summary;
    return { snapshotId: built.snapshotId, rowsIn, rowsValid, rowsQuarantined };
  };
}

/** DuckDB sized from the Lambda's memory: ~1 vCPU per 1,769 MB, and 60% of memory for DuckDB. */
function lambdaTuning(env: NodeJS.ProcessEnv = process.env): { threads?: number; memoryLimit?: string } {
  const mb = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  if (!Number.isFinite(mb) || mb <= 0) return {};
  return { threads: Math.max(1, Math.min(6, Math.round(mb / 1769))), memoryLimit: `${Math.floor(mb * 0.6)}MB` };
}

/** The Lambda entry point: AWS adapters from the container's composition root, built on first call. */
export const handler = createHandler(() => {
  const root = awsRoot();
  return {
    rawStore: root.rawStore,
    rawBucket: root.rawBucket,
    featuresStore: root.featuresStore,
    featureStore: root.featureStore,
    buildFeatures: featureSqlBuild(root.clock, lambdaTuning()),
    tmpDir: tmpdir(),
    clock: root.clock,
  };
});
