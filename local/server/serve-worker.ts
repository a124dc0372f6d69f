import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { isInputError } from '#lib/errors.ts';
import { shortId } from '#lib/registry/registry.ts';
import { createLocalRoot } from '#local/root.ts';
import { RUNNING_CODE, SERVE_WORKER_ENV, type ServeWorkerConfig } from './cluster.ts';
import { ReplicaFeatureStore, type ToPrimary, type ToWorker } from './replica-feature-store.ts';
import { startServe, type RunningServe } from './serve.ts';
import { snapshotProcessEnv } from './process-env.ts';
import { divertTelemetry } from './telemetry-sink.ts';

/**
 * One worker of `credit-risk serve --workers N` (local/server/cluster.ts): the same startServe as
 * the one-process serve (alias router over the registry, predict handler, HTTP server on the
 * shared port), over a ReplicaFeatureStore fed by the primary instead of PGlite, which only the
 * primary may open. Stops on the primary's `shutdown`, on SIGTERM, or when the primary is gone,
 * always finishing the requests in flight. SIGINT (Ctrl-C reaches the whole process group) is left
 * to the primary, which then sends `shutdown`.
 */
export async function runServeWorker(): Promise<void> {
  const config = JSON.parse(process.env[SERVE_WORKER_ENV] ?? 'null') as ServeWorkerConfig | null;
  if (!config || !process.send)
    throw new Error('serve-worker runs only as a credit-risk serve --workers worker');
  snapshotProcessEnv();
  const toPrimary = (m: ToPrimary): boolean => (process.connected ? process.send!(m) : false);
  const root = createLocalRoot(); // its PGlite store is opened on first use: never here
  const store = new ReplicaFeatureStore({ send: toPrimary, maxStaleMs: config.featureMaxStaleMs });
  const tag = `[worker ${process.pid}]`;

  let running: RunningServe | undefined;
  let restore: () => Promise<void> = async () => {};
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await running?.close();
      await restore();
      process.exit(0);
    })());

  process.on('message', (m: ToWorker) => {
    if (store.receive(m)) return;
    if (m.t === 'shutdown') void stop();
  });
  process.on('disconnect', () => {
    store.disconnected();
    void stop();
  });
  process.on('SIGTERM', () => void stop());
  if (process.env.CREDIT_RISK_SERVE_LOOP_STATS) reportLoopStats(tag);
  process.on('SIGINT', () => undefined);
  toPrimary({ t: 'hello' });

  if (!config.logsToStdout)
    restore = divertTelemetry({ metrics: root.home.metrics, logs: join(root.home.root, 'logs') });
  try {
    running = await startServe({
      root,
      featureStore: store,
      modelName: config.modelName,
      port: config.port,
      host: config.host,
      pollMs: config.pollMs,
      cacheFeatures: false,
      // Which code the worker runs: the primary's (the compiled build or the sources, ADR 0197).
      health: { worker: process.pid, code: RUNNING_CODE },
      limits: config.limits,
      onReload: (s) =>
        console.error(
          `${tag} serving champion ${s.champion ? shortId(s.champion) : '-'}${s.canary ? `, canary ${shortId(s.canary.version)} at ${s.canary.weight}` : ''}`,
        ),
      onReloadError: (e) =>
        console.error(
          `${tag} alias reload failed, still serving the previous versions: ${(e as Error).message}`,
        ),
    });
  } catch (e) {
    const failed: ToPrimary = {
      t: 'failed',
      code: isInputError(e) ? e.code : undefined,
      message: (e as Error).message,
    };
    // Exit only once the message is out: the primary reports this failure, not "exited before
    // listening", and turns an InputError (PORT_IN_USE) into the CLI's one-line error.
    await new Promise<void>((resolveSent) => {
      if (!process.connected) return resolveSent();
      try {
        process.send!(failed, undefined, undefined, () => resolveSent());
      } catch {
        resolveSent();
      }
    });
    await restore();
    process.exit(1);
  }
  toPrimary({ t: 'listening', url: running.server.url, port: running.server.port });
}

/**
 * A measurement option (CREDIT_RISK_SERVE_LOOP_STATS=1): on each SIGUSR2, one line on stderr with
 * this worker's event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution: how late a
 * timer fired, i.e. how long the loop was blocked) and its GC pauses by kind (PerformanceObserver 'gc'), so the tail of each worker can be seen apart from the load
 * generator's figures (since the previous SIGUSR2: a bench signals before and after its window).
 * Off by default.
 */
function reportLoopStats(tag: string): void {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const gc = new Map<string, { n: number; ms: number; max: number }>();
  const kinds: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind =
        kinds[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
      const g = gc.get(kind) ?? { n: 0, ms: 0, max: 0 };
      g.n += 1;
      g.ms += e.duration;
      g.max = Math.max(g.max, e.duration);
      gc.set(kind, g);
    }
  }).observe({ entryTypes: ['gc'] });
  const ms = (ns: number) => (ns / 1e6).toFixed(2);
  process.on('SIGUSR2', () => {
    const gcText = [...gc]
      .map(([k, g]) => `${k} ${g.n}x ${g.ms.toFixed(1)} ms (max ${g.max.toFixed(2)})`)
      .join(', ');
    console.error(
      `${tag} loop delay p50 ${ms(delay.percentile(50))} p99 ${ms(delay.percentile(99))} p99.9 ${ms(delay.percentile(99.9))} max ${ms(delay.max)} ms; gc ${gcText || 'none'}`,
    );
    delay.reset();
    gc.clear();
  });
}
