import type { RunEvent } from '#lib/pipeline/run-record.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import type { LocalRoot } from '#local/root.ts';
import { startServe, type RunningServe } from '#local/server/serve.ts';
import {
  knownCustomerIds,
  startTraffic,
  type RunningTraffic,
  type TrafficStats,
} from './synthetic-traffic.ts';

/**
 * What a local canary needs to be judged: the local server (`credit-risk serve`, in process,
 * reloading the aliases every 200 ms) and synthetic clients sending it real customer ids, with
 * the predict function's EMF lines collected under home.metrics for the judge to read (the caller
 * diverts stdout there: divertTelemetry). Started as soon as there is a champion to serve
 * (before the run, or when the canary wait begins).
 */
export class CanaryTraffic {
  private serve?: RunningServe;
  private traffic?: RunningTraffic;
  private starting?: Promise<void>;
  ids: string[] = [];

  constructor(
    private readonly root: LocalRoot,
    private readonly options: { modelName?: string; concurrency?: number; log?: (line: string) => void } = {},
  ) {}

  get url(): string | undefined {
    return this.serve?.server.url;
  }

  /** Starts serving and the clients when a champion exists; a no-op otherwise or when running. */
  start(): Promise<void> {
    this.starting ??= this.doStart().catch((e: unknown) => {
      this.starting = undefined;
      throw e;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const modelName = this.options.modelName ?? DEFAULT_MODEL_NAME;
    if (!(await new ModelRegistry(this.root.objectStore, { name: modelName }).aliases()).champion) {
      this.starting = undefined;
      return;
    }
    this.ids = await knownCustomerIds(this.root.featureStore, 200);
    if (this.ids.length === 0) {
      this.starting = undefined;
      return;
    }
    this.serve = await startServe({
      root: this.root,
      featureStore: this.root.featureStore,
      modelName,
      port: 0,
      pollMs: 200,
    });
    this.traffic = startTraffic({
      url: this.serve.server.url,
      ids: this.ids,
      concurrency: this.options.concurrency ?? 4,
    });
    this.options.log?.(
      `synthetic traffic: ${this.options.concurrency ?? 4} clients -> ${this.serve.server.url}/predict with ${this.ids.length} real customer ids`,
    );
  }

  /** Hook for runPipelineLocally's onEvent: the canary watch needs traffic. */
  onEvent = (event: RunEvent): void => {
    if (event.type === 'StateEntered' && event.name === 'WaitForCanaryTraffic') {
      this.start().catch((e: unknown) =>
        this.options.log?.(`synthetic traffic did not start: ${(e as Error).message}`),
      );
    }
  };

  stats(): TrafficStats | undefined {
    return this.traffic?.stats();
  }

  /** Stops the clients first, then the server (it finishes in-flight requests). */
  async stop(): Promise<TrafficStats | undefined> {
    await this.starting?.catch(() => undefined);
    const stats = await this.traffic?.stop();
    await this.serve?.close();
    this.traffic = undefined;
    this.serve = undefined;
    this.starting = undefined;
    return stats;
  }
}
