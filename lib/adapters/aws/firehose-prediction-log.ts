import { encodePredictionRecord } from '#lib/monitoring/prediction-log-records.ts';
import type { PredictionLog, PredictionRecord } from '#lib/ports/prediction-log.ts';

/**
 * The PutRecordBatch call this adapter makes, the part of the SDK's aggregated client
 * (`new Firehose({})` of @aws-sdk/client-firehose, which functions/commons/aws-root.ts loads on the
 * first flush) that it uses.
 */
export interface PutRecordBatchInput {
  DeliveryStreamName: string;
  Records: Array<{ Data: Uint8Array }>;
}
export interface PutRecordBatchOutput {
  FailedPutCount?: number;
  RequestResponses?: Array<{ RecordId?: string; ErrorCode?: string; ErrorMessage?: string }>;
}
export interface FirehoseBatchClient {
  putRecordBatch(input: PutRecordBatchInput): Promise<PutRecordBatchOutput>;
}

export interface FirehoseLogOptions {
  /** Records per call; Firehose takes at most 500 (and 4 MiB). */
  maxBatchRecords?: number;
  /** A queued record waits at most this long for companions (ms). */
  maxDelayMs?: number;
  /** Beyond this many queued records, new ones are dropped and counted (Firehose unreachable). */
  maxQueuedRecords?: number;
  /** Attempts for records Firehose refused (throttling), the first included. */
  attempts?: number;
  /** Told of records that could not be delivered (the handler logs them; the answer went out). */
  onError?: (message: string, details: { records: number; error?: unknown }) => void;
}

const MAX_CALL_BYTES = 4 * 1024 * 1024 - 64 * 1024;

/**
 * The AWS prediction log: records queue in memory and leave in PutRecordBatch calls of up to
 * 500 records, at most `maxDelayMs` after the first of them was queued; the request that queued
 * a record never waits for Firehose. Refused records (FailedPutCount) are sent again, then
 * reported. Firehose writes them as JSON lines under predictions-log/date=YYYY-MM-DD/ of the
 * features bucket (infra/resources/outcomes.yml).
 *
 * In Lambda a frozen container runs no timer: what is queued when an invocation ends leaves at the
 * next invocation (or is lost if the container is shut down first: at most `maxDelayMs` of
 * answers; docs/adr/0170-prediction-log-json-lines-by-date.md).
 */
export class FirehosePredictionLog implements PredictionLog {
  private queue: Uint8Array[] = [];
  private queuedSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private closed = false;
  dropped = 0;
  private readonly encoder = new TextEncoder();
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly maxQueued: number;
  private readonly attempts: number;

  constructor(
    private readonly client: FirehoseBatchClient | (() => Promise<FirehoseBatchClient>),
    private readonly streamName: string,
    private readonly options: FirehoseLogOptions = {},
  ) {
    this.maxBatch = Math.min(500, options.maxBatchRecords ?? 500);
    this.maxDelayMs = options.maxDelayMs ?? 1000;
    this.maxQueued = options.maxQueuedRecords ?? 20_000;
    this.attempts = options.attempts ?? 3;
  }

  record(record: PredictionRecord): void {
    if (this.closed || this.queue.length >= this.maxQueued) {
      this.dropped++;
      this.options.onError?.(this.closed ? 'record after close() dropped' : 'queue full: record dropped', {
        records: 1,
      });
      return;
    }
    if (this.queue.length === 0) this.queuedSince = Date.now();
    this.queue.push(this.encoder.encode(encodePredictionRecord(record)));
    if (this.queue.length >= this.maxBatch || Date.now() - this.queuedSince >= this.maxDelayMs) {
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.maxDelayMs);
      this.timer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return this.sending;
    const records = this.queue;
    this.queue = [];
    // One call at a time, in order: a slow Firehose makes the queue grow, not the calls.
    this.sending = this.sending.then(() => this.send(records));
    return this.sending;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async send(records: Uint8Array[]): Promise<void> {
    let i = 0;
    while (i < records.length) {
      const batch: Uint8Array[] = [];
      let bytes = 0;
      while (
        i < records.length &&
        batch.length < this.maxBatch &&
        bytes + records[i].length <= MAX_CALL_BYTES
      ) {
        bytes += records[i].length;
        batch.push(records[i++]);
      }
      if (batch.length === 0) batch.push(records[i++]); // one record over the limit: Firehose says why
      await this.sendBatch(batch);
    }
  }

  private async sendBatch(batch: Uint8Array[]): Promise<void> {
    let pending = batch;
    for (let attempt = 1; attempt <= this.attempts && pending.length > 0; attempt++) {
      try {
        const client = typeof this.client === 'function' ? await this.client() : this.client;
        const out = await client.putRecordBatch({
          DeliveryStreamName: this.streamName,
          Records: pending.map((Data) => ({ Data })),
        });
        if (!out.FailedPutCount) return;
        const responses = out.RequestResponses ?? [];
        pending = pending.filter((_, k) => responses[k]?.ErrorCode !== undefined);
        if (attempt === this.attempts || pending.length === 0) {
          const code = responses.find((r) => r.ErrorCode)?.ErrorCode;
          this.options.onError?.(`Firehose refused ${pending.length} record(s) (${code ?? 'no code'})`, {
            records: pending.length,
          });
          return;
        }
      } catch (error) {
        if (attempt === this.attempts) {
          this.options.onError?.('PutRecordBatch failed', { records: pending.length, error });
          return;
        }
      }
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }
}
