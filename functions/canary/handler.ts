import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { Deployer } from '#lib/ports/deployer.ts';
import type { MetricsReader } from '#lib/ports/metrics-reader.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import { parseCanaryEvent } from './schema.ts';
import { runCanaryAction } from './steps.ts';

export { parseCanaryEvent, type CanaryEvent } from './schema.ts';

/**
 * The canary steps of the training state machine (state-machines/training.asl.json): one Lambda,
 * one `action` per state. DeployCanary publishes the rebuilt image as a version and shifts a share
 * of the alias to it; JudgeCanary reads the metrics of both versions and decides; PromoteCanary,
 * RollBackCanary and AbortCanary move the alias and the registry. A schedule sends `expire` every
 * few minutes: a canary past its deadline (its run killed during the watch) goes back to the
 * champion. lib/deploy/canary-steps.ts does the work; ./steps.ts records each outcome.
 */
export interface CanaryDeps {
  deployer: Deployer;
  metrics: MetricsReader;
  /** The registry (MODELS_BUCKET in AWS). */
  modelsStore: ObjectStore;
  clock: Clock;
  env?: Record<string, string | undefined>;
}

const canary = defineHandler({
  parse: parseCanaryEvent,
  run(request, deps: CanaryDeps) {
    const name = request.modelName ?? deps.env?.MODEL_NAME ?? DEFAULT_MODEL_NAME;
    const registry = new ModelRegistry(deps.modelsStore, {
      name,
      clock: deps.clock,
      actor: request.action === 'expire' ? 'schedule:canary-expiry' : 'pipeline:canary',
    });
    return runCanaryAction(request, {
      registry,
      deployer: deps.deployer,
      metrics: deps.metrics,
      clock: deps.clock,
      runId: 'runId' in request ? request.runId : undefined,
    });
  },
});

export const createHandler = canary.create;

/** The Lambda entry: ports from the AWS root, made on the first invocation. */
export const handler = canary.lazy(() => {
  const root = awsRoot();
  return {
    deployer: root.deployer,
    metrics: root.metricsReader,
    modelsStore: root.modelsStore,
    clock: root.clock,
    env: process.env,
  };
});
