import { InputError } from '#lib/errors.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import type { BatchModelSource } from './batch-shards.ts';
import { loadRegisteredModel, loadServingModelFromDir, type OnnxServingModel } from './model.ts';

/**
 * The two places batch scoring takes its model from. Both keep each loaded version for the life
 * of the container (a Lambda scores many shards in a row), and both score with every core
 * (intraOpNumThreads 0: onnxruntime picks one thread per core; a shard is thousands of rows).
 */
const BATCH_THREADS = { intraOpNumThreads: 0 };

/**
 * The model directory baked into the function (MODEL_DIR with model.onnx + card.json), as the
 * predict image does. Only that version can be asked for (by its full sha256, a prefix of it,
 * or "champion", which is what the image was built from).
 */
export function directoryModelSource(
  dir: string,
  modelName: string,
): BatchModelSource & { release(): Promise<void> } {
  let loaded: Promise<OnnxServingModel> | undefined;
  const model = () => (loaded ??= loadServingModelFromDir(dir, BATCH_THREADS));
  return {
    modelName,
    async resolve(requested) {
      const { version } = await model();
      if (
        requested === undefined ||
        requested === 'champion' ||
        (requested.length >= 4 && version.startsWith(requested))
      )
        return version;
      throw new InputError(
        'MODEL_VERSION_MISMATCH',
        `this function carries model ${version} (MODEL_DIR ${dir}); it cannot score with ${requested}`,
      );
    },
    async load(version) {
      const m = await model();
      if (m.version !== version) {
        throw new InputError(
          'MODEL_VERSION_MISMATCH',
          `this function carries model ${m.version}; the run asked for ${version}`,
        );
      }
      return m;
    },
    async release() {
      if (loaded) await (await loaded).release();
      loaded = undefined;
    },
  };
}

/** Registered versions from the object store; the champion alias unless a version is named. */
export function registryModelSource(
  store: ObjectStore,
  registry: ModelRegistry,
): BatchModelSource & { release(): Promise<void> } {
  const cache = new Map<string, Promise<OnnxServingModel>>();
  return {
    modelName: registry.name,
    resolve: (requested) => registry.resolveVersion(requested ?? 'champion'),
    load(version) {
      let m = cache.get(version);
      if (!m) {
        m = loadRegisteredModel(store, registry, version, BATCH_THREADS);
        // A failed load is not cached: the next shard (or a Retry) tries again.
        m.catch(() => cache.delete(version));
        cache.set(version, m);
      }
      return m;
    },
    async release() {
      for (const m of cache.values()) await (await m.catch(() => undefined))?.release();
      cache.clear();
    },
  };
}

/**
 * Where a batch-score function takes its model: the directory baked into it when there is one
 * (MODEL_DIR, as the predict image does), else the registry's champion (or the version a run names).
 */
export function batchModelSource(
  modelsStore: ObjectStore,
  env: { MODEL_DIR?: string; MODEL_NAME?: string },
): BatchModelSource {
  const modelName = env.MODEL_NAME || DEFAULT_MODEL_NAME;
  if (env.MODEL_DIR) return directoryModelSource(env.MODEL_DIR, modelName);
  return registryModelSource(modelsStore, new ModelRegistry(modelsStore, { name: modelName }));
}
