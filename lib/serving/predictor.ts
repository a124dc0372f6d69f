import { InputError } from '#lib/errors.ts';
import { ONLINE_FEATURE_NAMES, onlineFeatureVector, type OnlineFeatureName } from '#lib/features/online.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';

/**
 * What serving needs from a trained model: its version, the feature order of its input tensor,
 * its decision threshold, and a batch scorer. lib/serving/model.ts builds one from a model
 * directory (model.onnx + card.json); tests may pass any implementation.
 */
export interface ServingModel {
  readonly version: string;
  /** Column order of the [rows, features] input; NaN means missing. */
  readonly featureNames: readonly string[];
  /** prediction = 1 when probability >= threshold. */
  readonly threshold: number;
  /** Probability of class 1 for each of `rows` rows of `features` (row-major). */
  scoreRows(features: Float32Array, rows: number): Promise<Float32Array>;
}

/** The 200 body of POST /predict (docs/DESIGN.md, "Contracts"). */
export interface Prediction {
  id: string;
  prediction: 0 | 1;
  probability: number;
  threshold: number;
  modelVersion: string;
  featureSnapshot: string;
}

export interface PredictorDeps {
  featureStore: FeatureStore;
  clock: Clock;
  model: ServingModel;
}

export interface Predictor {
  readonly modelVersion: string;
  /** Scores customer `id` with today's online features; InputError UNKNOWN_CUSTOMER when absent. */
  predict(id: string): Promise<Prediction>;
  /** Touches the model (one scoring run) and the feature store (a ping) without predicting. */
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

export function createPredictor({ featureStore, clock, model }: PredictorDeps): Predictor {
  const order = onlineFeatureOrder(model.featureNames);
  const width = order.length;
  return {
    modelVersion: model.version,
    async predict(id: string): Promise<Prediction> {
      const row = await featureStore.get(id);
      if (!row)
        throw new InputError('UNKNOWN_CUSTOMER', `no customer with id ${id} in the online feature store`, {
          id,
        });
      const vector = onlineFeatureVector(row, clock.today());
      // A fresh buffer per request: scoring is asynchronous and requests overlap.
      const input = new Float32Array(width);
      for (let i = 0; i < width; i++) input[i] = vector[order[i]] ?? Number.NaN;
      const probability = (await model.scoreRows(input, 1))[0];
      return {
        id,
        prediction: probability >= model.threshold ? 1 : 0,
        probability,
        threshold: model.threshold,
        modelVersion: model.version,
        featureSnapshot: row.snapshotId,
      };
    },
    async warm(): Promise<void> {
      await Promise.all([model.scoreRows(new Float32Array(width).fill(Number.NaN), 1), featureStore.ping()]);
    },
  };
}
