import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * An append-only file fed with whole lines, written in batches: the lines wait in memory until
 * 64 KiB have gathered or 20 ms have passed since the first of them, then go out in one
 * synchronous `write` (to the page cache: tens of microseconds for 64 KiB). Under HTTP load a serve
 * worker emits three lines per request; a WriteStream write per line, and then an asynchronous
 * write per event-loop turn, cost a thread-pool hand-off each (5-7% of a worker's CPU in a
 * profile, docs/BENCHMARKS.md, Serving); this costs a few writes a second. Bytes and their order
 * are exactly those given; a line reaches the file at most 20 ms after it was emitted (the local
 * canary judge reads the files over windows of seconds), and everything is in the file when
 * close() returns.
 */
export class LineFile {
  static readonly MAX_PENDING_BYTES = 64 * 1024;
  static readonly MAX_DELAY_MS = 20;
  private readonly fd: number;
  private pending: string[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;

  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }

  add(text: string): void {
    this.pending.push(text);
    this.pendingChars += text.length;
    if (this.pendingChars >= LineFile.MAX_PENDING_BYTES) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), LineFile.MAX_DELAY_MS);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    try {
      writeSync(this.fd, text);
    } catch (e) {
      // The lines are lost, as with a WriteStream error; the terminal hears about it once.
      if (!this.failed) process.stderr.write(`telemetry sink: ${(e as Error).message}\n`);
      this.failed = true;
    }
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/**
 * The local stand-in for the CloudWatch Logs agent: the handler writes EMF metric lines and JSON
 * logs to stdout exactly as in Lambda; `credit-risk serve` diverts them into files under the
 * local home (metrics/predict.emf.jsonl, logs/predict.jsonl) so the terminal stays readable under
 * load and the EMF lines can be summarised later. Anything that is not a JSON line still reaches
 * the terminal. The files get each line unchanged and in order, in batches (LineFile); what is
 * still pending when the process exits is written on exit. Returns a function that restores
 * stdout and closes the files (everything emitted before it is called is in the files then).
 */
export function divertTelemetry(
  dirs: { metrics: string; logs: string },
  name = 'predict',
): () => Promise<void> {
  mkdirSync(dirs.metrics, { recursive: true });
  mkdirSync(dirs.logs, { recursive: true });
  const metrics = new LineFile(join(dirs.metrics, `${name}.emf.jsonl`));
  const logs = new LineFile(join(dirs.logs, `${name}.jsonl`));
  const original = process.stdout.write;
  const flushOnExit = () => {
    metrics.flush();
    logs.flush();
  };
  process.once('exit', flushOnExit);
  process.stdout.write = function divert(
    this: NodeJS.WriteStream,
    chunk: unknown,
    ...rest: unknown[]
  ): boolean {
    const text =
      typeof chunk === 'string'
        ? chunk
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk).toString('utf8')
          : undefined;
    if (text !== undefined && text.charCodeAt(0) === 123 /* { */) {
      (text.startsWith('{"_aws"') ? metrics : logs).add(text);
      // write(chunk[, encoding][, callback]): a callback is always the last argument.
      const callback = rest.at(-1);
      if (typeof callback === 'function') (callback as () => void)();
      return true;
    }
    return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  let restored: Promise<void> | undefined;
  return () =>
    (restored ??= (async () => {
      process.stdout.write = original;
      process.off('exit', flushOnExit);
      metrics.close();
      logs.close();
    })());
}
