import { InputError } from '#lib/errors.ts';
import { httpErrorFor } from './http-errors.ts';
import type { PredictTelemetry } from '#lib/ports/predict-telemetry.ts';
import type { PredictionRecord } from '#lib/ports/prediction-log.ts';
import type { Prediction, Predictor } from './predictor.ts';

export type { PredictTelemetry } from '#lib/ports/predict-telemetry.ts';
import { parsePredictRequest } from './request.ts';

/**
 * POST /predict as API Gateway (REST API, payload 1.0) hands it to the predict Lambda: route,
 * parse, predict, shape the answer, every error mapped in lib/serving/http-errors.ts. The types
 * below are the fields of APIGatewayProxyEvent / Result this reads and writes, so the domain
 * needs no Lambda types.
 */
export interface ApiRequest {
  httpMethod?: unknown;
  resource?: string | null;
  path?: string;
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext?: { requestId?: string };
}

export interface ApiResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const PREDICT_RESOURCE = '/predict';

/** The prediction log's record of a 200 answer (lib/ports/prediction-log.ts). */
export function predictionRecord(p: Prediction, requestId: string | undefined, at: Date): PredictionRecord {
  return {
    requestId: requestId ?? null,
    customerId: p.id,
    modelVersion: p.modelVersion,
    snapshotId: p.featureSnapshot,
    probability: p.probability,
    prediction: p.prediction,
    threshold: p.threshold,
    reasons: p.reasons.map((r) => r.feature),
    time: at.toISOString(),
  };
}

export async function answerPredictRequest(
  event: ApiRequest,
  predictor: Predictor,
  telemetry: PredictTelemetry,
  fallbackRequestId?: string,
  /** Called with every 200 answer before it is returned: must not block (the prediction log). */
  served?: (prediction: Prediction, requestId: string | undefined) => void,
): Promise<ApiResponse> {
  const started = performance.now();
  const respond = (statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResponse => ({
    statusCode,
    headers: { 'content-type': 'application/json', 'x-model-version': predictor.modelVersion, ...headers },
    body: JSON.stringify(body),
  });
  const requestId = event.requestContext?.requestId ?? fallbackRequestId;
  let customerId: string | undefined;
  try {
    if (typeof event.httpMethod !== 'string') {
      throw new InputError('INVALID_EVENT', 'not an API Gateway request nor a warm-up event');
    }
    const resource = event.resource ?? event.path;
    if (resource !== PREDICT_RESOURCE)
      throw new InputError('NOT_FOUND', `no route ${event.httpMethod} ${event.path}; use POST /predict`);
    if (event.httpMethod !== 'POST') {
      throw new InputError('METHOD_NOT_ALLOWED', `${event.httpMethod} is not allowed on /predict; use POST`);
    }
    const request = parsePredictRequest(event.body, event.isBase64Encoded === true);
    customerId = request.id;
    const prediction = await predictor.predict(customerId, { explain: request.explain === true });
    telemetry.prediction(prediction, performance.now() - started, { requestId, customerId });
    served?.(prediction, requestId);
    return respond(200, prediction);
  } catch (e) {
    const answer = httpErrorFor(e);
    telemetry.rejected(
      { code: answer.body.error.code, statusCode: answer.statusCode },
      { requestId, customerId },
      e,
    );
    return respond(answer.statusCode, answer.body, answer.headers);
  }
}
