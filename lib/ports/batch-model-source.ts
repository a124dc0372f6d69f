import type { ServingModel } from '#lib/serving/predictor.ts';

/**
 * Where the model comes from: the directory baked into the function (MODEL_DIR, like predict) or
 * the registry (champion unless a version is asked for). `resolve` pins a version once per run;
 * `load` gives that exact version (cached per container by lib/serving/batch-model-source.ts).
 */
export interface BatchModelSource {
  readonly modelName: string;
  resolve(requested?: string): Promise<string>;
  load(version: string): Promise<ServingModel>;
}
