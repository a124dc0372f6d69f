import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputError } from '#lib/errors.ts';
import { createInferenceSession } from '#lib/model/onnx-session.ts';
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
 * The session comes from lib/model/onnx-session.ts (one set of session options for every caller);
 * unlike that module's loader, this one takes the input and probability outputs by position and
 * name, so a model exported by another tool (the serving tests' fixture) serves too.
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

export interface LoadOptions {
  /** Threads per scoring call: 1 for the API (one row: a thread pool only adds latency), more for batch. */
  intraOpThreads?: number;
}

export async function loadServingModel(
  files: { model: Uint8Array; card: unknown },
  options: LoadOptions = {},
): Promise<OnnxServingModel> {
  const card = servingCard(files.card);
  const version = createHash('sha256').update(files.model).digest('hex');
  const session = await createInferenceSession(files.model, {
    intraOpNumThreads: options.intraOpThreads ?? 1,
  });
  const inputName = session.inputNames[0];
  const outputName = pickProbabilityOutput(session.outputNames);
  const width = card.features.length;
  async function run(features: Float32Array, rows: number): Promise<Float32Array> {
    const input = new ort.Tensor('float32', features, [rows, width]);
    const result = await session.run({ [inputName]: input }, [outputName]);
    return classOneProbabilities(result[outputName], rows);
  }
  // Single-row calls of requests in flight together share one run (lib/serving/row-batcher.ts).
  const scoreRows = createRowBatcher(run, { width });
  return {
    version,
    featureNames: card.features,
    threshold: card.threshold,
    scoreRows,
    async release() {
      await session.release();
    },
  };
}

export async function loadServingModelFromDir(
  dir: string,
  options: LoadOptions = {},
): Promise<OnnxServingModel> {
  const [model, cardText] = await Promise.all([
    readFile(join(dir, 'model.onnx')),
    readFile(join(dir, 'card.json'), 'utf8'),
  ]);
  return loadServingModel({ model: new Uint8Array(model), card: JSON.parse(cardText) }, options);
}

/** The output holding probabilities: named so by the exporter, else the last output. */
function pickProbabilityOutput(names: readonly string[]): string {
  return names.find((n) => /^prob/i.test(n)) ?? names[names.length - 1];
}

/**
 * P(class 1) per row from a [N, 2] (both classes) or [N, 1] / [N] (class 1 only) float tensor.
 * Never derived from a label output: onnxruntime's binary TreeEnsembleClassifier can disagree
 * between its labels and its probabilities.
 */
function classOneProbabilities(tensor: ort.Tensor, rows: number): Float32Array {
  const data = tensor.data as Float32Array;
  const width = tensor.dims.length === 2 ? Number(tensor.dims[1]) : 1;
  if (width === 1) return data.length === rows ? data : data.subarray(0, rows);
  if (width !== 2) throw new Error(`probability output has ${width} columns; expected 1 or 2`);
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = data[r * 2 + 1];
  return out;
}

/**
 * A registered version from the object store (models/<name>/<version>/model.onnx + card.json).
 * `ref` is anything the registry resolves: a version, a unique prefix, champion or canary.
 */
export async function loadRegisteredModel(
  store: ObjectStore,
  registry: ModelRegistry,
  ref: string,
  options: LoadOptions = {},
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
