import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createPredictHandler } from '#functions/predict/handler.ts';
import { InputError } from '#lib/errors.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { loadRegisteredModel } from '#lib/serving/model.ts';
import type { LocalRoot } from '#local/root.ts';
import { startLocalApiServer, type ApiHandler, type LocalApiServer } from './http-server.ts';
import { ModelRouter, type AliasState } from './model-router.ts';

export const OPENAPI_FILE = resolve(import.meta.dirname, '../../openapi/openapi.json');

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
}

export interface RunningServe {
  server: LocalApiServer;
  router: ModelRouter<ApiHandler>;
  /** Stops accepting, finishes in-flight requests, frees the models (not the feature store). */
  close(): Promise<void>;
}

/**
 * `credit-risk serve` as a function (the CLI, `npm start` and tests call it): the registry's
 * aliases (champion + canary) choose which registered versions serve; each version is loaded from
 * the local object store into its own predict handler over the shared feature store.
 */
export async function startServe(options: ServeOptions): Promise<RunningServe> {
  const { root, featureStore } = options;
  const registry = new ModelRegistry(root.objectStore, { name: options.modelName, clock: root.clock });
  const router = new ModelRouter<ApiHandler>({
    readAliases: async () => {
      const a = await registry.aliases();
      return { champion: a.champion, canary: a.canary };
    },
    load: async (version) => {
      const model = await loadRegisteredModel(root.objectStore, registry, version);
      const handler = createPredictHandler({ featureStore, clock: root.clock, model }) as ApiHandler;
      return { handler, dispose: () => model.release() };
    },
    onReload: options.onReload,
    onReloadError: options.onReloadError,
  });
  try {
    await router.refresh();
  } catch (e) {
    if (e instanceof Error && /no champion/.test(e.message)) {
      throw new InputError(
        'NO_CHAMPION',
        `model ${options.modelName} has no champion to serve: train, register and promote one ` +
          '(credit-risk models register DIR, credit-risk models promote VERSION), or run npm start',
      );
    }
    throw e;
  }
  router.watch(options.pollMs ?? 500);
  const openapi = JSON.parse(await readFile(OPENAPI_FILE, 'utf8')) as unknown;
  const server = await startLocalApiServer({ router, openapi, port: options.port, host: options.host });
  return {
    server,
    router,
    async close() {
      await server.close();
      await router.close();
    },
  };
}
