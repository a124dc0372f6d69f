import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createPredictHandler } from '#functions/predict/handler.ts';
import { InputError } from '#lib/errors.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import type { PredictionLog } from '#lib/ports/prediction-log.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { CachedFeatureStore, isScannable } from '#lib/serving/cached-feature-store.ts';
import { loadRegisteredModel } from '#lib/serving/model.ts';
import type { ServingModel } from '#lib/serving/predictor.ts';
import type { RealizedPerformanceProvider } from '#lib/monitoring/realized-performance-view.ts';
import { localDashboardPage } from '#local/monitoring/dashboard-data.ts';
import type { LocalRoot } from '#local/root.ts';
import {
  startLocalApiServer,
  type ApiHandler,
  type LocalApiServer,
  type ServerLimits,
} from './http-server.ts';
import { ModelRouter, type AliasState } from './model-router.ts';
import { PredictionLogFiles } from './prediction-log-files.ts';

/**
 * A server answers thousands of requests a second: their metrics go out together, at most this
 * late (the local canary judge and dashboard read windows of seconds). functions/predict/schema.ts.
 */
export const METRICS_BATCH_MS = 200;

export const OPENAPI_FILE = resolve(import.meta.dirname, '../../openapi/openapi.json');

export function noChampionError(modelName: string): InputError {
  return new InputError(
    'NO_CHAMPION',
    `model ${modelName} has no champion to serve: train, register and promote one ` +
      '(credit-risk models register DIR, credit-risk models promote VERSION), or run npm start',
  );
}

export interface ServeOptions {
  root: LocalRoot;
  featureStore: FeatureStore;
  modelName: string;
  port?: number;
  host?: string;
  /** How often the alias table is re-read (ms). */
  pollMs?: number;
  onReload?: (state: AliasState) => void;
  onReloadError?: (error: unknown) => void;
  /**
   * Answer lookups from an in-memory copy of the current snapshot, kept in step with the store
   * (lib/serving/cached-feature-store.ts); only for stores that can be scanned (PGlite). Default true.
   */
  cacheFeatures?: boolean;
  /** How often the cache confirms the store's current snapshot (ms). */
  featurePollMs?: number;
  /** The longest the cache answers without a confirmation (ms); past it lookups go to the store. */
  featureMaxStaleMs?: number;
  onFeatureCacheLoad?: (info: { snapshotId: string; rows: number; ms: number }) => void;
  onFeatureCacheError?: (error: unknown) => void;
  /** Extra fields of the GET /healthz body. */
  health?: Record<string, unknown>;
  /** Overrides of the HTTP limits (local/server/http-server.ts SERVER_LIMITS). */
  limits?: Partial<ServerLimits>;
  /** Realized performance for GET /dashboard (lib/monitoring/performance.ts); absent: "no outcomes yet". */
  performance?: RealizedPerformanceProvider;
  /**
   * Where served answers are recorded; default: this process's files under the local store's
   * predictions-log/ (local/server/prediction-log-files.ts). false: not recorded.
   */
  predictionLog?: PredictionLog | false;
}

/**
 * GET /healthz's proof that a version answers: one scoring of an all-missing row through the
 * version's ONNX session (no feature lookup, metric or log, so health checks stay out of the
 * served traffic the canary is judged on), which must come back as a probability.
 */
export async function probeModel(model: ServingModel): Promise<void> {
  const [p] = await model.scoreRows(new Float32Array(model.featureNames.length).fill(Number.NaN), 1);
  if (!(p >= 0 && p <= 1))
    throw new Error(`model ${model.version} scored an all-missing row as ${p}, not a probability`);
}

export interface RunningServe {
  server: LocalApiServer;
  router: ModelRouter<ApiHandler>;
  /** The in-memory copy of the online table, when one is used. */
  featureCache?: CachedFeatureStore;
  /** Stops accepting, finishes in-flight requests, frees the models (not the feature store). */
  close(): Promise<void>;
}

/**
 * `credit-risk serve` as a function (the CLI, `npm start` and tests call it): the registry's
 * aliases (champion + canary) choose which registered versions serve; each version is loaded from
 * the local object store into its own predict handler over the shared feature store.
 */
export async function startServe(options: ServeOptions): Promise<RunningServe> {
  const { root } = options;
  const featureCache =
    options.cacheFeatures !== false && isScannable(options.featureStore)
      ? await new CachedFeatureStore(options.featureStore, {
          pollMs: options.featurePollMs,
          maxStaleMs: options.featureMaxStaleMs,
          onLoad: options.onFeatureCacheLoad,
          onError: options.onFeatureCacheError,
        }).start()
      : undefined;
  const featureStore = featureCache ?? options.featureStore;
  const predictionLog =
    options.predictionLog === false
      ? undefined
      : (options.predictionLog ?? new PredictionLogFiles(root.home.store));
  const registry = new ModelRegistry(root.objectStore, { name: options.modelName, clock: root.clock });
  const router = new ModelRouter<ApiHandler>({
    readAliases: async () => {
      const a = await registry.aliases();
      return { champion: a.champion, canary: a.canary };
    },
    load: async (version) => {
      const model = await loadRegisteredModel(root.objectStore, registry, version);
      const predict = createPredictHandler({
        featureStore,
        clock: root.clock,
        model,
        predictionLog,
        metricsBatchMs: METRICS_BATCH_MS,
      });
      const handler = Object.assign(predict as ApiHandler, { probe: () => probeModel(model) });
      return {
        handler,
        dispose: () => {
          predict.flushMetrics();
          return model.release();
        },
      };
    },
    onReload: options.onReload,
    onReloadError: options.onReloadError,
  });
  try {
    await router.refresh();
  } catch (e) {
    await predictionLog?.close();
    if (e instanceof Error && /no champion/.test(e.message)) {
      await featureCache?.close();
      throw noChampionError(options.modelName);
    }
    await featureCache?.close();
    throw e;
  }
  router.watch(options.pollMs ?? 500);
  let server: LocalApiServer;
  try {
    const openapi = JSON.parse(await readFile(OPENAPI_FILE, 'utf8')) as unknown;
    server = await startLocalApiServer({
      router,
      openapi,
      port: options.port,
      host: options.host,
      health: options.health,
      // The store the handlers read (the in-memory copy's current snapshot comes from the store
      // itself; a cluster worker's replica asks the primary).
      featureStore,
      limits: options.limits,
      dashboard: () => localDashboardPage(root, options.modelName, options.performance),
    });
  } catch (e) {
    // A busy port: nothing started here may keep the process alive behind the error.
    await router.close();
    await featureCache?.close();
    await predictionLog?.close();
    throw e;
  }
  return {
    server,
    router,
    featureCache,
    async close() {
      await server.close();
      await router.close();
      await featureCache?.close();
      await predictionLog?.close();
    },
  };
}
