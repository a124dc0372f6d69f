import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { PredictionLog, PredictionRecord } from '#lib/ports/prediction-log.ts';

/**
 * The PredictionLog contract: local JSON-lines files (read back through the object store, as
 * `monitor predictions` reads them) and Kinesis Data Firehose (read back as the lines of the
 * records PutRecordBatch carried, which Firehose concatenates into the S3 objects). `delivered`
 * answers every record that reached the destination so far, in order.
 */
export interface PredictionLogSubject {
  log: PredictionLog;
  delivered(): Promise<PredictionRecord[]>;
  /**
   * How many records have reached the destination, read without yielding to the event loop, for
   * a destination that can be read so (local files): an adapter that delivers after a short delay
   * (20 ms) could deliver while an asynchronous read is under way on a loaded machine.
   */
  deliveredCountNow?(): number;
  cleanup?(): Promise<void>;
}

export function sampleRecord(i: number, over: Partial<PredictionRecord> = {}): PredictionRecord {
  return {
    requestId: `req-${i}`,
    customerId: String(5008800 + i),
    modelVersion: 'f'.repeat(64),
    snapshotId: 'snap-2026-12-01',
    probability: (i % 97) / 97,
    prediction: i % 97 >= 48 ? 1 : 0,
    threshold: 0.4948,
    reasons: i % 2 === 0 ? ['age', 'nb_previous_loans'] : [],
    // Increasing with i: the local reader orders by time.
    time: new Date(Date.UTC(2026, 11, 6, 10) + i * 7).toISOString(),
    ...over,
  };
}

export function predictionLogContract(open: () => Promise<PredictionLogSubject>): void {
  let subject: PredictionLogSubject;
  beforeAll(async () => {
    subject = await open();
  });
  afterAll(async () => {
    await subject?.log.close();
    await subject?.cleanup?.();
  });

  it('record() returns before a small batch is delivered; flush() delivers it', async () => {
    const records = Array.from({ length: 10 }, (_, i) => sampleRecord(i));
    for (const r of records) expect(subject.log.record(r)).toBeUndefined();
    if (subject.deliveredCountNow) expect(subject.deliveredCountNow()).toBe(0);
    else expect(await subject.delivered()).toEqual([]);
    await subject.log.flush();
    expect(await subject.delivered()).toEqual(records);
    // The synchronous count sees delivered records (so its 0 above meant something).
    if (subject.deliveredCountNow) expect(subject.deliveredCountNow()).toBe(records.length);
  });

  it('many records (several batches) arrive whole and in order, every field intact', async () => {
    const records = Array.from({ length: 1200 }, (_, i) => sampleRecord(10 + i));
    // A null request id and an id with leading zeros survive too.
    records.push(sampleRecord(1210, { requestId: null, customerId: '0012' }));
    for (const r of records) subject.log.record(r);
    await subject.log.flush();
    expect((await subject.delivered()).slice(10)).toEqual(records);
  });

  it('close() delivers what is pending; a record after close is dropped without throwing', async () => {
    const before = (await subject.delivered()).length;
    subject.log.record(sampleRecord(1300));
    await subject.log.close();
    expect(() => subject.log.record(sampleRecord(1301))).not.toThrow();
    expect((await subject.delivered()).slice(before)).toEqual([sampleRecord(1300)]);
  });
}
