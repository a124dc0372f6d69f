import { InputError } from '#lib/errors.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { Deployer } from '#lib/ports/deployer.ts';
import type { MetricsReader, VersionTraffic } from '#lib/ports/metrics-reader.ts';
import type { ModelRegistry } from '#lib/registry/registry.ts';
import { canaryThresholds, judgeCanary, type CanaryVerdict } from './canary-judge.ts';

/**
 * The alias and metric steps of the training state machine, one function per `action` of the
 * canary Lambda. Two records move together and in this order: the serving alias (Deployer: what
 * actually answers requests) first, then the registry's aliases (what the system says answers),
 * so a crash between the two is repaired by `abort`, which re-points the alias at what the
 * registry calls champion. Each step is idempotent: the state machine may retry any of them.
 */
export interface CanarySteps {
  registry: ModelRegistry;
  deployer: Deployer;
  metrics: MetricsReader;
  clock: Clock;
  runId?: string;
}

/** What DeployCanary hands to the later steps (it travels in the execution state). */
export interface Deployment {
  status: 'canary' | 'first-model' | 'already-champion';
  modelName: string;
  modelVersion: string;
  championVersion: string | null;
  functionVersion: string | null;
  championFunctionVersion: string | null;
  weight: number;
  deployedAt: string;
}

export interface Judgement extends CanaryVerdict {
  window: { start: string; end: string };
  canary: VersionTraffic;
  champion: VersionTraffic;
}

/** The build's IMAGE_URI (AWS) or build directory (local), from CodeBuild's exported variables. */
export function artifactOf(exported: readonly { Name: string; Value: string }[]): string {
  const uri = exported.find((v) => v.Name === 'IMAGE_URI')?.Value;
  if (!uri) {
    throw new InputError(
      'NO_IMAGE_URI',
      `the build exported no IMAGE_URI (it exported: ${exported.map((v) => v.Name).join(', ') || 'nothing'})`,
    );
  }
  return uri;
}

export async function deployCanary(
  steps: CanarySteps,
  request: {
    modelVersion: string;
    build: { buildId: string; exported: { Name: string; Value: string }[] };
    weight: number;
  },
): Promise<Deployment> {
  const { registry, deployer } = steps;
  if (!(request.weight > 0 && request.weight < 1)) {
    throw new InputError('BAD_CANARY_WEIGHT', `canary weight must be in (0, 1), got ${request.weight}`);
  }
  const aliases = await registry.aliases();
  const base = {
    modelName: registry.name,
    modelVersion: request.modelVersion,
    championVersion: aliases.champion,
    weight: request.weight,
    deployedAt: steps.clock.now().toISOString(),
  };
  if (aliases.champion === request.modelVersion) {
    return { ...base, status: 'already-champion', functionVersion: null, championFunctionVersion: null };
  }
  const published = await deployer.publish({
    modelVersion: request.modelVersion,
    artifact: artifactOf(request.build.exported),
    buildId: request.build.buildId,
  });
  const why = steps.runId ? `training run ${steps.runId}` : 'training pipeline';
  const routing = await deployer.routing();
  if (!aliases.champion) {
    // Nothing to compare a canary with: the first model serves alone from the start.
    await deployer.route({ functionVersion: published.functionVersion, canary: null });
    await registry.promote(request.modelVersion, { why: `first model, promoted without a canary (${why})` });
    return {
      ...base,
      status: 'first-model',
      functionVersion: published.functionVersion,
      championFunctionVersion: null,
    };
  }
  if (!routing) {
    throw new Error(
      `the serving alias has no version while the registry's champion is ${aliases.champion}: deploy the serving function first`,
    );
  }
  await deployer.route({
    functionVersion: routing.functionVersion,
    canary: { functionVersion: published.functionVersion, weight: request.weight },
  });
  await registry.setCanary(request.modelVersion, request.weight, {
    why: `canary at ${request.weight} (${why})`,
  });
  return {
    ...base,
    status: 'canary',
    functionVersion: published.functionVersion,
    championFunctionVersion: routing.functionVersion,
  };
}

export async function judge(
  steps: CanarySteps,
  request: { deployment: Deployment; thresholds?: Record<string, unknown> },
): Promise<Judgement> {
  const { deployment } = request;
  if (deployment.status !== 'canary' || !deployment.championVersion) {
    throw new InputError(
      'NOT_A_CANARY',
      `deployment of ${deployment.modelVersion} is ${deployment.status}, there is no canary to judge`,
    );
  }
  const window = { start: new Date(deployment.deployedAt), end: steps.clock.now() };
  const [canary, champion] = await Promise.all([
    steps.metrics.traffic(deployment.modelVersion, window),
    steps.metrics.traffic(deployment.championVersion, window),
  ]);
  const verdict = judgeCanary(canary, champion, canaryThresholds(request.thresholds ?? {}));
  return {
    ...verdict,
    window: { start: window.start.toISOString(), end: window.end.toISOString() },
    canary,
    champion,
  };
}

export async function promoteCanary(steps: CanarySteps, request: { deployment: Deployment }): Promise<void> {
  const { deployment } = request;
  if (!deployment.functionVersion)
    throw new InputError('NOT_A_CANARY', `nothing was deployed for ${deployment.modelVersion}`);
  await steps.deployer.route({ functionVersion: deployment.functionVersion, canary: null });
  await steps.registry.promote(deployment.modelVersion, {
    why: `canary passed its watch${steps.runId ? ` (training run ${steps.runId})` : ''}`,
  });
}

export async function rollBackCanary(
  steps: CanarySteps,
  request: { deployment: Deployment; judgement?: { reasons?: string[] } },
): Promise<void> {
  const { deployment } = request;
  const routing = await steps.deployer.routing();
  const primary = deployment.championFunctionVersion ?? routing?.functionVersion;
  if (primary) await steps.deployer.route({ functionVersion: primary, canary: null });
  const aliases = await steps.registry.aliases();
  if (aliases.canary?.version === deployment.modelVersion) {
    const reasons = request.judgement?.reasons ?? [];
    await steps.registry.clearCanary({ why: `canary rolled back: ${reasons.join('; ') || 'judged bad'}` });
  }
}

/**
 * The failure path while a canary may be live: whatever failed, the alias goes back to its
 * primary version alone and the registry's canary (if it is this model) is cleared. The champion
 * is left as the registry says, never changed here.
 */
export async function abortCanary(
  steps: CanarySteps,
  request: { modelVersion: string; error?: { Error?: string; Cause?: string } },
): Promise<{ aborted: boolean }> {
  let aborted = false;
  const routing = await steps.deployer.routing();
  if (routing?.canary) {
    await steps.deployer.route({ functionVersion: routing.functionVersion, canary: null });
    aborted = true;
  }
  const aliases = await steps.registry.aliases();
  if (aliases.canary?.version === request.modelVersion) {
    await steps.registry.clearCanary({
      why: `canary aborted: ${request.error?.Error ?? 'pipeline failure'}`,
    });
    aborted = true;
  }
  return { aborted };
}
