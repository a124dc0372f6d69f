import { join } from 'node:path';
import { isInputError } from '#lib/errors.ts';
import { shortId } from '#lib/registry/registry.ts';
import { createLocalRoot } from '#local/root.ts';
import { SERVE_WORKER_ENV, type ServeWorkerConfig } from './cluster.ts';
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
  if (!config || !process.send) throw new Error('serve-worker runs only as a credit-risk serve --workers worker');
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
  process.on('SIGINT', () => undefined);
  toPrimary({ t: 'hello' });

  if (!config.logsToStdout) restore = divertTelemetry({ metrics: root.home.metrics, logs: join(root.home.root, 'logs') });
  try {
    running = await startServe({
      root,
      featureStore: store,
      modelName: config.modelName,
      port: config.port,
      host: config.host,
      pollMs: config.pollMs,
      cacheFeatures: false,
      health: { worker: process.pid },
      onReload: (s) =>
        console.error(
          `${tag} serving champion ${s.champion ? shortId(s.champion) : '-'}${s.canary ? `, canary ${shortId(s.canary.version)} at ${s.canary.weight}` : ''}`,
        ),
      onReloadError: (e) => console.error(`${tag} alias reload failed, still serving the previous versions: ${(e as Error).message}`),
    });
  } catch (e) {
    toPrimary({ t: 'failed', code: isInputError(e) ? e.code : undefined, message: (e as Error).message });
    await restore();
    process.exit(1);
  }
  toPrimary({ t: 'listening', url: running.server.url, port: running.server.port });
}
