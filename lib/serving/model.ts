import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { EXPLAINER_FILE, explainerForModel } from '#lib/model/explainer-artifact.ts';
import { loadOnnxSession, type OnnxLoadOptions } from '#lib/model/onnx-session.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import type { ModelRegistry } from '#lib/registry/registry.ts';
import type { TreeShapExplainer } from '#lib/model/shap.ts';
import type { ServingModel } from './predictor.ts';
import { createRowBatcher } from './row-batcher.ts';

/**
 * A ServingModel from a registered model's files (model.onnx + card.json, and explainer.json when
 * the version has one): MODEL_DIR baked into the image in AWS, models/<name>/<version>/ in the
 * local object store.
 *
 * The version is the sha256 of model.onnx (the registry's definition), so the bytes that answer
 * are the bytes the response names. Feature order and threshold come from the card.
 *
 * The TreeSHAP explainer is built here, once per version, next to the ONNX session
 * (lib/model/explainer-artifact.ts explainerForModel: explainer.json must hash to what model.onnx
 * names). A version without one (trained before explanations, or a file that does not match)
 * still serves, with `reasons: []`, and says why in `explainerWarning`, which the predict
 * handler logs once (functions/predict/telemetry.ts).
 *
 * The session comes from lib/model/onnx-session.ts, the one ONNX loader (input and probability
 * output by position and name, so a model exported by another tool, the serving tests' fixture,
 * serves too).
 */
export interface ModelCardForServing {
  features: string[];
  threshold: number;
  /** Per feature, the training mean (card.json reference[].mean): what reason texts compare with. */
  typicalValues: (number | null)[];
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
  const means = new Map<string, number>();
  if (Array.isArray(c.reference)) {
    for (const r of c.reference as unknown[]) {
      const { feature, mean } = (r ?? {}) as { feature?: unknown; mean?: unknown };
      if (typeof feature === 'string' && typeof mean === 'number' && Number.isFinite(mean))
        means.set(feature, mean);
    }
  }
  return { features, threshold, typicalValues: features.map((f) => means.get(f) ?? null) };
}

export interface OnnxServingModel extends ServingModel {
  release(): Promise<void>;
}

export async function loadServingModel(
  files: { model: Uint8Array; card: unknown; explainer?: Uint8Array | null },
  options: OnnxLoadOptions = {},
): Promise<OnnxServingModel> {
  const card = servingCard(files.card);
  const version = createHash('sha256').update(files.model).digest('hex');
  const { explainer, warning } = servingExplainer(files, card.features);
  const session = await loadOnnxSession(files.model, options);
  const width = card.features.length;
  const run = (features: Float32Array, rows: number) => session.classOneProbabilities(features, rows, width);
  // Single-row calls of requests in flight together share one run (lib/serving/row-batcher.ts),
  // and so do their explanations: TreeSHAP of rows together costs less per row.
  const scoreRows = createRowBatcher(run, { width });
  const explainRows = explainer
    ? createRowBatcher<Float64Array>(async (features, rows) => explainer.explainRows(features, rows), {
        width,
        outWidth: width + 1,
      })
    : undefined;
  return {
    version,
    featureNames: card.features,
    threshold: card.threshold,
    scoreRows,
    ...(explainer && explainRows ? { explainer, explainRows } : { explainerWarning: warning }),
    typicalValues: card.typicalValues,
    release: () => session.release(),
  };
}

/** The version's explainer, or why there is none. Its features must be the card's, in order. */
function servingExplainer(
  files: { model: Uint8Array; explainer?: Uint8Array | null },
  features: readonly string[],
): { explainer?: TreeShapExplainer; warning?: string } {
  const loaded = explainerForModel({ model: files.model, explainer: files.explainer });
  if (!loaded.explainer) return { warning: loaded.warning };
  const names = loaded.explainer.featureNames ?? [];
  if (names.length !== features.length || names.some((n, i) => n !== features[i])) {
    return {
      warning: `${EXPLAINER_FILE} lists features ${JSON.stringify(names)}, card.json ${JSON.stringify(features)}; answering without reasons`,
    };
  }
  return { explainer: loaded.explainer };
}

/** A file's bytes, or undefined when it does not exist (an optional file of a model directory). */
async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function loadServingModelFromDir(
  dir: string,
  options: OnnxLoadOptions = {},
): Promise<OnnxServingModel> {
  const [model, cardText, explainer] = await Promise.all([
    readFile(join(dir, 'model.onnx')),
    readFile(join(dir, 'card.json'), 'utf8'),
    readOptional(join(dir, EXPLAINER_FILE)),
  ]);
  return loadServingModel({ model: new Uint8Array(model), card: JSON.parse(cardText), explainer }, options);
}

/**
 * A registered version from the object store (models/<name>/<version>/model.onnx + card.json, and
 * explainer.json when it has one).
 * `ref` is anything the registry resolves: a version, a unique prefix, champion or canary.
 */
export async function loadRegisteredModel(
  store: ObjectStore,
  registry: ModelRegistry,
  ref: string,
  options: OnnxLoadOptions = {},
): Promise<OnnxServingModel> {
  const version = await registry.resolveVersion(ref);
  const [model, card, explainer] = await Promise.all([
    store.get(registry.modelKey(version)),
    getJson<unknown>(store, registry.cardKey(version)),
    store.get(registry.explainerKey(version)),
  ]);
  if (!model || card === undefined) {
    throw new InputError(
      'UNKNOWN_MODEL_VERSION',
      `version ${version} of ${registry.name} is missing model.onnx or card.json`,
    );
  }
  return loadServingModel({ model, card, explainer }, options);
}
