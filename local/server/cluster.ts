import cluster, { type Worker } from 'node:cluster';
import { resolve } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { CachedFeatureStore, type ScannableFeatureStore } from '#lib/serving/cached-feature-store.ts';
import type { OnlineSnapshotTableData } from '#lib/serving/online-snapshot-table.ts';
import type { LocalRoot } from '#local/root.ts';
import type { ServerLimits } from './http-server.ts';
import { toWire, type ToPrimary, type ToWorker } from './replica-feature-store.ts';
import { noChampionError } from './serve.ts';

/** What the primary tells each worker at fork (env CREDIT_RISK_SERVE_WORKER, JSON). */
export interface ServeWorkerConfig {
  modelName: string;
  port: number;
  host: string;
  pollMs: number;
  featureMaxStaleMs: number;
  logsToStdout: boolean;
  /** Overrides of the HTTP limits (SERVER_LIMITS). */
  limits?: Partial<ServerLimits>;
}

export const SERVE_WORKER_ENV = 'CREDIT_RISK_SERVE_WORKER';
declare global {
  interface ImportMeta {
    /**
     * dist/cli/ when this code runs compiled (scripts/build-cli.mjs writes it in); undefined when it
     * runs from the sources through tsx.
     */
    readonly builtDirname?: string;
  }
}

/** Which code this process runs: the compiled build or the sources (docs/adr/0197-compiled-serve-workers.md). */
export const RUNNING_CODE: 'compiled' | 'sources' =
  import.meta.builtDirname === undefined ? 'sources' : 'compiled';

/**
 * A worker runs the code its primary runs: the compiled entry built beside the CLI's chunks
 * (dist/cli/serve-worker.mjs) when the CLI runs compiled, else the sources through tsx.
 */
const WORKER_ENTRY = resolve(import.meta.builtDirname ?? import.meta.dirname, 'serve-worker.mjs');

/**
 * V8 flags of each worker: a young generation fixed at 64 MiB per semi-space (min and max; by
 * default V8 starts it small and grows it only as objects survive). A request allocates tens of
 * kilobytes and drops them a few milliseconds later; a fixed, larger nursery scavenges about half
 * as often and promotes fewer in-flight requests, which steadies p99 for some RSS per worker. The
 * measurements and what was tried: docs/adr/0026-serve-workers-fixed-young-generation.md. A flag
 * the user already set (command line or NODE_OPTIONS) wins.
 */
function workerExecArgv(): string[] {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (/semi-space-size/.test(given)) return [...process.execArgv];
  return [...process.execArgv, '--min-semi-space-size=64', '--max-semi-space-size=64'];
}

export interface ClusterServeOptions {
  root: LocalRoot;
  /** The store of record, owned by this (primary) process: PGlite locally. */
  featureStore: ScannableFeatureStore;
  modelName: string;
  workers: number;
  port?: number;
  host?: string;
  pollMs?: number;
  featurePollMs?: number;
  featureMaxStaleMs?: number;
  logsToStdout?: boolean;
  /** Overrides of each worker's HTTP limits (local/server/http-server.ts SERVER_LIMITS). */
  limits?: Partial<ServerLimits>;
  /** Progress and incidents (worker replaced, snapshot loaded), one line each. */
  log?: (line: string) => void;
}

export interface RunningCluster {
  readonly url: string;
  readonly port: number;
  /** Process ids of the workers serving right now. */
  workerPids(): number[];
  /** The in-memory copy the primary keeps and replicates. */
  readonly featureCache: CachedFeatureStore;
  /** Resolves when a replacement for a worker that died is listening (tests). */
  onReplaced(listener: (pid: number) => void): void;
  /** Workers stop accepting and finish their in-flight requests, then exit; the copy is dropped (not the store). */
  close(): Promise<void>;
}

/**
 * `credit-risk serve --workers N` (N > 1): node:cluster workers each run the same HTTP server,
 * alias router and predict handler as the one-process serve; the primary accepts connections
 * and hands them out, and owns the one thing that cannot be shared between processes: the PGlite
 * data directory (one instance per directory). It keeps the in-memory copy of the current
 * snapshot (CachedFeatureStore), sends each new copy to every worker as columns over IPC, and
 * forwards each confirmation with its date, so a worker's copy obeys the same staleness bound.
 * Lookups a worker cannot answer from a fresh copy come to the primary's store. Each worker reads
 * the registry's aliases itself (small files under the object store, swapped by rename, readable
 * by any process). A worker that dies is replaced.
 */
