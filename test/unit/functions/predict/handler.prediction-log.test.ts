import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { createPredictHandler } from '#functions/predict/handler.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { PredictionLog, PredictionRecord } from '#lib/ports/prediction-log.ts';
import { customerRow, MemoryFeatureStore, stumpModel } from '../../serving/fake-ports.ts';

const context = { awsRequestId: 'lambda-req', functionName: 'predict' } as unknown as Context;

class RecordingLog implements PredictionLog {
  records: PredictionRecord[] = [];
  record(r: PredictionRecord): void {
    this.records.push(r);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

function apiEvent(body: unknown, requestId?: string): Record<string, unknown> {
  const e = JSON.parse(readFileSync('events/predict-known.json', 'utf8')) as Record<string, unknown>;
  return {
    ...e,
    body: JSON.stringify(body),
    requestContext: requestId ? { requestId } : {},
  };
}

describe('predict handler: the prediction log', () => {
  it('records each 200 answer once, with the fields of the answer, the request id and the time', async () => {
    const log = new RecordingLog();
    const featureStore = new MemoryFeatureStore([
      customerRow({ nbLoans: 1, sumLoanAmount: 50, jobStartDate: null, birthday: '1999-06-01' }),
    ]);
    const handler = createPredictHandler({
      featureStore,
      clock: fixedClock('2025-01-01'),
      model: stumpModel(),
      predictionLog: log,
    });
    const res = (await handler(apiEvent({ id: '5008827' }, 'api-req-9'), context)) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);
    expect(log.records).toEqual([
      {
        requestId: 'api-req-9',
        customerId: '5008827',
        modelVersion: body.modelVersion,
        snapshotId: body.featureSnapshot,
        probability: body.probability,
        prediction: body.prediction,
        threshold: body.threshold,
        reasons: body.reasons.map((r: { feature: string }) => r.feature),
        time: '2025-01-01T12:00:00.000Z',
      },
    ]);
    expect(log.records[0].reasons.length).toBeGreaterThan(0);
  });

  it('records nothing for an answer that is not a prediction (unknown customer, bad body)', async () => {
    const log = new RecordingLog();
    const handler = createPredictHandler({
      featureStore: new MemoryFeatureStore([]),
      clock: fixedClock('2025-01-01'),
      model: stumpModel(),
      predictionLog: log,
    });
    const unknown = (await handler(apiEvent({ id: '1' }), context)) as APIGatewayProxyResult;
    const bad = (await handler(apiEvent({ nope: 1 }), context)) as APIGatewayProxyResult;
    expect([unknown.statusCode, bad.statusCode]).toEqual([404, 400]);
    expect(log.records).toEqual([]);
  });

  it('without a request id in the event, the Lambda request id is recorded', async () => {
    const log = new RecordingLog();
    const handler = createPredictHandler({
      featureStore: new MemoryFeatureStore([customerRow()]),
      clock: fixedClock('2025-01-01'),
      model: stumpModel(),
      predictionLog: log,
    });
    await handler(apiEvent({ id: '5008827' }), context);
    expect(log.records.map((r) => r.requestId)).toEqual(['lambda-req']);
  });
});
