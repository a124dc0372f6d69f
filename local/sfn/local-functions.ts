import type { Context } from 'aws-lambda';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { BuildDirBuilder } from '#lib/adapters/local/build-dir-builder.ts';
import { EmfFileMetricsReader } from '#lib/adapters/local/emf-metrics-reader.ts';
import { JsonlNotifier } from '#lib/adapters/local/jsonl-notifier.ts';
import { FEATURE_CODE_VERSION } from '#lib/features/catalog.ts';
import { FEATURE_SQL_PATH } from '#lib/features/feature-sql.ts';
import { isRawPrefix } from '#lib/features/raw-input.ts';
import { readCurrentSnapshot } from '#lib/features/publish.ts';
import type { Builder } from '#lib/ports/builder.ts';
import type { MetricsReader } from '#lib/ports/metrics-reader.ts';
import type { Notifier } from '#lib/ports/notifier.ts';
import { scoreOnnxBytes } from '#lib/model/onnx-runtime.ts';
import { trainToDirectory } from '#lib/model/train.ts';
import type { LocalRoot } from '#local/root.ts';
import { localRunningTrainings } from '#local/runs/running-trainings.ts';

/**
 * The local runtime's Lambda functions: each name the state machines invoke, built from the same
 * handler factory as in AWS (functions/<name>/handler.ts) over the local root's adapters. Built
 * lazily, so a run that never reaches a function never loads it.
 */
export type LocalFunction = (payload: unknown) => Promise<unknown>;

export interface LocalDeployment {
  deployer: AliasTableDeployer;
  builder: Builder;
  metrics: MetricsReader;
  notifier: Notifier;
}

export function localDeployment(root: LocalRoot): LocalDeployment {
  return {
    deployer: new AliasTableDeployer(join(root.home.builds, 'alias-live.json'), () => root.clock.now()),
    builder: new BuildDirBuilder(root.home.builds, root.objectStore, bundlePredict),
    metrics: new EmfFileMetricsReader(root.home.metrics),
    notifier: new JsonlNotifier(join(root.home.notifications, 'notifications.jsonl'), () => root.clock.now()),
  };
}

/** The esbuild bundle of the predict function (scripts/build.ts, the bundle CodeBuild puts in the image). */
async function bundlePredict(outDir: string): Promise<string> {
  const { buildFunctions } = await import('../../scripts/build.ts');
  const [built] = await buildFunctions({ outDir, only: ['predict'] });
  // buildFunctions writes <outDir>/predict/index.mjs.
  return built.file;
}

/** The Lambda context a local invocation gets (15 minutes of remaining time, as the functions' timeout). */
export function lambdaContext(functionName: string): Context {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: `local-${Math.random().toString(16).slice(2, 10)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, 900_000 - (Date.now() - started)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Content-addressed reuse of the extract step across runs: the same raw bytes (the store's ETag),
 * snapshot date, feature SQL and feature code give the same snapshot, so while that snapshot is
 * still the current one there is nothing to rebuild or republish. A different raw file, date or
 * SQL gives another key; a snapshot published since makes the entry stale. Keyed outside the
 * handler because the handler only learns the snapshot id after building it.
 *
 * The training machine resolves a prefix input (raw/) to its newest raw key in ResolveInput
 * before this step, so ExtractFeatures always names one object here. Without an asOf (the
 * schedule's and a drift retraining's input) the build's own default, the clock's today, keys the
 * entry and is passed to the build, so the key and the snapshot agree even across midnight. A
 * request this cache cannot key (a prefix called directly, an object without an ETag) is built.
 */
export function cachedExtract(root: LocalRoot, extract: LocalFunction): LocalFunction {
  const dir = join(root.home.root, 'cache', 'extract-features');
  return async (payload) => {
    // The resolve stage reads a listing; the Glue branch's stage requests are content-addressed by the stages themselves.
    if (payload && typeof payload === 'object' && 'stage' in payload) return extract(payload);
    const { input, asOf } = (payload ?? {}) as { input?: unknown; asOf?: unknown };
    if (typeof input !== 'string' || isRawPrefix(input) || (asOf !== undefined && typeof asOf !== 'string'))
      return extract(payload);
    const head = await root.objectStore.head(input);
    if (!head?.etag) return extract(payload);
    const day = asOf ?? root.clock.today();
    const request = asOf === undefined ? { ...(payload as Record<string, unknown>), asOf: day } : payload;
    const key = createHash('sha256')
      .update(
        JSON.stringify([
          head.etag,
          day,
          FEATURE_CODE_VERSION,
          createHash('sha256').update(readFileSync(FEATURE_SQL_PATH)).digest('hex'),
        ]),
      )
      .digest('hex');
    const file = join(dir, `${key}.json`);
    if (existsSync(file)) {
      const cached = JSON.parse(readFileSync(file, 'utf8')) as { snapshotId: string };
      if ((await readCurrentSnapshot(root.objectStore))?.snapshotId === cached.snapshotId)
        return { ...cached, alreadyCurrent: true, reused: true };
    }
    const result = (await extract(request)) as { snapshotId: string };
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${file}.tmp-${process.pid}`, JSON.stringify(result));
    renameSync(`${file}.tmp-${process.pid}`, file);
    return result;
  };
}

