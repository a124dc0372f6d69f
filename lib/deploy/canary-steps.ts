import { InputError } from '#lib/errors.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { Deployer } from '#lib/ports/deployer.ts';
import type { MetricsReader, VersionTraffic } from '#lib/ports/metrics-reader.ts';
import { canaryDeadline, canaryExpired } from '#lib/registry/aliases.ts';
import type { ModelRegistry } from '#lib/registry/registry.ts';
import { canaryThresholds, judgeCanary, type CanaryCheck, type CanaryVerdict } from './canary-judge.ts';

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

/**
 * How long a pipeline canary may take traffic before it falls back to the champion unjudged: the
 * state machine's WaitForCanaryTraffic (600 s) plus room for JudgeCanary and its retries. The
 * execution input's canaryDeadlineSeconds overrides it (state-machines/training.asl.json).
 */
export const DEFAULT_PIPELINE_CANARY_DEADLINE_SECONDS = 1800;

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
  /** The canary's deadline (ISO); null when no canary was started. Absent in older runs' records. */
  deadline?: string | null;
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
    /** Seconds from now until the canary falls back unjudged (default DEFAULT_PIPELINE_CANARY_DEADLINE_SECONDS). */
    deadlineSeconds?: number;
  },
): Promise<Deployment> {
  const { registry, deployer } = steps;
  if (!(request.weight > 0 && request.weight < 1)) {
    throw new InputError('BAD_CANARY_WEIGHT', `canary weight must be in (0, 1), got ${request.weight}`);
  }
  const deadlineSeconds = request.deadlineSeconds ?? DEFAULT_PIPELINE_CANARY_DEADLINE_SECONDS;
  if (!(deadlineSeconds > 0 && Number.isFinite(deadlineSeconds))) {
    throw new InputError(
      'BAD_CANARY_DEADLINE',
      `canaryDeadlineSeconds must be a number of seconds > 0, got ${deadlineSeconds}`,
    );
  }
  const aliases = await registry.aliases();
  const now = steps.clock.now();
  const base = {
    modelName: registry.name,
    modelVersion: request.modelVersion,
    championVersion: aliases.champion,
    weight: request.weight,
    deployedAt: now.toISOString(),
    deadline: null,
  };
  if (aliases.champion === request.modelVersion) {
    // A resumed run whose first try was killed inside its promote: finish that promote's views.
    await registry.completeViews();
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
  // A retried step finds its canary already recorded: it keeps that deadline (a retry must not
  // extend the watch).
  const same = aliases.canary?.version === request.modelVersion && aliases.canary.weight === request.weight;
  const deadline =
    same && !canaryExpired(aliases, now)
      ? (canaryDeadline(aliases) as Date)
      : new Date(now.getTime() + deadlineSeconds * 1000);
  await deployer.route({
    functionVersion: routing.functionVersion,
    canary: { functionVersion: published.functionVersion, weight: request.weight },
  });
  await registry.setCanary(request.modelVersion, request.weight, {
    why: `canary at ${request.weight} until ${deadline.toISOString()} (${why})`,
    deadline,
  });
  return {
    ...base,
    status: 'canary',
    functionVersion: published.functionVersion,
    championFunctionVersion: routing.functionVersion,
    deadline: deadline.toISOString(),
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
  const now = steps.clock.now();
  const deadline = deployment.deadline ? new Date(deployment.deadline) : null;
  const aliases = await steps.registry.aliases();
  // Past the deadline serving sends the canary nothing: the window stops there.
  const end = deadline && deadline < now ? deadline : now;
  const window = { start: new Date(deployment.deployedAt), end };
  const [canary, champion] = await Promise.all([
    steps.metrics.traffic(deployment.modelVersion, window),
    steps.metrics.traffic(deployment.championVersion, window),
  ]);
  const verdict = judgeCanary(canary, champion, canaryThresholds(request.thresholds ?? {}));
  // A canary judged after its deadline (a resumed run, a judge that retried too long) or no
  // longer the registry's canary (expired, cleared, replaced) was not live through its watch:
  // whatever its metrics say, it is rolled back, never promoted.
  const live: CanaryCheck[] = [];
  if (deadline) {
    live.push({
      rule: 'canary_deadline',
      pass: now < deadline,
      actual: now.getTime(),
      limit: deadline.getTime(),
      message: `judged at ${now.toISOString()}; the canary's deadline is ${deadline.toISOString()}, after which its traffic falls back to the champion`,
    });
  }
  const current = aliases.canary?.version === deployment.modelVersion;
  live.push({
    rule: 'canary_live',
    pass: current,
    actual: null,
    limit: null,
    message: current
      ? `the registry still has ${deployment.modelVersion} as its canary`
      : `the registry's canary is ${aliases.canary?.version ?? 'none'}, not ${deployment.modelVersion} (expired, cleared or replaced)`,
  });
  const checks = [...live, ...verdict.checks];
  const failed = checks.filter((c) => !c.pass);
  return {
    decision: failed.length === 0 ? 'promote' : 'rollback',
    reasons: failed.map((c) => `${c.rule}: ${c.message}`),
    checks,
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
 * The failure path while a canary may be live: whatever failed, the alias goes back to one version
 * serving the registry's champion and the registry's canary (if it is this model) is cleared. The
 * champion is left as the registry says, never changed here, so a PromoteCanary that moved the
 * alias and then failed before the registry is undone.
 */
export async function abortCanary(
  steps: CanarySteps,
  request: { modelVersion: string; error?: { Error?: string; Cause?: string } },
): Promise<{ aborted: boolean }> {
  let aborted = false;
  const routing = await steps.deployer.routing();
  const { champion } = await steps.registry.aliases();
  // Re-pointed only when the primary is known to serve another model: a version the stack deployed
  // names no model and is left as it is (it may be newer code with the champion inside).
  const primaryModel = routing ? await steps.deployer.modelOf(routing.functionVersion) : undefined;
  const championFunction =
    champion && primaryModel !== undefined && primaryModel !== champion
      ? await steps.deployer.versionOf(champion)
      : undefined;
  if (routing && (routing.canary || championFunction)) {
    await steps.deployer.route({
      functionVersion: championFunction ?? routing.functionVersion,
      canary: null,
    });
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

export interface Expiry {
  /** true when this call ended the canary (the alias, the registry, or both). */
  expired: boolean;
  /** The registry's canary as found, with its deadline; null when there was none. */
  canary: { version: string; weight: number; deadline: string } | null;
  /** The alias's canary routing was removed by this call. */
  routed: boolean;
}

/**
 * Ends a canary whose deadline has passed (the schedule's `{"action": "expire"}` in AWS,
 * `credit-risk models expire-canaries` locally): the alias first, dropping its canary routing
 * only when that routing is this canary's model (a canary another run is starting right now is
 * left alone), then the registry, cleared with an audited "canary expired". A crash between the
 * two leaves an expired canary in the registry that serving already ignores; the next call
 * finishes it. Idempotent.
 */
export async function expireCanary(
  steps: Pick<CanarySteps, 'registry' | 'deployer' | 'clock'>,
): Promise<Expiry> {
  const aliases = await steps.registry.aliases();
  const deadline = canaryDeadline(aliases);
  const canary =
    aliases.canary && deadline
      ? {
          version: aliases.canary.version,
          weight: aliases.canary.weight,
          deadline: Number.isFinite(deadline.getTime())
            ? deadline.toISOString()
            : String(aliases.canary.deadline),
        }
      : null;
  if (!canary || !canaryExpired(aliases, steps.clock.now())) return { expired: false, canary, routed: false };
  let routed = false;
  const routing = await steps.deployer.routing();
  if (routing?.canary && (await steps.deployer.modelOf(routing.canary.functionVersion)) === canary.version) {
    await steps.deployer.route({ functionVersion: routing.functionVersion, canary: null });
    routed = true;
  }
  const { entry } = await steps.registry.expireCanary();
  return { expired: routed || entry !== undefined, canary, routed };
}