export async function startClusterServe(options: ClusterServeOptions): Promise<RunningCluster> {
  const log = options.log ?? (() => undefined);
  const registry = new ModelRegistry(options.root.objectStore, {
    name: options.modelName,
    clock: options.root.clock,
  });
  if (!(await registry.aliases()).champion) throw noChampionError(options.modelName);

  let snapshot: OnlineSnapshotTableData | undefined;
  let confirm: Extract<ToWorker, { t: 'confirm' }> | undefined;
  const workers = new Set<Worker>();
  const send = (w: Worker, m: ToWorker) => {
    // A worker's channel can close between the check and the write (shutdown): the callback takes
    // the EPIPE, which would otherwise be an unhandled 'error' on the primary; that worker is gone.
    if (w.isConnected()) w.send(m, undefined, undefined, () => undefined);
  };
  const pollMs = options.featurePollMs ?? 500;
  const maxStaleMs = options.featureMaxStaleMs ?? Math.max(2_000, pollMs * 4);
  const featureCache = await new CachedFeatureStore(options.featureStore, {
    pollMs,
    maxStaleMs,
    onLoad: (c) =>
      log(
        `online features: snapshot ${c.snapshotId} in memory (${c.rows} customers, ${Math.round(c.ms)} ms), sent to the workers`,
      ),
    onError: (e) => log(`online feature cache: ${(e as Error).message}; lookups go to the store meanwhile`),
    onConfirm: (table, confirmedAt) => {
      if (snapshot?.snapshotId !== table.snapshotId) {
        snapshot = table.toData();
        for (const w of workers) send(w, { t: 'snapshot', data: snapshot });
      }
      confirm = { t: 'confirm', snapshotId: table.snapshotId, confirmedAt };
      for (const w of workers) send(w, confirm);
    },
  }).start();

  const config: ServeWorkerConfig = {
    modelName: options.modelName,
    port: options.port ?? 8080,
    host: options.host ?? '127.0.0.1',
    pollMs: options.pollMs ?? 500,
    featureMaxStaleMs: maxStaleMs,
    logsToStdout: options.logsToStdout ?? false,
    limits: options.limits,
  };
  async function answer(w: Worker, m: Extract<ToPrimary, { t: 'call' }>): Promise<void> {
    try {
      if (m.op === 'get') send(w, { t: 'reply', n: m.n, row: await featureCache.get(m.id ?? '') });
      else if (m.op === 'currentSnapshot')
        send(w, { t: 'reply', n: m.n, snapshotId: await featureCache.currentSnapshot() });
      else {
        await featureCache.ping();
        send(w, { t: 'reply', n: m.n });
      }
    } catch (e) {
      send(w, { t: 'reply', n: m.n, error: toWire(e) });
    }
  }

  let closing = false;
  const replacedListeners: Array<(pid: number) => void> = [];
  let listening: { url: string; port: number } | undefined;

  /** Forks one worker; resolves when it listens, rejects when it fails or dies first. */
  function fork(): Promise<Worker> {
    // The same port as asked, 0 included: the primary shares one listening handle per (host, port
    // as asked), so a replacement asking port 0 gets the very socket the first workers got.
    const w = cluster.fork({ [SERVE_WORKER_ENV]: JSON.stringify(config) });
    const started = Date.now();
    workers.add(w);
    return new Promise<Worker>((resolveFork, rejectFork) => {
      let up = false;
      w.on('message', (m: ToPrimary) => {
        if (m.t === 'call') void answer(w, m);
        else if (m.t === 'hello') {
          if (snapshot) send(w, { t: 'snapshot', data: snapshot });
          if (confirm) send(w, confirm);
        } else if (m.t === 'listening') {
          up = true;
          listening ??= { url: m.url, port: m.port };
          resolveFork(w);
        } else if (m.t === 'failed') {
          // A worker's InputError (PORT_IN_USE from its listen, NO_CHAMPION, ...) stays the
          // caller's mistake here: the CLI prints its one line and exits 2.
          rejectFork(m.code ? new InputError(m.code, m.message) : new Error(m.message));
        }
      });
      w.on('exit', (code, signal) => {
        workers.delete(w);
        if (!up) rejectFork(new Error(`serve worker exited (${signal ?? code}) before listening`));
        if (closing || !up) return;
        // Replaced, after a pause when it died young (a crash loop must not spin the CPU).
        log(`serve worker ${w.process.pid} exited (${signal ?? `code ${code}`}); starting a replacement`);
        const delay = Date.now() - started < 5_000 ? 1_000 : 0;
        setTimeout(() => {
          if (closing) return;
          fork().then(
            (nw) => {
              log(`serve worker ${nw.process.pid} replaced ${w.process.pid}`);
              for (const l of replacedListeners) l(nw.process.pid as number);
            },
            (e: unknown) => log(`replacement serve worker failed: ${(e as Error).message}`),
          );
        }, delay).unref();
      });
    });
  }

  async function stopAll(): Promise<void> {
    closing = true;
    const exits = [...workers].map(
      (w) =>
        new Promise<void>((r) => {
          if (w.isDead()) return r();
          const timer = setTimeout(() => w.process.kill('SIGKILL'), 30_000);
          w.once('exit', () => {
            clearTimeout(timer);
            r();
          });
          send(w, { t: 'shutdown' });
        }),
    );
    await Promise.all(exits);
    await featureCache.close();
  }

  try {
    cluster.setupPrimary({
      exec: WORKER_ENTRY,
      args: [],
      execArgv: workerExecArgv(),
      serialization: 'advanced',
    });
    await Promise.all(Array.from({ length: Math.max(1, options.workers) }, () => fork()));
  } catch (e) {
    // Every worker stopped and the copy's poller gone: nothing keeps the process up behind the error.
    await stopAll();
    throw e;
  }
  const { url, port } = listening as { url: string; port: number };
  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    featureCache,
    workerPids: () => [...workers].filter((w) => !w.isDead()).map((w) => w.process.pid as number),
    onReplaced: (l) => void replacedListeners.push(l),
    close: () => (closed ??= stopAll()),
  };
}
