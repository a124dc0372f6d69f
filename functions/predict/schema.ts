import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import type { PredictionLog } from '#lib/ports/prediction-log.ts';
import type { ServingModel } from '#lib/serving/predictor.ts';

/**
 * The predict function's ports, its events (API Gateway proxy, payload 1.0, or the warm-up) and
 * its answers. The request body's rules are lib/serving/request.ts's (the API's own errors).
 */
export interface PredictDeps {
  featureStore: FeatureStore;
  clock: Clock;
  model: ServingModel;
  /** Where every served answer is recorded (batched, off the answer's path); none: not recorded. */
  predictionLog?: PredictionLog;
  /**
   * Gather the metrics of many answers and publish them together, at most this many ms after the
   * first (and on the handler's flushMetrics()): for a long-lived server (`credit-risk serve`).
   * Absent: each answer publishes its own, as a Lambda invocation must before it returns.
   */
  metricsBatchMs?: number;
}

export interface WarmerResult {
  warmed: true;
  modelVersion: string;
}

export type PredictEvent = APIGatewayProxyEvent | { warmer: true } | Record<string, unknown>;
export type PredictHandler = (
  event: PredictEvent,
  context: Context,
) => Promise<APIGatewayProxyResult | WarmerResult>;
