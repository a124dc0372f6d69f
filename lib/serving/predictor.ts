import { InputError } from '#lib/errors.ts';
import { ONLINE_FEATURE_NAMES, onlineFeatureVector, type OnlineFeatureName } from '#lib/features/online.ts';
import type { TreeShapExplainer } from '#lib/model/shap.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { ReasonCoder, type Explanation, type Reason } from './reasons.ts';

export type { Explanation, Reason } from './reasons.ts';

/**
 * What serving needs from a trained model: its version, the feature order of its input tensor,
 * its decision threshold, and a batch scorer; and, for reason codes, its TreeSHAP explainer.
 * lib/serving/model.ts builds one from a model directory (model.onnx + card.json +
 * explainer.json); tests may pass any implementation.
 */
export interface ServingModel {
  readonly version: string;
  /** Column order of the [rows, features] input; NaN means missing. */
  readonly featureNames: readonly string[];
  /** prediction = 1 when probability >= threshold. */
  readonly threshold: number;
  /** Probability of class 1 for each of `rows` rows of `features` (row-major). */
  scoreRows(features: Float32Array, rows: number): Promise<Float32Array>;
  /**
   * Exact TreeSHAP of this version's trees, built once at load; undefined for a version without
   * explainer.json (trained before explanations): it answers `reasons: []`.
   */
  readonly explainer?: TreeShapExplainer;
  /**
   * The explainer's rows as one call ([rows, F + 1], the bias last), coalesced like scoreRows
   * (lib/serving/row-batcher.ts); without it the predictor explains each row alone.
   */
  explainRows?(features: Float32Array, rows: number): Promise<Float64Array>;
  /** Why there is no explainer (a version without explainer.json, or one that does not match): logged once per load. */
  readonly explainerWarning?: string;
  /**
   * Per input column, the value the reason texts compare with (the training mean, card.json
   * `reference`); null or absent where unknown (lib/serving/reasons.ts).
   */
  readonly typicalValues?: readonly (number | null)[];
}

/** The 200 body of POST /predict (docs/DESIGN.md, "Contracts"). */
export interface Prediction {
  id: string;
  prediction: 0 | 1;
  probability: number;
  threshold: number;
  modelVersion: string;
  featureSnapshot: string;
  /** Up to 4 features that pushed the score toward default, largest first (lib/serving/reasons.ts). */
  reasons: Reason[];
  /**
   * Asked for with `"explain": true`: every feature's contribution, or null when the version has
   * no explainer. Absent otherwise.
   */
  explanation?: Explanation | null;
}

export interface PredictOptions {
  /** Also answer `explanation`. */
  explain?: boolean;
}

export interface PredictorDeps {
  featureStore: FeatureStore;
  clock: Clock;
  model: ServingModel;
}

export interface Predictor {
  readonly modelVersion: string;
  /** Scores customer `id` with today's online features; InputError UNKNOWN_CUSTOMER when absent. */
  predict(id: string, options?: PredictOptions): Promise<Prediction>;
  /** Touches the model (one scoring run, one explanation) and the feature store (a ping) without predicting. */
  warm(): Promise<void>;
}

/**
 * For each input column of the model, where it sits in the online feature vector. A model that
 * needs a feature the online store cannot give fails here, when the container starts, rather than
 * on every request.
 */
export function onlineFeatureOrder(featureNames: readonly string[]): OnlineFeatureName[] {
  const known = new Set<string>(ONLINE_FEATURE_NAMES);
  const missing = featureNames.filter((f) => !known.has(f));
  if (missing.length > 0) {
    throw new Error(
      `the model needs feature(s) ${missing.join(', ')} that the online store does not serve ` +
        `(it serves ${ONLINE_FEATURE_NAMES.join(', ')})`,
    );
  }
  return featureNames as OnlineFeatureName[];
}

/**
 * The model answered NaN or +-Infinity for a row: never served. lib/serving/http-errors.ts makes it a
 * 503 `NON_FINITE_PROBABILITY` and the telemetry counts it (`nonFiniteProbabilities`, alarmed).
 */
export class NonFiniteProbabilityError extends Error {
  readonly code = NON_FINITE_PROBABILITY;
  constructor(
    readonly modelVersion: string,
    readonly probability: number,
  ) {
    super(`model ${modelVersion} scored a non-finite probability (${probability})`);
    this.name = 'NonFiniteProbabilityError';
  }
}

export const NON_FINITE_PROBABILITY = 'NON_FINITE_PROBABILITY';

export function createPredictor({ featureStore, clock, model }: PredictorDeps): Predictor {
  const order = onlineFeatureOrder(model.featureNames);
  const width = order.length;
  const { explainer } = model;
  if (explainer && explainer.numFeatures !== width)
    throw new Error(`the explainer has ${explainer.numFeatures} features, the model ${width}`);
  const coder = new ReasonCoder(model.featureNames, model.typicalValues);
  const explainRows =
    model.explainRows?.bind(model) ??
    (explainer ? async (x: Float32Array, rows: number) => explainer.explainRows(x, rows) : undefined);
  return {
    modelVersion: model.version,
    async predict(id: string, options: PredictOptions = {}): Promise<Prediction> {
      const row = await featureStore.get(id);
      if (!row)
        throw new InputError('UNKNOWN_CUSTOMER', `no customer with id ${id} in the online feature store`, {
          id,
        });
      const vector = onlineFeatureVector(row, clock.today());
      // A fresh buffer per request: scoring is asynchronous and requests overlap.
      const input = new Float32Array(width);
      const values: (number | null)[] = new Array<number | null>(width);
      for (let i = 0; i < width; i++) {
        const v = vector[order[i]] ?? null;
        values[i] = v;
        input[i] = v ?? Number.NaN;
      }
      // TreeSHAP of the very float32 row ONNX scores; both calls coalesce with the requests in
      // flight (one model run and one TreeSHAP pass a batch), and both run on this thread, one
      // after the other: onnxruntime-node runs a session synchronously in a setImmediate, on one
      // intra-op thread for serving (lib/model/onnx-session.ts).
      const [scores, shap] = await Promise.all([model.scoreRows(input, 1), explainRows?.(input, 1)]);
      const probability = scores[0];
      // A NaN or infinite score would be served as a decision (NaN >= threshold is a silent 0).
      if (!Number.isFinite(probability)) throw new NonFiniteProbabilityError(model.version, probability);
      const reasons: Reason[] = shap ? coder.reasons(values, shap) : [];
      const explanation: Explanation | null = shap && options.explain ? coder.explanation(shap) : null;
      return {
        id,
        prediction: probability >= model.threshold ? 1 : 0,
        probability,
        threshold: model.threshold,
        modelVersion: model.version,
        featureSnapshot: row.snapshotId,
        reasons,
        ...(options.explain ? { explanation } : {}),
      };
    },
    async warm(): Promise<void> {
      const missing = new Float32Array(width).fill(Number.NaN);
      // TreeSHAP too: its kernel is compiled by the warm-up, not by the first customer's request.
      await Promise.all([model.scoreRows(missing, 1), explainRows?.(missing, 1), featureStore.ping()]);
    },
  };
}