export function localFunctions(
  root: LocalRoot,
  deployment: LocalDeployment = localDeployment(root),
): Record<string, LocalFunction> {
  const env = process.env;
  const lazy = (
    name: string,
    build: () => Promise<(event: unknown, context: Context) => Promise<unknown>>,
  ): LocalFunction => {
    let built: Promise<(event: unknown, context: Context) => Promise<unknown>> | undefined;
    return async (payload) => {
      built ??= build();
      return (await built)(payload, lambdaContext(name));
    };
  };
  return {
    'extract-features': cachedExtract(
      root,
      lazy('extract-features', async () =>
        (await import('#functions/extract-features/handler.ts')).createHandler({
          rawStore: root.objectStore,
          featuresStore: root.objectStore,
          featureStore: root.featureStore,
          // The registry: the publish guards check the snapshot has the columns its champion reads.
          modelsStore: root.objectStore,
          tmpDir: root.home.tmp,
          clock: root.clock,
          buildFeatures: async ({ input, out, asOf }) => {
            const { buildFeatures } = await import('#lib/features/build.ts');
            const built = await buildFeatures({ input, outDir: out, asOf, clock: root.clock });
            return {
              snapshotId: built.snapshotId,
              rowsIn: built.summary.rowsIn,
              rowsValid: built.summary.rowsValid,
              rowsQuarantined: built.summary.rowsQuarantined,
            };
          },
        }),
      ),
    ),
    // The training machine's AwaitTurn: the local runs still running stand for ListExecutions(RUNNING).
    'training-turn': lazy('training-turn', async () =>
      (await import('#functions/training-turn/handler.ts')).createHandler({
        runningTrainings: async () => localRunningTrainings(root),
        clock: root.clock,
      }),
    ),
    train: lazy('train', async () =>
      (await import('#functions/train/handler.ts')).createHandler({
        featuresStore: root.objectStore,
        modelsStore: root.objectStore,
        train: trainToDirectory,
        tmpDir: root.home.tmp,
      }),
    ),
    evaluate: lazy('evaluate', async () =>
      (await import('#functions/evaluate/handler.ts')).createHandler({
        modelsStore: root.objectStore,
        score: scoreOnnxBytes,
        env,
      }),
    ),
    register: lazy('register', async () =>
      (await import('#functions/register/handler.ts')).createHandler({ modelsStore: root.objectStore, env }),
    ),
    // The batch-scoring state machine's one function (state-machines/batch-scoring.asl.json).
    'batch-score': lazy('batch-score', async () => {
      const { registryModelSource } = await import('#lib/serving/batch-model-source.ts');
      const { ModelRegistry } = await import('#lib/registry/registry.ts');
      return (await import('#functions/batch-score/handler.ts')).createHandler({
        featuresStore: root.objectStore,
        models: registryModelSource(root.objectStore, new ModelRegistry(root.objectStore)),
        clock: root.clock,
        tmpDir: root.home.tmp,
      });
    }),
    canary: lazy('canary', async () =>
      (await import('#functions/canary/handler.ts')).createHandler({
        deployer: deployment.deployer,
        metrics: deployment.metrics,
        modelsStore: root.objectStore,
        clock: root.clock,
        env,
      }),
    ),
  };
}
