import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { EXPLAINER_FILE } from '#lib/model/explainer-artifact.ts';
import type { Builder, BuildRequest, BuildResult } from '#lib/ports/builder.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { ModelRegistry, shortId } from '#lib/registry/registry.ts';

/** Bundles the serving function into `outDir` and returns the bundle file (scripts/build.ts). */
export type BundleServingFunction = (outDir: string) => Promise<string>;

/**
 * The local container rebuild: what CodeBuild does with the Dockerfile, minus docker. The predict
 * function's esbuild bundle plus the registered model (model.onnx, card.json, and explainer.json
 * when the version has one: the predict handler builds its TreeSHAP explainer from it) go into
 * `<buildsDir>/<model12>-<bundle12>/`, named by the model version and the sha256 of the bundle:
 * the same code and model always give the same directory, so a rebuild of an existing one is a
 * no-op. Built in a temp directory and renamed into place, so a half-built directory never exists.
 */
export class BuildDirBuilder implements Builder {
  constructor(
    private readonly buildsDir: string,
    private readonly modelsStore: ObjectStore,
    private readonly bundle: BundleServingFunction,
  ) {}

  async build(request: BuildRequest): Promise<BuildResult> {
    const registry = new ModelRegistry(this.modelsStore, { name: request.modelName });
    if (!(await registry.isRegistered(request.modelVersion))) {
      throw new InputError(
        'UNKNOWN_MODEL_VERSION',
        `cannot build ${request.modelName} ${request.modelVersion}: it is not registered`,
      );
    }
    const tmp = join(this.buildsDir, `.tmp-${process.pid}-${randomUUID()}`);
    await mkdir(join(tmp, 'model'), { recursive: true });
    try {
      const bundleFile = await this.bundle(join(tmp, 'function'));
      const bundleSha = createHash('sha256')
        .update(await readFile(bundleFile))
        .digest('hex');
      for (const [file, key] of [
        ['model.onnx', registry.modelKey(request.modelVersion)],
        ['card.json', registry.cardKey(request.modelVersion)],
      ] as const) {
        const bytes = await this.modelsStore.get(key);
        if (!bytes) throw new Error(`registered model file missing: ${this.modelsStore.describe(key)}`);
        await writeFile(join(tmp, 'model', file), bytes);
      }
      // A version registered before explanations has none, and serves without reasons.
      const explainer = await this.modelsStore.get(registry.explainerKey(request.modelVersion));
      if (explainer) await writeFile(join(tmp, 'model', EXPLAINER_FILE), explainer);
      const buildId = `${shortId(request.modelVersion)}-${bundleSha.slice(0, 12)}`;
      await writeFile(
        join(tmp, 'build.json'),
        `${JSON.stringify({ buildId, modelName: request.modelName, modelVersion: request.modelVersion, bundleSha256: bundleSha }, null, 2)}\n`,
      );
      const dir = join(this.buildsDir, buildId);
      if (existsSync(dir)) return { buildId, artifact: dir, reused: true };
      await rename(tmp, dir);
      return { buildId, artifact: dir, reused: false };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}
