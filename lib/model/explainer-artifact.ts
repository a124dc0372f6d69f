import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '#lib/errors.ts';
import { readOnnxMetadataProps } from './onnx-metadata.ts';
import {
  MAX_TREE_NODES,
  TreeShapExplainer,
  type ExplainableModel,
  type ExplainableTree,
  type TreeShapOptions,
} from './shap.ts';

/**
 * explainer.json: what TreeSHAP needs that model.onnx does not carry (the covers), with the trees
 * again so the file stands alone: per tree the node arrays (structure, float32 thresholds,
 * missingLeft, leaf values, covers), plus the feature names and the base score. Written by the
 * trainer next to model.onnx; stored by the registry as models/<name>/<version>/explainer.json.
 *
 * The version covers it (docs/adr/0125-exact-treeshap-with-precomputed-leaf-tables.md): model.onnx
 * carries the sha256 of these bytes in its metadata_props (explainer_sha256), and the version is
 * the sha256 of model.onnx, as it always was. A model.onnx without that entry (every version
 * trained before) has no explainer and keeps its version and its hash.
 */
export const EXPLAINER_FILE = 'explainer.json';
/** The metadata_props key of model.onnx that holds the sha256 (hex) of explainer.json. */
export const EXPLAINER_DIGEST_KEY = 'explainer_sha256';
export const EXPLAINER_FORMAT = 'credit-risk.tree-explainer';
export const EXPLAINER_FORMAT_VERSION = 1;
const ROUTING =
  'node n is a leaf when left[n] < 0; else a missing value (NaN) goes to left[n] when missingLeft[n] = 1 and to right[n] otherwise, and a value x goes left when x < threshold[n] (float32 comparison)';

/** The trees as the trainer has them (lib/model/gbdt/tree.ts `Tree` fits). */
export interface ExplainerSource {
  numFeatures: number;
  baseScore: number;
  trees: readonly (ExplainableTree & { numNodes?: number })[];
}

const infinity = z.enum(['-Infinity', 'Infinity']);
const treeSchema = z
  .object({
    feature: z.array(z.number().int().min(-1)).min(1).max(MAX_TREE_NODES),
    threshold: z.array(z.union([z.number(), infinity])),
    missingLeft: z.array(z.union([z.literal(0), z.literal(1)])),
    left: z.array(z.number().int()),
    right: z.array(z.number().int()),
    value: z.array(z.number()),
    count: z.array(z.number().positive()),
  })
  .strict();
const documentSchema = z
  .object({
    format: z.literal(EXPLAINER_FORMAT),
    formatVersion: z.literal(EXPLAINER_FORMAT_VERSION),
    routing: z.string(),
    featureNames: z.array(z.string().min(1)).min(1),
    baseScore: z.number(),
    trees: z.array(treeSchema),
  })
  .strict();

export type ExplainerDocument = z.infer<typeof documentSchema>;

function jsonThreshold(t: number): number | '-Infinity' | 'Infinity' {
  if (t === Number.POSITIVE_INFINITY) return 'Infinity';
  if (t === Number.NEGATIVE_INFINITY) return '-Infinity';
  return t;
}

/** The explainer.json bytes of a model: deterministic (same model, same bytes). */
export function encodeExplainer(model: ExplainerSource, featureNames: readonly string[]): Uint8Array {
  if (featureNames.length !== model.numFeatures)
    throw new RangeError(`${featureNames.length} feature names for a model of ${model.numFeatures} features`);
  const doc: ExplainerDocument = {
    format: EXPLAINER_FORMAT,
    formatVersion: EXPLAINER_FORMAT_VERSION,
    routing: ROUTING,
    featureNames: [...featureNames],
    baseScore: model.baseScore,
    trees: model.trees.map((t) => {
      const n = t.numNodes ?? t.left.length;
      const leaf = (i: number) => t.left[i] < 0;
      const nodes = Array.from({ length: n }, (_, i) => i);
      return {
        feature: nodes.map((i) => (leaf(i) ? -1 : t.feature[i])),
        threshold: nodes.map((i) => (leaf(i) ? 0 : jsonThreshold(t.threshold[i]))),
        missingLeft: nodes.map((i) => (!leaf(i) && t.missingLeft[i] ? 1 : 0)),
        left: nodes.map((i) => (leaf(i) ? -1 : t.left[i])),
        right: nodes.map((i) => (leaf(i) ? -1 : t.right[i])),
        // Internal nodes' outputs play no part in TreeSHAP: 0, so the file says only what counts.
        value: nodes.map((i) => (leaf(i) ? t.value[i] : 0)),
        count: nodes.map((i) => t.count[i]),
      };
    }),
  };
  return new TextEncoder().encode(`${JSON.stringify(doc)}\n`);
}

export function explainerDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function badExplainer(message: string): InputError {
  return new InputError('BAD_EXPLAINER', `${EXPLAINER_FILE}: ${message}`);
}

