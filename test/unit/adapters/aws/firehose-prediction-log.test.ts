import { describe, expect, it } from '@jest/globals';
import {
  FirehosePredictionLog,
  type FirehoseBatchClient,
  type PutRecordBatchInput,
  type PutRecordBatchOutput,
} from '#lib/adapters/aws/firehose-prediction-log.ts';
import { encodePredictionRecord, parsePredictionLine } from '#lib/monitoring/prediction-log-records.ts';
import type { PredictionRecord } from '#lib/ports/prediction-log.ts';
import { predictionLogContract, sampleRecord } from '../../../contracts/prediction-log.contract.ts';

/**
 * @aws-sdk/client-firehose is not installed (so no aws-sdk-client-mock of it): the adapter is
 * written against the aggregated client's putRecordBatch, and this stand-in records each exact
 * request and answers what Firehose would.
 */
class RecordingFirehose implements FirehoseBatchClient {
  calls: PutRecordBatchInput[] = [];
  answers: Array<(input: PutRecordBatchInput) => PutRecordBatchOutput> = [];
  async putRecordBatch(input: PutRecordBatchInput): Promise<PutRecordBatchOutput> {
    // A copy: the adapter must not reuse what it sent.
    this.calls.push({ ...input, Records: input.Records.map((r) => ({ Data: new Uint8Array(r.Data) })) });
    const answer = this.answers.shift();
    return answer
      ? answer(input)
      : { FailedPutCount: 0, RequestResponses: input.Records.map(() => ({ RecordId: 'x' })) };
  }
  /** Firehose's S3 object: the records' bytes concatenated. */
  lines(): PredictionRecord[] {
    const text = this.calls.flatMap((c) => c.Records.map((r) => new TextDecoder().decode(r.Data))).join('');
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => parsePredictionLine(l) as PredictionRecord);
  }
}

describe('PredictionLog contract: Firehose PutRecordBatch', () => {
  const firehose = new RecordingFirehose();
  predictionLogContract(async () => ({
    log: new FirehosePredictionLog(firehose, 'credit-risk-test-prediction-log'),
    delivered: async () => firehose.lines(),
  }));
});

describe('FirehosePredictionLog', () => {
  it('sends the exact request: the stream, one record per answer, each the JSON line with its newline', async () => {
    const firehose = new RecordingFirehose();
    const log = new FirehosePredictionLog(firehose, 'credit-risk-dev-prediction-log');
    log.record(sampleRecord(1));
    log.record(sampleRecord(2));
    await log.flush();
    expect(firehose.calls).toEqual([
      {
        DeliveryStreamName: 'credit-risk-dev-prediction-log',
        Records: [
          { Data: new TextEncoder().encode(encodePredictionRecord(sampleRecord(1))) },
          { Data: new TextEncoder().encode(encodePredictionRecord(sampleRecord(2))) },
        ],
      },
    ]);
    expect(new TextDecoder().decode(firehose.calls[0].Records[0].Data).endsWith('}\n')).toBe(true);
  });

  it('at most 500 records per call (the PutRecordBatch limit)', async () => {
    const firehose = new RecordingFirehose();
    const log = new FirehosePredictionLog(firehose, 's');
    for (let i = 0; i < 1200; i++) log.record(sampleRecord(i));
    await log.flush();
    expect(firehose.calls.map((c) => c.Records.length)).toEqual([500, 500, 200]);
    expect(firehose.lines()).toHaveLength(1200);
  });

  it('sends again only the records Firehose refused, then reports what stays refused', async () => {
    const firehose = new RecordingFirehose();
    const refuse =
      (bad: number[]) =>
      (input: PutRecordBatchInput): PutRecordBatchOutput => ({
        FailedPutCount: bad.length,
        RequestResponses: input.Records.map((_, k) =>
          bad.includes(k)
            ? { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'slow down' }
            : { RecordId: 'x' },
        ),
      });
    firehose.answers.push(refuse([1, 2]), refuse([0]), refuse([0]));
    const errors: Array<[string, number]> = [];
    const log = new FirehosePredictionLog(firehose, 's', {
      onError: (message, d) => errors.push([message, d.records]),
    });
    for (let i = 0; i < 4; i++) log.record(sampleRecord(i));
    await log.flush();
    expect(firehose.calls.map((c) => c.Records.length)).toEqual([4, 2, 1]);
    // The second call carried records 1 and 2; the third, record 1 again.
    expect(
      firehose.calls[1].Records.map((r) => parsePredictionLine(new TextDecoder().decode(r.Data))),
    ).toEqual([sampleRecord(1), sampleRecord(2)]);
    expect(errors).toEqual([['Firehose refused 1 record(s) (ServiceUnavailableException)', 1]]);
  });

  it('a failing call never reaches the caller: reported, and the next records still go', async () => {
    let fail = true;
    const sent: number[] = [];
    const client: FirehoseBatchClient = {
      async putRecordBatch(input) {
        if (fail) throw new Error('network down');
        sent.push(input.Records.length);
        return { FailedPutCount: 0 };
      },
    };
    const errors: string[] = [];
    const log = new FirehosePredictionLog(client, 's', { attempts: 2, onError: (m) => errors.push(m) });
    log.record(sampleRecord(1));
    await expect(log.flush()).resolves.toBeUndefined();
    expect(errors).toEqual(['PutRecordBatch failed']);
    fail = false;
    log.record(sampleRecord(2));
    await log.flush();
    expect(sent).toEqual([1]);
  });

  it('a full queue drops and counts instead of growing without bound', async () => {
    const firehose = new RecordingFirehose();
    const log = new FirehosePredictionLog(firehose, 's', { maxQueuedRecords: 3, maxBatchRecords: 500 });
    for (let i = 0; i < 5; i++) log.record(sampleRecord(i));
    expect(log.dropped).toBe(2);
    await log.flush();
    expect(firehose.lines()).toEqual([0, 1, 2].map((i) => sampleRecord(i)));
  });
});
