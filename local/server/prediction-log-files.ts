import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  decisionDate,
  encodePredictionRecord,
  predictionLogFolder,
} from '#lib/monitoring/prediction-log-records.ts';
import type { PredictionLog, PredictionRecord } from '#lib/ports/prediction-log.ts';
import { LineFile } from './telemetry-sink.ts';

/**
 * The local prediction log: each serving process appends its records to
 * `<store>/predictions-log/date=YYYY-MM-DD/<pid>.jsonl` (the object store's key layout, so
 * `credit-risk data retention` and `data erase` already cover it), batched by LineFile: a record
 * costs a JSON.stringify and an array push on the request's path, the write happens at most 20 ms
 * later in one synchronous append for everything gathered. One file per process: no two writers
 * ever share a file, so lines never interleave.
 */
export class PredictionLogFiles implements PredictionLog {
  private readonly files = new Map<string, LineFile>();
  private closed = false;
  private warned = false;

  constructor(
    private readonly storeDir: string,
    private readonly name = String(process.pid),
  ) {}

  record(record: PredictionRecord): void {
    if (this.closed) {
      this.warn('a record after close() was dropped');
      return;
    }
    try {
      const date = decisionDate(record);
      let file = this.files.get(date);
      if (!file) {
        // A new day: yesterday's file will get no more lines.
        for (const [d, f] of this.files) {
          f.close();
          this.files.delete(d);
        }
        const dir = join(this.storeDir, predictionLogFolder(date));
        mkdirSync(dir, { recursive: true });
        file = new LineFile(join(dir, `${this.name}.jsonl`));
        this.files.set(date, file);
      }
      file.add(encodePredictionRecord(record));
    } catch (e) {
      this.warn((e as Error).message);
    }
  }

  async flush(): Promise<void> {
    for (const f of this.files.values()) f.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }

  private warn(message: string): void {
    if (this.warned) return;
    this.warned = true;
    process.stderr.write(`prediction log: ${message}\n`);
  }
}
