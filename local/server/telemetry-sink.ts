import { closeSync, mkdirSync, openSync, write, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * An append-only file fed with whole lines: each turn of the event loop's lines are joined and
 * written with one `write` system call (at most one write in flight; lines that come meanwhile
 * wait for the next one). Under HTTP load a serve worker emits three lines per request; a
 * WriteStream per line cost its Writable machinery and a thread-pool hop for each (about 5% of a
 * worker's CPU, docs/BENCHMARKS.md, Serving). Bytes and their order are exactly those given.
 */
class LineFile {
  private readonly fd: number;
  private pending: string[] = [];
  private writing = false;
  private scheduled = false;
  private drained: Array<() => void> = [];

  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }

  add(text: string): void {
    this.pending.push(text);
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.writing || this.pending.length === 0) return this.settle();
    const data = Buffer.from(this.pending.length === 1 ? this.pending[0] : this.pending.join(''), 'utf8');
    this.pending = [];
    this.writing = true;
    this.writeAll(data, 0);
  }

  private writeAll(data: Buffer, offset: number): void {
    write(this.fd, data, offset, data.length - offset, null, (error, written) => {
      if (!error && offset + written < data.length) return this.writeAll(data, offset + written);
      // A failed write loses its lines, as a WriteStream error did; the terminal hears about it once.
      if (error) process.stderr.write(`telemetry sink: ${error.message}\n`);
      this.writing = false;
      this.flush();
    });
  }

  private settle(): void {
    if (this.writing || this.pending.length > 0) return;
    for (const d of this.drained.splice(0)) d();
  }

  /** Waits for the write in flight, writes what is left synchronously, closes the file. */
  async close(): Promise<void> {
    if (this.writing) await new Promise<void>((r) => this.drained.push(r));
    if (this.pending.length > 0) writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    closeSync(this.fd);
  }
}

/**
 * The local stand-in for the CloudWatch Logs agent: the handler writes EMF metric lines and JSON
 * logs to stdout exactly as in Lambda; `credit-risk serve` diverts them into files under the
 * local home (metrics/predict.emf.jsonl, logs/predict.jsonl) so the terminal stays readable under
 * load and the EMF lines can be summarised later. Anything that is not a JSON line still reaches
 * the terminal. The files get each line unchanged, in order, at the end of the event loop's turn
 * that emitted it (LineFile). Returns a function that restores stdout and closes the files
 * (everything emitted before it is called is in the files when it resolves).
 */
export function divertTelemetry(dirs: { metrics: string; logs: string }, name = 'predict'): () => Promise<void> {
  mkdirSync(dirs.metrics, { recursive: true });
  mkdirSync(dirs.logs, { recursive: true });
  const metrics = new LineFile(join(dirs.metrics, `${name}.emf.jsonl`));
  const logs = new LineFile(join(dirs.logs, `${name}.jsonl`));
  const original = process.stdout.write;
  process.stdout.write = function divert(this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    const text = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : undefined;
    if (text !== undefined && text.charCodeAt(0) === 123 /* { */) {
      (text.startsWith('{"_aws"') ? metrics : logs).add(text);
      const last = rest.length > 0 ? rest[rest.length - 1] : undefined;
      const callback = typeof last === 'function' ? (last as () => void) : typeof rest[0] === 'function' ? (rest[0] as () => void) : undefined;
      callback?.();
      return true;
    }
    return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  let restored: Promise<void> | undefined;
  return () =>
    (restored ??= (async () => {
      process.stdout.write = original;
      await Promise.all([metrics.close(), logs.close()]);
    })());
}
