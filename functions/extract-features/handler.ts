import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import {
  buildFeatures,
  finishFeatureSnapshot,
  prepareFeatureInput,
  type PreparedInput,
} from '#lib/features/build.ts';
import { InputError } from '#lib/errors.ts';
import { publishGuardsFor } from '#lib/features/champion-requirement.ts';
import { publishSnapshot } from '#lib/features/publish.ts';
import { fetchStagedOutput, stagePreparedInput, type StagedInput } from '#lib/features/staging.ts';
import { resolveRawInput, resolveRawKey } from '#lib/features/raw-input.ts';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import { awaitTurn, type ListRunningTrainings, type TurnDecision } from '#lib/pipeline/training-turn.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * Feature extraction step: a raw loans file in the object store -> validated rows, point-in-time
 * features (DuckDB) -> a published snapshot (offline store + online store, CURRENT swapped).
 * Triggered by an S3 ObjectCreated notification (or its EventBridge form) on the raw bucket, or
 * called by the training state machine with `{ "input": "<raw key>", "asOf": "YYYY-MM-DD" }`.
 *
 * The training machine first resolves a prefix input (its ResolveInput state, before the
 * DuckDB/Glue choice, which needs the size of the one file it will read):
 *   {"stage": "resolve", "input": "raw/"}  answers {"input": "<newest raw key>", "sizeBytes", "requestedInput"}
 *        (lib/features/raw-input.ts; for a key, the key and its size); reads nothing but the listing.
 *
 * Before anything else the training machine waits for its turn (AwaitTurn, lib/pipeline/training-turn.ts):
 *   {"stage": "turn", "stateMachine", "execution": {"id", "name", "startTime"}, "maxWaitSeconds"}
 *        answers {"proceed", "ahead", "waitedSeconds"}: proceed when no OLDER training execution is
 *        running; reads nothing but the list of running executions (ListExecutions in AWS).
 *
 * The Glue branch of the training machine calls it for the two stages around the Glue job
 * (lib/features/build.ts, lib/features/staging.ts):
 *   {"stage": "prepare", "request": {"input": "<raw key>", "asOf"?}}  validate, stage raw_valid.parquet +
 *        quarantine under staging/<snapshotId>/, answer the keys the job reads and writes;
 *   {"stage": "publish", "staging": "staging/<snapshotId>/"}  the job's Parquet -> the same
 *        snapshot (manifest) as the DuckDB build -> published, answered like a full build.
 * Thin: the build, the stages and the publish are lib code, the same the CLI runs.
 */

/** What `features build` reports (lib/features/build.ts), the part this step passes on. */
export interface BuildSummary {
  snapshotId: string;
  rowsIn: number;
  rowsValid: number;
  rowsQuarantined: number;
}

export type BuildFeaturesFn = (request: {
  input: string;
  out: string;
  asOf?: string;
}) => Promise<BuildSummary>;

/** The build's two stages around an external engine (the Glue job), lib/features/build.ts. */
export interface FeatureStages {
  /** raw file -> DIR/raw_valid.parquet, quarantine.csv, prepared.json. */
  prepare(request: { input: string; out: string; asOf?: string }): Promise<PreparedInput>;
  /** prepared dir + the engine's Parquet directories -> a snapshot directory at `out`. */
  finish(request: {
    preparedDir: string;
    featuresDir: string;
    onlineDir: string;
    out: string;
  }): Promise<BuildSummary>;
}

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
  /** The prepare and finish stages (default: lib/features/build.ts with the given clock). */
  stages?: FeatureStages;
  /** Scratch directory (/tmp in Lambda). */
  tmpDir?: string;
  clock?: Clock;
  /** The turn stage's listing of running training executions (absent: the stage is refused). */
  runningTrainings?: ListRunningTrainings;
  /**
   * The model registry (MODELS_BUCKET in AWS): the publish guards check that the snapshot has the
   * columns its champion reads. Absent: that guard does not run (the others always do).
   */
  modelsStore?: ObjectStore;
  /** MODEL_NAME, PUBLISH_MIN_CUSTOMER_SHARE, PUBLISH_MAX_QUARANTINE_RATE (default: process.env). */
  env?: Readonly<Record<string, string | undefined>>;
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

