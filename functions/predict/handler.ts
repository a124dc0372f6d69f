import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { logger, metrics, tracer } from '#functions/commons/powertools.ts';
import { InputError } from '#lib/errors.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { httpErrorFor } from '#lib/serving/http-errors.ts';
import { createPredictor, type Prediction, type ServingModel } from '#lib/serving/predictor.ts';
import { parsePredictRequest } from '#lib/serving/request.ts';
import { isWarmerEvent } from '#lib/serving/warmer.ts';
import { loadServingModelFromDir } from '#lib/serving/model.ts';

/**
 * POST /predict behind an API Gateway REST API (payload 1.0, docs/DECISIONS.md "Serving"), and
 * the scheduled warm-up event. Thin: route, parse, predict, shape; the rules live in lib/serving.
 */
export interface PredictDeps {
  featureStore: FeatureStore;
  clock: Clock;
  model: ServingModel;
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

const PREDICT_RESOURCE = '/predict';

/** Probability bucket label for the score-distribution metric: ten fixed-width bins, low cardinality. */
export function probabilityBucket(p: number): string {
  return BUCKET_LABELS[Math.min(9, Math.max(0, Math.floor(p * 10)))];
}

const BUCKET_LABELS = Array.from(
  { length: 10 },
  (_, lo) => `${(lo / 10).toFixed(1)}-${((lo + 1) / 10).toFixed(1)}`,
);

let coldStart = true;

/**
 * Builds a predict handler over its ports. One per model version: the local server builds one
 * for the champion and one for the canary; AWS builds one per container (`handler` below).
 */
export function createPredictHandler(deps: PredictDeps): PredictHandler {
  const predictor = createPredictor(deps);
  const modelVersion = predictor.modelVersion;

  // Metrics are added and flushed in one synchronous block: the Metrics singleton is shared, and
  // in the local server several requests (and model versions) are in flight at once.
  // One single-metric emitter per handler, reused: `metrics.singleMetric()` builds a new Metrics
  // (a Console, environment reads) on every call, which was a visible share of the per-request CPU
  // (docs/BENCHMARKS.md, Serving). It publishes on each addMetric and then clears its dimensions,
  // so every use sets its dimensions first, all in one synchronous block.
  const single = metrics.singleMetric();
  function recordColdStart(): void {
    if (!coldStart) return;
    coldStart = false;
    single.addDimension('modelVersion', modelVersion);
    single.addMetric('coldStart', MetricUnit.Count, 1);
  }

  function recordPrediction(p: Prediction, latencyMs: number): void {
    metrics.addDimension('modelVersion', modelVersion);
    metrics.addMetric('predictionLatency', MetricUnit.Milliseconds, latencyMs);
    metrics.addMetric('predictions', MetricUnit.Count, 1);
    metrics.addMetric(
      p.prediction === 1 ? 'predictionsPositive' : 'predictionsNegative',
      MetricUnit.Count,
      1,
    );
    // Raw values: CloudWatch percentiles of `probability` give the score quantiles.
    metrics.addMetric('probability', MetricUnit.NoUnit, p.probability);
    metrics.publishStoredMetrics();
    single.addDimension('modelVersion', modelVersion);
    single.addDimension('probabilityBucket', probabilityBucket(p.probability));
    single.addMetric('predictionsByProbabilityBucket', MetricUnit.Count, 1);
  }

  function recordError(code: string, statusCode: number): void {
    single.addDimension('modelVersion', modelVersion);
    single.addDimension('errorCode', code);
    single.addMetric(statusCode >= 500 ? 'serverErrors' : 'clientErrors', MetricUnit.Count, 1);
  }

  function respond(
    statusCode: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): APIGatewayProxyResult {
    return {
      statusCode,
      headers: { 'content-type': 'application/json', 'x-model-version': modelVersion, ...headers },
      body: JSON.stringify(body),
    };
  }

  async function handle(
    event: PredictEvent,
    context: Context,
  ): Promise<APIGatewayProxyResult | WarmerResult> {
    const started = performance.now();
    recordColdStart();
    if (isWarmerEvent(event)) {
      await predictor.warm();
      logger.debug('warmed', { modelVersion });
      return { warmed: true, modelVersion };
    }
    const api = event as Partial<APIGatewayProxyEvent>;
    const requestId = api.requestContext?.requestId ?? context.awsRequestId;
    let customerId: string | undefined;
    try {
      if (typeof api.httpMethod !== 'string') {
        throw new InputError('INVALID_EVENT', 'not an API Gateway request nor a warm-up event');
      }
      const resource = api.resource ?? api.path;
      if (resource !== PREDICT_RESOURCE)
        throw new InputError('NOT_FOUND', `no route ${api.httpMethod} ${api.path}; use POST /predict`);
      if (api.httpMethod !== 'POST') {
        throw new InputError('METHOD_NOT_ALLOWED', `${api.httpMethod} is not allowed on /predict; use POST`);
      }
      customerId = parsePredictRequest(api.body, api.isBase64Encoded === true).id;
      const prediction = await predictor.predict(customerId);
      const latencyMs = performance.now() - started;
      recordPrediction(prediction, latencyMs);
      logger.info('prediction', {
        requestId,
        customerId,
        modelVersion,
        prediction: prediction.prediction,
        probability: prediction.probability,
        latencyMs,
      });
      return respond(200, prediction);
    } catch (e) {
      const answer = httpErrorFor(e);
      const { code } = answer.body.error;
      recordError(code, answer.statusCode);
      if (answer.statusCode >= 500)
        logger.error('failed', { requestId, customerId, modelVersion, code, error: e as Error });
      else
        logger.info('rejected', { requestId, customerId, modelVersion, code, statusCode: answer.statusCode });
      return respond(answer.statusCode, answer.body, answer.headers);
    }
  }

  return middy(handle)
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger)) as unknown as PredictHandler;
}

/**
 * The Lambda entry (the container image's CMD index.handler). The model baked into the image at
 * MODEL_DIR is loaded while the module loads, i.e. in the Lambda init phase, so the ONNX session
 * exists once per container before the first request. The feature store (RDS Data API) comes
 * from the AWS root. Without MODEL_DIR (a test importing this module) nothing is loaded.
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
  });
  return awsHandler(event, context);
};
