import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { DEFAULT_MODEL_NAME, shortId } from '#lib/registry/registry.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { isScannable } from '#lib/serving/cached-feature-store.ts';
import { startClusterServe } from '#local/server/cluster.ts';
import { assertCanListen } from '#local/server/http-server.ts';
import { snapshotProcessEnv } from '#local/server/process-env.ts';
import { startServe } from '#local/server/serve.ts';
import { divertTelemetry, rotationFromEnv } from '#local/server/telemetry-sink.ts';

function featureStoreOf(root: LocalRoot): FeatureStore {
  // The local root owns the PGlite store (one instance per data directory per process).
  const store = (root as LocalRoot & { featureStore?: FeatureStore }).featureStore;
  if (!store)
    throw new InputError('NO_FEATURE_STORE', 'the local root has no online feature store configured');
  return store;
}

function portOf(value: string | undefined): number {
  const raw = value ?? process.env.PORT ?? '8080';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InputError('BAD_PORT', `port must be 0-65535, got ${JSON.stringify(raw)}`);
  return port;
}

function workersOf(value: string | undefined): number {
  const raw = value ?? process.env.CREDIT_RISK_SERVE_WORKERS ?? String(availableParallelism());
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new InputError('BAD_WORKERS', `--workers must be an integer 1-256, got ${JSON.stringify(raw)}`);
  return n;
}

export function register(program: Command): void {
  program
    .command('serve')
    .summary('serve POST /predict on localhost: the predict handler, champion and canary')
    .description(
      'serve POST /predict on localhost like API Gateway + the predict Lambda: the same handler, the\n' +
        "registry's champion, and a canary version on its share of the traffic (header x-model-version\n" +
        'says which answered). Alias changes are picked up within a second without dropping requests.\n' +
        'GET /openapi.json serves the API document; GET /healthz checks the feature store and the model\n' +
        '(200, or 503 naming what failed) and says which versions serve. GET /dashboard is the\n' +
        'monitoring page (the same as credit-risk monitor report --out FILE.html).\n' +
        'With --workers N > 1 (default: one per core) N worker processes answer; this process owns\n' +
        'the PGlite store and sends each worker an in-memory copy of the current snapshot.',
    )
    .option(
      '--workers <n>',
      'worker processes (default $CREDIT_RISK_SERVE_WORKERS or one per core; 1: everything in this process)',
    )
    .option('--port <port>', 'TCP port (default $PORT or 8080; 0 picks a free one)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--name <model>', 'registered model name', DEFAULT_MODEL_NAME)
    .option(
      '--logs-to-stdout',
      'keep the handler JSON logs and EMF metrics on stdout instead of files under the local home',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  credit-risk serve\n' +
        '  curl -s localhost:8080/predict -d \'{"id":"5008827"}\'\n' +
        '  PORT=9000 credit-risk serve\n' +
        '  credit-risk serve --workers 1                    # one process, no cluster\n' +
        '  credit-risk models canary VERSION --weight 0.1   # while serving: 10% go to VERSION\n' +
        '\nLogs and metrics go to logs/predict.jsonl and metrics/predict.emf.jsonl under the home; each\n' +
        'file rotates at CREDIT_RISK_LOG_MAX_MB (default 32) into predict.1.jsonl, ..., keeping\n' +
        'CREDIT_RISK_LOG_KEEP rotated files (default 4). Customers appear there only as a keyed\n' +
        'pseudonym (key: keys/log-id.key under the home).\n',
    )
    .action(
      async (options: {
        port?: string;
        host: string;
        name: string;
        logsToStdout?: boolean;
        workers?: string;
      }) => {
        const workers = workersOf(options.workers);
        const port = portOf(options.port);
        // A busy port is one line (error [PORT_IN_USE]) before seconds of store and model loading.
        await assertCanListen(options.host, port);
        rotationFromEnv(); // a bad CREDIT_RISK_LOG_* is exit 2 here, not a failing worker later
        const root = createLocalRoot();
        const featureStore = featureStoreOf(root);
        if (workers > 1 && isScannable(featureStore)) {
          const cluster = await startClusterServe({
            root,
            featureStore,
            modelName: options.name,
            workers,
            port,
            host: options.host,
            logsToStdout: options.logsToStdout,
            log: (line) => console.error(line),
          }).catch(async (e: unknown) => {
            // The open PGlite store would keep this process alive after the error is printed.
            await featureStore.close();
            throw e;
          });
          console.error(
            `listening on ${cluster.url.replace(/\/predict$/, '')}  (${workers} workers ${cluster.workerPids().join(' ')}; POST /predict, GET /openapi.json, GET /healthz, GET /dashboard; Ctrl-C stops)`,
          );
          await new Promise<void>((resolve) => {
            const stop = (signal: string) => {
              console.error(`${signal}: workers finishing requests in flight...`);
              void cluster
                .close()
                .then(() => featureStore.close())
                .then(resolve);
            };
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          });
          return;
        }
        // After the cluster branch: the workers fork with the real environment and snapshot their own.
        snapshotProcessEnv();
        const restore = options.logsToStdout
          ? async () => {}
          : divertTelemetry({ metrics: root.home.metrics, logs: join(root.home.root, 'logs') });
        const describe = (s: {
          champion: string | null;
          canary: { version: string; weight: number } | null;
        }) =>
          `champion ${s.champion ? shortId(s.champion) : '-'}${s.canary ? `, canary ${shortId(s.canary.version)} at ${s.canary.weight}` : ''}`;
        const running = await startServe({
          root,
          featureStore,
          modelName: options.name,
          port,
          host: options.host,
          onReload: (s) => console.error(`serving ${describe(s)}`),
          onReloadError: (e) =>
            console.error(
              `alias reload failed, still serving the previous versions: ${(e as Error).message}`,
            ),
          onFeatureCacheLoad: (c) =>
            console.error(
              `online features: snapshot ${c.snapshotId} in memory (${c.rows} customers, ${Math.round(c.ms)} ms)`,
            ),
          onFeatureCacheError: (e) =>
            console.error(`online feature cache: ${(e as Error).message}; lookups go to the store meanwhile`),
        }).catch(async (e: unknown) => {
          // The open store and the diverted stdout would keep this process alive behind the error.
          await featureStore.close();
          await restore();
          throw e;
        });
        console.error(
          `listening on ${running.server.url}  (POST /predict, GET /openapi.json, GET /healthz, GET /dashboard; Ctrl-C stops)`,
        );
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            console.error(`${signal}: finishing requests in flight...`);
            void running
              .close()
              .then(() => featureStore.close())
              .then(restore)
              .then(resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      },
    );
}