/** The training machine's AwaitTurn state: its own context-object fields and the wait limit from its config. */
const TurnRequest = z.object({
  stage: z.literal('turn'),
  stateMachine: z.string().min(1),
  execution: z.object({
    id: z.string().min(1),
    name: z.string().min(1),
    startTime: z.iso.datetime({ offset: true }),
  }),
  maxWaitSeconds: z.number().nonnegative(),
});

export type StageRequest =
  | z.infer<typeof PrepareRequest>
  | z.infer<typeof PublishRequest>
  | z.infer<typeof ResolveRequest>
  | z.infer<typeof TurnRequest>;

/** The resolve stage's answer: what the training machine merges into its config before the engine choice. */
export interface ResolvedInput {
  /** The raw object key the rest of the run reads (never a prefix). */
  input: string;
  sizeBytes: number;
  /** The input as given (a prefix, or the same key). */
  requestedInput: string;
}

/** Each stage request's schema and the shape an error names, in the order errors list them. */
const STAGES = {
  resolve: { schema: ResolveRequest, shape: '{"stage": "resolve", "input": "<raw key or prefix/>"}' },
  prepare: {
    schema: PrepareRequest,
    shape: '{"stage": "prepare", "request": {"input": "<raw key>", "asOf"?: "YYYY-MM-DD"}}',
  },
  publish: { schema: PublishRequest, shape: '{"stage": "publish", "staging": "staging/<snapshot id>/"}' },
  turn: {
    schema: TurnRequest,
    shape:
      '{"stage": "turn", "stateMachine": "<state machine ARN>", "execution": {"id", "name", "startTime": "<ISO 8601>"}, "maxWaitSeconds": <number>}',
  },
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
  const s3 = S3Notification.safeParse(event);
  if (s3.success) {
    if (s3.data.Records.length > 1) {
      throw new InputError(
        'BAD_EXTRACT_EVENT',
        `one raw file per event, got ${s3.data.Records.length} records`,
      );
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
      (issue && event && typeof event === 'object' && 'input' in event
        ? ` (${issue.path.join('.')}: ${issue.message})`
        : ''),
  );
}

export function createHandler(deps: ExtractFeaturesDeps | (() => ExtractFeaturesDeps)) {
  let resolved: ExtractFeaturesDeps | undefined;
  const getDeps = () => (resolved ??= typeof deps === 'function' ? deps() : deps);

  /** The raw key to read: itself, or for a prefix (`raw/`) the newest raw file under it. */
  async function resolveRaw(d: ExtractFeaturesDeps, key: string): Promise<string> {
    const resolved = await resolveRawKey(d.rawStore, key);
    if (resolved !== key)
      logger.info('raw prefix resolved to its newest file', { prefix: key, key: resolved });
    return resolved;
  }

  /** The raw object downloaded into work (its own name kept: the build reads .csv or .parquet by it). */
  async function downloadRaw(d: ExtractFeaturesDeps, key: string, work: string): Promise<string> {
    const input = join(work, 'input', basename(key) || 'raw.csv');
    if (!(await d.rawStore.head(key))) {
      throw new InputError('RAW_NOT_FOUND', `raw file not found: ${d.rawStore.describe(key)}`);
    }
    await d.rawStore.download(key, input);
    return input;
  }

  async function publish(
    d: ExtractFeaturesDeps,
    out: string,
    summary: BuildSummary,
    input: string,
    started: number,
    context: Context | undefined,
  ): Promise<ExtractFeaturesResult> {
    // A refusal (PublishRefusedError, lib/features/publish-guards.ts) fails the Task before
    // anything is written: the state machine's Catch notifies and serving stays as it was.
    const published = await publishSnapshot({
      snapshotDir: out,
      objectStore: d.featuresStore,
      featureStore: d.featureStore,
      clock: d.clock,
      onProgress: (message) => logger.debug(message),
      guards: await publishGuardsFor({
        env: d.env ?? process.env,
        featuresStore: d.featuresStore,
        modelsStore: d.modelsStore,
      }),
      publisher: `lambda ${context?.functionName ?? 'extract-features'} request ${context?.awsRequestId ?? 'unknown'}`,
      reason: `built from ${input}`,
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
      input,
      alreadyCurrent: published.alreadyCurrent,
    };
    logger.info('snapshot published', { ...result, onlineRows: published.onlineRows, seconds });
    return result;
  }

  /** The resolve stage: no download, no scratch directory, one listing (or head) of the raw store. */
  async function resolveInput(d: ExtractFeaturesDeps, input: string): Promise<ResolvedInput> {
    const resolved = await resolveRawInput(d.rawStore, input);
    const answer: ResolvedInput = {
      input: resolved.key,
      sizeBytes: resolved.sizeBytes,
      requestedInput: input,
    };
    logger.info(resolved.prefix ? 'raw prefix resolved to its newest file' : 'raw key checked', {
      ...answer,
    });
    // Every invocation publishes something (an empty publish only logs a Powertools warning).
    metrics.addMetric('rawInputBytes', MetricUnit.Bytes, resolved.sizeBytes);
    return answer;
  }

  /** The turn stage: one listing of the running training executions, no download. */
  async function turn(d: ExtractFeaturesDeps, request: z.infer<typeof TurnRequest>): Promise<TurnDecision> {
    if (!d.runningTrainings)
      throw new Error('this extract function has no listing of running trainings (the turn stage)');
    const decision = await awaitTurn(
      d.runningTrainings,
      {
        stateMachineId: request.stateMachine,
        self: { name: request.execution.name, startedAt: request.execution.startTime },
        maxWaitSeconds: request.maxWaitSeconds,
      },
      () => (d.clock ?? systemClock).now(),
    );
    logger.info(
      decision.proceed
        ? 'no older training running: this one goes on'
        : 'older training executions running: waiting',
      {
        execution: request.execution.name,
        ...decision,
      },
    );
    // How many older trainings this one waits behind (0 when it goes on): queueing, in CloudWatch.
    metrics.addMetric('trainingTurnAhead', MetricUnit.Count, decision.ahead.length);
    return decision;
  }

  async function handle(
    event: unknown,
    context?: Context,
  ): Promise<ExtractFeaturesResult | StagedInput | ResolvedInput | TurnDecision> {
    const d = getDeps();
    const request = parseEvent(event);
    if (
      request.kind === 'build' &&
      request.bucket !== undefined &&
      d.rawBucket !== undefined &&
      request.bucket !== d.rawBucket
    ) {
      throw new InputError(
        'WRONG_BUCKET',
        `event names bucket ${request.bucket}, this function reads ${d.rawBucket}`,
      );
    }
    const { kind: _kind, ...logged } = request;
    logger.info(request.kind === 'build' ? 'extracting features' : `feature stage ${request.stage}`, {
      ...logged,
    });
    if (request.kind === 'stage' && request.stage === 'resolve') return resolveInput(d, request.input);
    if (request.kind === 'stage' && request.stage === 'turn') return turn(d, request);
    const stages = d.stages ?? featureStages(d.clock);
    const work = await mkdtemp(join(d.tmpDir ?? tmpdir(), 'extract-'));
    try {
      const started = performance.now();
      if (request.kind === 'build') {
        const key = await resolveRaw(d, request.key);
        const input = await downloadRaw(d, key, work);
        const out = join(work, 'snapshot');
        const summary = await d.buildFeatures({
          input,
          out,
          ...(request.asOf ? { asOf: request.asOf } : {}),
        });
        return await publish(d, out, summary, key, started, context);
      }
      if (request.stage === 'prepare') {
        const { asOf } = request.request;
        const key = await resolveRaw(d, request.request.input);
        const input = await downloadRaw(d, key, work);
        const preparedDir = join(work, 'prepared');
        const prepared = await stages.prepare({ input, out: preparedDir, ...(asOf ? { asOf } : {}) });
        const staged = await stagePreparedInput({
          store: d.featuresStore,
          preparedDir,
          prepared,
          source: { key, location: d.rawStore.describe(key) },
        });
        metrics.addMetric('prepareSeconds', MetricUnit.Seconds, (performance.now() - started) / 1000);
        logger.info('input staged for the feature job', { ...staged });
        return staged;
      }
      const fetched = await fetchStagedOutput({
        store: d.featuresStore,
        staging: request.staging,
        dir: join(work, 'staged'),
      });
      const out = join(work, 'snapshot');
      const summary = await stages.finish({
        preparedDir: fetched.preparedDir,
        featuresDir: fetched.featuresDir,
        onlineDir: fetched.onlineDir,
        out,
      });
      if (summary.snapshotId !== fetched.prepared.snapshotId) {
        throw new Error(
          `the finished snapshot is ${summary.snapshotId}, the staged input announced ${fetched.prepared.snapshotId}`,
        );
      }
      return await publish(d, out, summary, fetched.prepared.source.key, started, context);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  return middy(handle).use(injectLambdaContext(logger)).use(logMetrics(metrics)) as unknown as (
    event: unknown,
    context: Context,
  ) => Promise<ExtractFeaturesResult | StagedInput | ResolvedInput | TurnDecision>;
}

/** The stages of lib/features/build.ts, sized like the build (`tuning`). */
export function featureStages(
  clock?: Clock,
  tuning: { threads?: number; memoryLimit?: string } = {},
): FeatureStages {
  return {
    prepare: ({ input, out, asOf }) => prepareFeatureInput({ input, outDir: out, asOf, clock, ...tuning }),
    async finish({ preparedDir, featuresDir, onlineDir, out }) {
      const built = await finishFeatureSnapshot({
        preparedDir,
        featuresDir,
        onlineDir,
        outDir: out,
        engine: 'spark',
        clock,
        ...tuning,
      });
      const { rowsIn, rowsValid, rowsQuarantined } = built.summary;
      return { snapshotId: built.snapshotId, rowsIn, rowsValid, rowsQuarantined };
    },
  };
}

/**
 * The BuildFeaturesFn over lib/features/build.ts (DuckDB), the same build `features build` runs.
 * `tuning` sizes DuckDB for the function (threads ~ vCPUs, memory below the function's memory).
 */
export function featureSqlBuild(
  clock?: Clock,
  tuning: { threads?: number; memoryLimit?: string } = {},
): BuildFeaturesFn {
  return async ({ input, out, asOf }) => {
    const built = await buildFeatures({ input, outDir: out, asOf, clock, ...tuning });
    const { rowsIn, rowsValid, rowsQuarantined } = built.summary;
    return { snapshotId: built.snapshotId, rowsIn, rowsValid, rowsQuarantined };
  };
}

/**
 * The turn stage's listing in AWS: ListExecutions(RUNNING, every page) on the state machine the
 * request names, through the Step Functions starter adapter (one client per container, made on
 * first use: only the turn stage needs it).
 */
export function stepFunctionsRunningTrainings(makeClient: () => SFNClient): ListRunningTrainings {
  let client: SFNClient | undefined;
  return (stateMachineArn) => stepFunctionsStarter((client ??= makeClient()), stateMachineArn).running();
}

/** DuckDB sized from the Lambda's memory: ~1 vCPU per 1,769 MB, and 60% of memory for DuckDB. */
function lambdaTuning(env: NodeJS.ProcessEnv = process.env): { threads?: number; memoryLimit?: string } {
  const mb = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  if (!Number.isFinite(mb) || mb <= 0) return {};
  return {
    threads: Math.max(1, Math.min(6, Math.round(mb / 1769))),
    memoryLimit: `${Math.floor(mb * 0.6)}MB`,
  };
}

/** The Lambda entry point: AWS adapters from the container's composition root, built on first call. */
export const handler = createHandler(() => {
  const root = awsRoot();
  return {
    rawStore: root.rawStore,
    rawBucket: root.rawBucket,
    featuresStore: root.featuresStore,
    featureStore: root.featureStore,
    modelsStore: root.modelsStore,
    buildFeatures: featureSqlBuild(root.clock, lambdaTuning()),
    stages: featureStages(root.clock, lambdaTuning()),
    tmpDir: tmpdir(),
    clock: root.clock,
    // The state machine's ARN comes with the request ($$.StateMachine.Id): no environment variable,
    // which would make the function depend on the machine that invokes it (a stack cycle).
    runningTrainings: stepFunctionsRunningTrainings(() => new SFNClient({})),
  };
});
