import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';

/**
 * Size-capped rotation of a local log (docs/adr/0187-local-log-rotation.md): when the file
 * reaches `maxBytes` it becomes `<name>.1.jsonl`, the older ones shift up (`.2`, ...), and the
 * oldest beyond `keep` rotated files is deleted. So one stream takes at most about
 * (keep + 1) x maxBytes on disk. Rotated names still end in `.jsonl`: the readers that take every
 * `*.jsonl` of a directory (the local canary judge's EMF reader, `data erase`) read them too.
 */
export interface RotationPolicy {
  maxBytes: number;
  /** Rotated files kept besides the live one (>= 1). */
  keep: number;
}

export const DEFAULT_ROTATION: RotationPolicy = { maxBytes: 32 * 1024 * 1024, keep: 4 };

/** CREDIT_RISK_LOG_MAX_MB (default 32) and CREDIT_RISK_LOG_KEEP (default 4). */
export function rotationFromEnv(env: Record<string, string | undefined> = process.env): RotationPolicy {
  const read = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min)
      throw new InputError(
        'BAD_LOG_ROTATION',
        `${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`,
      );
    return n;
  };
  return {
    maxBytes: Math.round(
      read('CREDIT_RISK_LOG_MAX_MB', DEFAULT_ROTATION.maxBytes / 1024 / 1024, 0.001) * 1024 * 1024,
    ),
    keep: Math.floor(read('CREDIT_RISK_LOG_KEEP', DEFAULT_ROTATION.keep, 1)),
  };
}

/** `predict.jsonl` -> `predict.<n>.jsonl`, `predict.emf.jsonl` -> `predict.emf.<n>.jsonl`. */
export function rotatedName(path: string, n: number): string {
  return path.endsWith('.jsonl') ? `${path.slice(0, -'.jsonl'.length)}.${n}.jsonl` : `${path}.${n}`;
}

/** How often a writer checks whether another process rotated its file (then it reopens). */
const REOPEN_CHECK_MS = 1000;

/**
 * An append-only file fed with whole lines, written in batches: the lines wait in memory until
 * 64 KiB have gathered or 20 ms have passed since the first of them, then go out in one
 * synchronous `write` (to the page cache: tens of microseconds for 64 KiB). Under HTTP load a serve
 * worker emits several lines per request; a WriteStream write per line, or an asynchronous write
 * per event-loop turn, costs a thread-pool hand-off each (a visible share of a worker's CPU:
 * docs/adr/0024-batched-local-telemetry-sink.md); this costs a few writes a second. Bytes and their order
 * are exactly those given; a line reaches the file at most 20 ms after it was emitted (the local
 * canary judge reads the files over windows of seconds), and everything is in the file when
 * close() returns.
 */
export class LineFile {
  static readonly MAX_PENDING_BYTES = 64 * 1024;
  static readonly MAX_DELAY_MS = 20;
  private fd: number;
  private size: number;
  private checkedAt = Date.now();
  private pending: string[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly rotation: RotationPolicy | null = null,
  ) {
    this.fd = openSync(path, 'a');
    this.size = fstatSync(this.fd).size;
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
      if (this.rotation) this.reopenIfRotated();
      this.size += writeSync(this.fd, text);
      if (this.rotation && this.size >= this.rotation.maxBytes) this.rotate(this.rotation);
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

  /**
   * Several processes append to one file (serve's workers): the one that sees it full rotates it,
   * under a lock file naming its pid (a lock whose process is gone is taken over); the others
   * notice within REOPEN_CHECK_MS that the path is a new file and reopen it. Lines written in
   * between go to the file just rotated: still kept, still in order within each writer.
   */
  private rotate(policy: RotationPolicy): void {
    const lock = `${this.path}.rotate-lock`;
    if (!takeLock(lock)) return;
    try {
      const current = statSync(this.path, { throwIfNoEntry: false });
      if (current && current.ino === fstatSync(this.fd).ino) {
        rmSync(rotatedName(this.path, policy.keep), { force: true });
        for (let n = policy.keep - 1; n >= 1; n--) {
          const from = rotatedName(this.path, n);
          if (existsSync(from)) renameSync(from, rotatedName(this.path, n + 1));
        }
        renameSync(this.path, rotatedName(this.path, 1));
      }
      this.reopen();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  private reopenIfRotated(): void {
    const now = Date.now();
    if (now - this.checkedAt < REOPEN_CHECK_MS) return;
    this.checkedAt = now;
    const current = statSync(this.path, { throwIfNoEntry: false });
    if (!current || current.ino !== fstatSync(this.fd).ino) this.reopen();
  }

  private reopen(): void {
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
    this.size = fstatSync(this.fd).size;
    this.checkedAt = Date.now();
  }
}

function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const text = readFileSync(lock, 'utf8');
      // Empty: its holder has created it and not yet written its pid.
      if (text === '' || processExists(Number(text))) return false;
      // Its holder was killed mid-rotation: take the lock over (once).
      rmSync(lock, { force: true });
    }
  }
  return false;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * The local stand-in for the CloudWatch Logs agent: the handler writes EMF metric lines and JSON
 * logs to stdout exactly as in Lambda; `credit-risk serve` diverts them into files under the
 * local home (metrics/predict.emf.jsonl, logs/predict.jsonl) so the terminal stays readable under
 * load and the EMF lines can be summarised later. Anything that is not a JSON line still reaches
 * the terminal. The files get each line unchanged and in order, in batches (LineFile); what is
 * still pending when the process exits is written on exit. Each file rotates by size
 * (RotationPolicy: CREDIT_RISK_LOG_MAX_MB, CREDIT_RISK_LOG_KEEP). Returns a function that restores
 * stdout and closes the files (everything emitted before it is called is in the files then).
 */
export function divertTelemetry(
  dirs: { metrics: string; logs: string },
  name = 'predict',
  rotation: RotationPolicy = rotationFromEnv(),
): () => Promise<void> {
  mkdirSync(dirs.metrics, { recursive: true });
  mkdirSync(dirs.logs, { recursive: true });
  const metrics = new LineFile(join(dirs.metrics, `${name}.emf.jsonl`), rotation);
  const logs = new LineFile(join(dirs.logs, `${name}.jsonl`), rotation);
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