/** Parses and checks explainer.json (schema, then tree structure); InputError BAD_EXPLAINER otherwise. */
export function parseExplainer(bytes: Uint8Array): { featureNames: string[]; model: ExplainableModel } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw badExplainer(`not valid UTF-8 JSON (${(e as Error).message})`);
  }
  const parsed = documentSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badExplainer(`${issue.path.join('.') || '(document)'}: ${issue.message}`);
  }
  const doc = parsed.data;
  const F = doc.featureNames.length;
  if (new Set(doc.featureNames).size !== F) throw badExplainer('featureNames has duplicates');
  const trees = doc.trees.map((t, i) => {
    const n = t.feature.length;
    for (const key of ['threshold', 'missingLeft', 'left', 'right', 'value', 'count'] as const) {
      if (t[key].length !== n)
        throw badExplainer(`trees.${i}.${key} has ${t[key].length} entries for ${n} nodes`);
    }
    return {
      feature: Int32Array.from(t.feature),
      threshold: Float64Array.from(t.threshold, (v) =>
        v === 'Infinity' ? Number.POSITIVE_INFINITY : v === '-Infinity' ? Number.NEGATIVE_INFINITY : v,
      ),
      missingLeft: Uint8Array.from(t.missingLeft),
      left: Int32Array.from(t.left),
      right: Int32Array.from(t.right),
      value: Float64Array.from(t.value),
      count: Float64Array.from(t.count),
    };
  });
  return { featureNames: doc.featureNames, model: { numFeatures: F, baseScore: doc.baseScore, trees } };
}

/**
 * The precomputed explainer from explainer.json bytes, or undefined when there are none (a model
 * version from before explanations: callers log a warning and answer an empty explanation).
 * Malformed bytes are an InputError (BAD_EXPLAINER), never a silent "no explainer".
 */
export function loadExplainer(
  bytes: Uint8Array | null | undefined,
  options: TreeShapOptions = {},
): TreeShapExplainer | undefined {
  if (!bytes) return undefined;
  const { featureNames, model } = parseExplainer(bytes);
  try {
    return TreeShapExplainer.fromModel(model, { ...options, featureNames });
  } catch (e) {
    if (e instanceof RangeError) throw badExplainer(e.message);
    throw e;
  }
}

export type ModelExplainerStatus =
  /** explainer.json present, named by model.onnx, valid. */
  | 'loaded'
  /** model.onnx names no explainer (trained before explanations). */
  | 'none'
  /** model.onnx names one, but explainer.json is missing. */
  | 'missing'
  /** explainer.json does not hash to what model.onnx names, or names other features. */
  | 'mismatch';

export interface ModelExplainer {
  explainer: TreeShapExplainer | undefined;
  status: ModelExplainerStatus;
  /** What to log when there is no explainer. */
  warning?: string;
}

/**
 * The explainer of a model version from its files (model.onnx and, when present, explainer.json),
 * checked against the digest model.onnx carries: the one function serving calls at init. Never
 * throws for a missing or mismatching explainer (predictions must go on): it says why in
 * `warning`. A malformed explainer.json that hashes right is a bug upstream and throws.
 */
export function explainerForModel(
  files: { model: Uint8Array; explainer?: Uint8Array | null },
  options: TreeShapOptions = {},
): ModelExplainer {
  const metadata = readOnnxMetadataProps(files.model);
  const declared = metadata[EXPLAINER_DIGEST_KEY];
  if (!declared) {
    return {
      explainer: undefined,
      status: 'none',
      warning: `model.onnx names no ${EXPLAINER_FILE} (${EXPLAINER_DIGEST_KEY}): this version predates explanations; answering without reasons`,
    };
  }
  if (!files.explainer) {
    return {
      explainer: undefined,
      status: 'missing',
      warning: `model.onnx names ${EXPLAINER_FILE} ${declared.slice(0, 12)}, which is missing beside it; answering without reasons`,
    };
  }
  const actual = explainerDigest(files.explainer);
  if (actual !== declared) {
    return {
      explainer: undefined,
      status: 'mismatch',
      warning: `${EXPLAINER_FILE} hashes to ${actual.slice(0, 12)} but model.onnx names ${declared.slice(0, 12)}: not this version's explainer; answering without reasons`,
    };
  }
  const explainer = loadExplainer(files.explainer, options) as TreeShapExplainer;
  const onnxNames = metadata.feature_names;
  if (onnxNames !== undefined && onnxNames !== JSON.stringify(explainer.featureNames)) {
    return {
      explainer: undefined,
      status: 'mismatch',
      warning: `${EXPLAINER_FILE} lists features ${JSON.stringify(explainer.featureNames)}, model.onnx ${onnxNames}; answering without reasons`,
    };
  }
  return { explainer, status: 'loaded' };
}

/**
 * What the registry checks before storing a version: explainer.json (when given) must hash to the
 * digest model.onnx carries and parse; a model.onnx that names an explainer must come with it.
 * Bytes that are not an ONNX model name nothing (the registry does not otherwise read them).
 */
export function checkExplainerArtifacts(model: Uint8Array, explainer: Uint8Array | undefined): void {
  let declared: string | undefined;
  try {
    declared = readOnnxMetadataProps(model)[EXPLAINER_DIGEST_KEY];
  } catch {
    declared = undefined;
  }
  if (!explainer) {
    if (declared) {
      throw new InputError(
        'MISSING_EXPLAINER',
        `model.onnx names ${EXPLAINER_FILE} ${declared.slice(0, 12)} (${EXPLAINER_DIGEST_KEY}), but none was given: register the whole model directory (credit-risk train --out DIR writes it)`,
      );
    }
    return;
  }
  if (!declared) {
    throw new InputError(
      'EXPLAINER_NOT_DECLARED',
      `an ${EXPLAINER_FILE} was given but model.onnx does not name one (${EXPLAINER_DIGEST_KEY}): the version would not cover it`,
    );
  }
  const actual = explainerDigest(explainer);
  if (actual !== declared) {
    throw new InputError(
      'EXPLAINER_MISMATCH',
      `${EXPLAINER_FILE} hashes to ${actual} but model.onnx names ${declared}: it belongs to another model`,
    );
  }
  loadExplainer(explainer, { maxTableDepth: 0 });
}
