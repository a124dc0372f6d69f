import { describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { createPredictHandler, probabilityBucket } from '#functions/predict/handler.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { tracer } from '#functions/commons/powertools.ts';
import { customerRow, MemoryFeatureStore, RecordingModel, stumpModel } from '../../serving/fake-ports.ts';
import { captureJsonLines } from '../../../support/stdout.ts';
import { logPseudonym } from '#lib/privacy/log-pseudonym.ts';

const context = {
  awsRequestId: 'req-1',
  functionName: 'predict',
  getRemainingTimeInMillis: () => 3000,
} as unknown as Context;

function event(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`events/${name}.json`, 'utf8'));
}

function setup() {
  const featureStore = new MemoryFeatureStore();
  const model = new RecordingModel('v-handler');
  const handler = createPredictHandler({ featureStore, clock: fixedClock('2025-01-01'), model });
  const call = async (e: Record<string, unknown>) => (await handler(e, context)) as APIGatewayProxyResult;
  return { featureStore, model, handler, call };
}

describe('predict handler', () => {
  it('events/predict-known.json gets a 200 with the contract body and the model version header', async () => {
    const { call } = setup();
    const res = await call(event('predict-known'));
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({ 'content-type': 'application/json', 'x-model-version': 'v-handler' });
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({
      id: '5008827',
      modelVersion: 'v-handler',
      threshold: 0.5,
      featureSnapshot: 'snap-test',
    });
    expect([0, 1]).toContain(body.prediction);
    expect(body.probability).toBeGreaterThan(0);
  });

  it('events/predict-known.json answers reasons and no explanation', async () => {
    const res = await setup().call(event('predict-known'));
    const body = JSON.parse(res.body);
    expect(body.reasons).toEqual([]);
    expect(body).not.toHaveProperty('explanation');
  });

  it('events/predict-explain.json answers reasons and an explanation that adds up to the probability', async () => {
    // 1 previous loan, no job start, 25 years old: three stumps push toward default.
    const featureStore = new MemoryFeatureStore([
      customerRow({ nbLoans: 1, sumLoanAmount: 50, jobStartDate: null, birthday: '1999-06-01' }),
    ]);
    const handler = createPredictHandler({
      featureStore,
      clock: fixedClock('2025-01-01'),
      model: stumpModel(),
    });
    const res = (await handler(event('predict-explain'), context)) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.reasons.map((r: { feature: string }) => r.feature)).toEqual([
      'nb_previous_loans',
      'years_on_the_job',
      'age',
    ]);
    const { bias, margin, contributions } = body.explanation;
    const sum = Object.values(contributions as Record<string, number>).reduce((s, c) => s + c, bias);
    expect(Math.abs(sum - margin)).toBeLessThan(1e-12);
    expect(Math.abs(1 / (1 + Math.exp(-margin)) - body.probability)).toBeLessThan(1e-6);
  });

  it('events/predict-bad-explain.json ("explain": "yes") gets a 400 INVALID_EXPLAIN', async () => {
    const res = await setup().call(event('predict-bad-explain'));
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body)).toEqual({
      error: { code: 'INVALID_EXPLAIN', message: expect.stringContaining('"explain" must be true or false') },
    });
  });

  it('events/predict-unknown.json gets a 404 UNKNOWN_CUSTOMER', async () => {
    const res = await setup().call(event('predict-unknown'));
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe('UNKNOWN_CUSTOMER');
  });

  it('events/predict-bad-body.json gets a 400 INVALID_JSON', async () => {
    const res = await setup().call(event('predict-bad-body'));
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'INVALID_JSON', message: expect.any(String) } });
  });

  it('events/predict-wrong-method.json gets a 405 with Allow: POST', async () => {
    const res = await setup().call(event('predict-wrong-method'));
    expect(res.statusCode).toBe(405);
    expect(res.headers?.allow).toBe('POST');
    expect(JSON.parse(res.body).error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('another path gets a 404 NOT_FOUND', async () => {
    const res = await setup().call({ ...event('predict-known'), resource: '/score', path: '/score' });
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe('NOT_FOUND');
  });

  it('an event that is neither API Gateway nor a warm-up is refused as a 400, not a crash', async () => {
    const res = await setup().call({ hello: 'world' });
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('INVALID_EVENT');
  });

  it('events/warmer.json touches the model and the store and predicts nothing', async () => {
    const { call, featureStore, model } = setup();
    const res = (await call(event('warmer'))) as unknown as Record<string, unknown>;
    expect(res).toEqual({ warmed: true, modelVersion: 'v-handler' });
    expect(model.calls).toHaveLength(1);
    expect(featureStore.pings).toBe(1);
    expect(featureStore.gets).toBe(0);
  });

  it('an unreachable feature store gives 503 FEATURE_STORE_UNAVAILABLE, and answers again once it is back', async () => {
    const { call, featureStore } = setup();
    featureStore.down = true;
    const down = await call(event('predict-known'));
    expect(down.statusCode).toBe(503);
    expect(JSON.parse(down.body).error.code).toBe('FEATURE_STORE_UNAVAILABLE');
    expect(down.headers?.['retry-after']).toBeDefined();
    featureStore.down = false;
    const back = await call(event('predict-known'));
    expect(back.statusCode).toBe(200);
  });

  it('a model failure is a 500 INTERNAL_ERROR body, never an unhandled rejection', async () => {
    const featureStore = new MemoryFeatureStore();
    const model = new RecordingModel('v-broken', undefined, 0.5, () => {
      throw new Error('onnx exploded');
    });
    const handler = createPredictHandler({ featureStore, clock: fixedClock('2025-01-01'), model });
    const res = (await handler(event('predict-known'), context)) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body).error).toEqual({
      code: 'INTERNAL_ERROR',
      message: expect.not.stringContaining('onnx'),
    });
  });
});

