import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

/**
 * The local stand-in for the CloudWatch Logs agent: the handler writes EMF metric lines and JSON
 * logs to stdout exactly as in Lambda; `credit-risk serve` diverts them into files under the
 * local home (metrics/predict.emf.jsonl, logs/predict.jsonl) so the terminal stays readable under
 * load and the EMF lines can be summarised later. Anything that is not a JSON line still reaches
 * the terminal. Returns a function that restores stdout and closes the files.
 */
export function divertTelemetry(dirs: { metrics: string; logs: string }, name = 'predict'): () => Promise<void> {
  mkdirSync(dirs.metrics, { recursive: true });
  mkdirSync(dirs.logs, { recursive: true });
  const metrics = createWriteStream(join(dirs.metrics, `${name}.emf.jsonl`), { flags: 'a' });
  const logs = createWriteStream(join(dirs.logs, `${name}.jsonl`), { flags: 'a' });
  const original = process.stdout.write;
  process.stdout.write = function divert(this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    const text = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : undefined;
    if (text !== undefined && text.startsWith('{')) {
      (text.startsWith('{"_aws"') ? metrics : logs).write(text);
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }
    return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  return async () => {
    process.stdout.write = original;
    await Promise.all([metrics, logs].map((s: WriteStream) => new Promise<void>((r) => s.end(r))));
  };
}
