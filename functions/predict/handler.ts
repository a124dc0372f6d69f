import middy from '@middy/core';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { logger, tracer } from '#functions/commons/powertools.ts';
import { loadServingModelFromDir } from '#lib/serving/model.ts';
import { answerPredictRequest, predictionRecord, type ApiRequest } from '#lib/serving/predict-api.ts';
import { createPredictor, type Prediction } from '#lib/serving/predictor.ts';
import { isWarmerEvent } from '#lib/serving/warmer.ts';
import type { PredictDeps, PredictEvent, PredictHandler, WarmerResult } from './schema.ts';
import { powertoolsPredictTelemetry } from './telemetry.ts';

export type { PredictDeps, PredictEvent, PredictHandler, WarmerResult } from './schema.ts';
export { probabilityBucket } from './telemetry.ts';

/**
 * POST /predict behind an API Gateway REST API (payload 1.0, ADR 0009) and the warm-up event. Not
 * made with defineHandler: a proxy answers every error as HTTP (lib/serving/predict-api.ts). One
 * handler per model version: the local server builds one for the champion and one for the canary;
 * AWS builds one per container (`handler` below).
 */
export function createPredictHandler(deps: PredictDeps): PredictHandler & { flushMetrics(): void } {
  const predictor = createPredictor(deps);
  const { modelVersion } = predictor;
  const telemetry = powertoolsPredictTelemetry(modelVersion, {
    explainerWarning: deps.model.explainerWarning,
    metricsBatchMs: deps.metricsBatchMs,
  });
  const { predictionLog, clock } = deps;
  const served = predictionLog
    ? (p: Prediction, requestId: string | undefined) =>
        predictionLog.record(predictionRecord(p, requestId, clock.now()))
    : undefined;
  async function handle(
    event: PredictEvent,
    context: Context,
  ): Promise<APIGatewayProxyResult | WarmerResult> {
    telemetry.coldStart();
    if (!isWarmerEvent(event))
      return answerPredictRequest(event as ApiRequest, predictor, telemetry, context.awsRequestId, served);
    await predictor.warm();
    logger.debug('warmed', { modelVersion });
    return { warmed: true, modelVersion };
  }
  // No injectLambdaContext: it adds six fields (function ARN, name, memory, request id, sampling
  // rate, cold start) to every request's log line; the line carries the request id itself, the
  // log stream names the function, and coldStart is a metric (docs/adr/0188). No middy either when
  // nothing is traced (outside Lambda, or POWERTOOLS_TRACE_ENABLED=false): its request runner was
  // ~1.3% of a serve worker's CPU for a middleware that does nothing then.
  const wrapped = tracer.isTracingEnabled()
    ? (middy(handle).use(captureLambdaHandler(tracer)) as unknown as PredictHandler)
    : handle;
  return Object.assign(wrapped, { flushMetrics: () => telemetry.flush() });
}

/**
 * The Lambda entry (the image's CMD index.handler). The model baked in at MODEL_DIR loads with the
 * module, in the Lambda init phase: one ONNX session per container before the first request.
 * Without MODEL_DIR (a test importing this module) nothing is loaded.
 */
const bakedModel = process.env.MODEL_DIR ? await loadServingModelFromDir(process.env.MODEL_DIR) : undefined;
let awsHandler: PredictHandler | undefined;

export const handler: PredictHandler = (event, context) => {
  if (!bakedModel) {
    throw new Error('MODEL_DIR is not set: the predict image bakes its model into /opt/model (Dockerfile)');
  }
  awsHandler ??= createPredictHandler({
    featureStore: awsRoot().featureStore,
    clock: awsRoot().clock,
    model: bakedModel,
    predictionLog: awsRoot().predictionLog,
  });
  return awsHandler(event, context);
};