describe('probability buckets', () => {
  it.each([
    [0, '0.0-0.1'],
    [0.05, '0.0-0.1'],
    [0.1, '0.1-0.2'],
    [0.95, '0.9-1.0'],
    [1, '0.9-1.0'],
  ])('%p falls in %s', (p, bucket) => {
    expect(probabilityBucket(p)).toBe(bucket);
  });
});

describe('predict handler telemetry', () => {
  /** Every JSON line fn writes to stdout (EMF metrics and structured logs). */
  const captureStdout = async (fn: () => Promise<unknown>) => (await captureJsonLines(fn)).lines;

  it('a prediction emits latency, count, class and probability metrics with the model version dimension', async () => {
    const { call } = setup();
    const out = await captureStdout(() => call(event('predict-known')));
    const emf = out.filter((o) => o._aws && 'predictions' in o);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      modelVersion: 'v-handler',
      predictions: 1,
      probability: expect.any(Number),
    });
    expect(emf[0].predictionLatency).toBeGreaterThan(0);
    expect(emf[0]._aws.CloudWatchMetrics[0].Namespace).toBe('CreditRisk');
    expect(emf[0]._aws.CloudWatchMetrics[0].Dimensions[0]).toContain('modelVersion');
    expect(out.some((o) => o.probabilityBucket && o.predictionsByProbabilityBucket === 1)).toBe(true);
  });

  it('batched (a long-lived server): nothing until the flush, then counts summed and every latency and probability kept', async () => {
    const featureStore = new MemoryFeatureStore();
    const model = new RecordingModel('v-batch');
    const handler = createPredictHandler({
      featureStore,
      clock: fixedClock('2025-01-01'),
      model,
      metricsBatchMs: 60_000,
    });
    const call = (e: Record<string, unknown>) => handler(e, context);
    const before = await captureStdout(async () => {
      for (let i = 0; i < 3; i++) await call(event('predict-known'));
      await call(event('predict-unknown'));
    });
    expect(before.filter((o) => o._aws)).toEqual([]);
    const out = await captureStdout(async () => handler.flushMetrics());
    const emf = out.filter((o) => o._aws);
    const version = emf.filter((o) => 'predictions' in o);
    expect(version).toHaveLength(1);
    expect(version[0]).toMatchObject({ modelVersion: 'v-batch', predictions: 3 });
    expect(version[0].predictionLatency).toHaveLength(3);
    expect(version[0].probability).toHaveLength(3);
    expect(version[0]._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'modelVersion']]);
    const byBucket = emf.filter((o) => 'predictionsByProbabilityBucket' in o);
    expect(byBucket.reduce((n, o) => n + o.predictionsByProbabilityBucket, 0)).toBe(3);
    expect(emf.find((o) => 'clientErrors' in o)).toMatchObject({
      errorCode: 'UNKNOWN_CUSTOMER',
      clientErrors: 1,
      modelVersion: 'v-batch',
    });
    // A second flush has nothing left to publish (and warns about nothing).
    expect(await captureStdout(async () => handler.flushMetrics())).toEqual([]);
  });

  it('the prediction log line carries request id, a keyed pseudonym of the customer and the model, and no features', async () => {
    const key = 'k'.repeat(40);
    process.env.LOG_ID_KEY = key;
    const { call } = setup();
    delete process.env.LOG_ID_KEY;
    const { logger } = await import('#functions/commons/powertools.ts');
    const info = jest.spyOn(logger, 'info');
    try {
      await call(event('predict-known'));
      const entry = info.mock.calls.find((c) => c[0] === 'prediction');
      expect(entry?.[1]).toMatchObject({
        requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
        customer: logPseudonym('5008827', key),
        model: 'v-handler',
      });
      const text = JSON.stringify(entry);
      for (const leak of ['5008827', '1990-06-15', 'birthday', 'sumLoanAmount', 'age'])
        expect(text).not.toContain(leak);
    } finally {
      info.mockRestore();
    }
  });

  it('without a log key the line names no customer at all', async () => {
    const { call } = setup();
    const { logger } = await import('#functions/commons/powertools.ts');
    const info = jest.spyOn(logger, 'info');
    try {
      await call(event('predict-known'));
      const entry = info.mock.calls.find((c) => c[0] === 'prediction');
      expect(entry?.[1]).toMatchObject({ model: 'v-handler' });
      expect((entry?.[1] as Record<string, unknown>).customer).toBeUndefined();
      expect(JSON.stringify(entry)).not.toContain('5008827');
    } finally {
      info.mockRestore();
    }
  });

  it('a version without an explainer is logged once, when its handler is made, with the reason', async () => {
    const { logger } = await import('#functions/commons/powertools.ts');
    const warn = jest.spyOn(logger, 'warn');
    try {
      const model = Object.assign(new RecordingModel('v-old'), {
        explainerWarning: 'model.onnx names no explainer.json: this version predates explanations',
      });
      const handler = createPredictHandler({
        featureStore: new MemoryFeatureStore(),
        clock: fixedClock('2025-01-01'),
        model,
      });
      for (let i = 0; i < 3; i++) await handler(event('predict-known'), context);
      const warnings = warn.mock.calls.filter((c) => c[0] === 'no explainer: reasons are empty');
      expect(warnings).toHaveLength(1);
      expect(warnings[0][1]).toEqual({ modelVersion: 'v-old', explainerWarning: model.explainerWarning });
      warn.mockClear();
      // A version with an explainer logs nothing of the kind.
      createPredictHandler({
        featureStore: new MemoryFeatureStore(),
        clock: fixedClock('2025-01-01'),
        model: stumpModel(),
      });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'a %p probability is never served: 503 NON_FINITE_PROBABILITY, counted with only the service dimension',
    async (score) => {
      const handler = createPredictHandler({
        featureStore: new MemoryFeatureStore(),
        clock: fixedClock('2025-01-01'),
        model: new RecordingModel('v-nan', undefined, 0.5, () => score),
      });
      const { result, lines } = await captureJsonLines(
        async () => (await handler(event('predict-known'), context)) as APIGatewayProxyResult,
      );
      expect(result.statusCode).toBe(503);
      expect(JSON.parse(result.body)).toEqual({
        error: { code: 'NON_FINITE_PROBABILITY', message: expect.any(String) },
      });
      expect(result.body).not.toContain('probability":');
      const alarmed = lines.find((o) => o._aws && 'nonFiniteProbabilities' in o);
      expect(alarmed).toMatchObject({ nonFiniteProbabilities: 1, handledServerErrors: 1 });
      expect(alarmed!._aws.CloudWatchMetrics[0]).toMatchObject({
        Namespace: 'CreditRisk',
        Dimensions: [['service']],
      });
      expect(lines).toContainEqual(
        expect.objectContaining({
          errorCode: 'NON_FINITE_PROBABILITY',
          serverErrors: 1,
          modelVersion: 'v-nan',
        }),
      );
      expect(lines.some((o) => 'predictions' in o)).toBe(false);
    },
  );

  it('every 5xx answer counts handledServerErrors once; a 4xx does not', async () => {
    const { call, featureStore } = setup();
    featureStore.down = true;
    const down = await captureStdout(() => call(event('predict-known')));
    featureStore.down = false;
    const unknown = await captureStdout(() => call(event('predict-unknown')));
    const handled = (lines: Record<string, any>[]) =>
      lines.filter((o) => o._aws && 'handledServerErrors' in o).map((o) => o.handledServerErrors);
    expect(handled(down)).toEqual([1]);
    expect(handled(unknown)).toEqual([]);
  });

  it('a warm-up emits no prediction metric', async () => {
    const { call } = setup();
    const out = await captureStdout(() => call(event('warmer')));
    expect(out.some((o) => 'predictions' in o || 'predictionLatency' in o)).toBe(false);
  });

  it('an error is counted by its code', async () => {
    const { call } = setup();
    const out = await captureStdout(() => call(event('predict-unknown')));
    expect(out).toContainEqual(
      expect.objectContaining({ errorCode: 'UNKNOWN_CUSTOMER', clientErrors: 1, modelVersion: 'v-handler' }),
    );
    expect(out.some((o) => 'predictions' in o)).toBe(false);
  });
});

describe('predict handler tracing', () => {
  it('is wrapped by middy with the tracer only when tracing is on (Lambda), bare otherwise', () => {
    const deps = {
      featureStore: new MemoryFeatureStore(),
      clock: fixedClock('2025-01-01'),
      model: new RecordingModel('v-t'),
    };
    const traced = jest.spyOn(tracer, 'isTracingEnabled').mockReturnValue(true);
    try {
      expect(typeof (createPredictHandler(deps) as unknown as { use?: unknown }).use).toBe('function');
    } finally {
      traced.mockRestore();
    }
    expect(tracer.isTracingEnabled()).toBe(false);
    expect((createPredictHandler(deps) as unknown as { use?: unknown }).use).toBeUndefined();
  });
});
