import type { Prediction } from '#lib/serving/predictor.ts';

/**
 * What each /predict answer tells the outside world: metrics and logs (Powertools in Lambda and in
 * `credit-risk serve`: functions/predict/telemetry.ts), one call per answer, never blocking it.
 */
export interface PredictTelemetry {
  prediction(p: Prediction, latencyMs: number, request: { requestId?: string; customerId: string }): void;
  rejected(
    answer: { code: string; statusCode: number },
    request: { requestId?: string; customerId?: string },
    error: unknown,
  ): void;
}
