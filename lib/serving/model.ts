import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { loadOnnxSession, type OnnxLoadOptions } from '#lib/model/onnx-session.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import type { ModelRegistry } from '#lib/registry/registry.ts';
import type { ServingModel } from './predictor.ts';
import { createRowBatcher } from './row-batcher.ts';

/**
 * A ServingModel from a registered model's files (model.onnx + card.json): MODEL_DIR baked into
 * the image in AWS, models/<name>/<version>/ in the local object store.
 *
 * The version is the sha256 of model.onnx (the registry's definition), so the bytes that answer
 * are the bytes the response names. Feature order and threshold come from the card.
 *
 * The session comes from lib/model/onnx-session.ts, the one ONNX loader (input and probability
 * output by position and name, so a model exported by another tool, the serving tests' fixture,
 * serves too).
 */
export interface ModelCardForServing {
  features: string[];
  threshold: number;
}

/** The card fields serving needs, from the trainer's card.json (tolerant of both naming styles). */
export function servingCard(card: unknown): ModelCardForServing {
  const c = (card ?? {}) as Record<string, unknown>;
  const raw = (c.features ?? c.featureNames ?? c.feature_names) as unknown;
  const features = Array.isArray(raw)
    ? raw.map((f) => (typeof f === 'string' ? f : String((f as { name?: unknown }).name)))
    : undefined;
  if (!features || features.length === 0 || features.some((f) => f === 'undefined' || f === '')) {
    throw new Error('card.json has no feature list (features: string[] in the input tensor order)');
  }
  const threshold = c.threshold;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) {
    throw new Error(`card.json threshold must be a number in [0, 1], got ${JSON.stringify(threshold)}`);
  }
  return { features, threshold };
}

export interface OnnxServingModel extends ServingModel {
  release(): Promise<void>;
}

export async function loadServingModel(
  files: { model: Uint8Array; card: unknown },
  options: OnnxLoadOptions = {},
): Promise<OnnxServingModel> {
  const card = servingCard(files.card);
  const version = createHash('sha256').update(files.model).digest('hex');
  const session = await loadOnnxSession(files.model, options);
  const width = card.features.length;
  const run = (features: Float32Array, rows: number) => session.classOneProbabilities(features, rows, width);
  // Single-row calls of requests in flight together share one run (lib/serving/row-batcher.ts).
  const scoreRows = createRowBatcher(run, { width });
  return {
    version,
    featureNames: card.features,
    threshold: card.threshold,
    scoreRows,
    release: () => session.release(),
  };
}

export async function loadServingModelFromDir(
  dir: string,
  options: OnnxLoadOptions = {},
): Promise<OnnxServingModel> {
  const [model, cardText] = await Promise.all([
    readFile(join(dir, 'model.onnx')),
    readFile(join(dir, 'card.json'), 'utf8'),
  ]);
  return loadServingModel({ model: new Uint8Array(model), card: JSON.parse(cardText) }, options);
}

/**
 * A registered version from the object store (models/<name>/<version>/model.onnx + card.json).
 * `ref` is anything the registry resolves: a version, a unique prefix, champion or canary.
 */
export async function loadRegisteredModel(
  store: ObjectStore,
  registry: ModelRegistry,
  ref: string,
  options: OnnxLoadOptions = {},
): Promise<OnnxServingModel> {
  const version = await registry.resolveVersion(ref);
  const [model, card] = await Promise.all([
    store.get(registry.modelKey(version)),
    getJson<unknown>(store, registry.cardKey(version)),
  ]);
  if (!model || card === undefined) {
    throw new InputError(
      'UNKNOWN_MODEL_VERSION',
      `version ${version} of ${registry.name} is missing model.onnx or card.json`,
    );
  }
  return loadServingModel({ model, card }, options);
}
