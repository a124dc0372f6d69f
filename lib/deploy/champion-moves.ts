import { InputError } from '#lib/errors.ts';
import type { AliasRouting, Deployer } from '#lib/ports/deployer.ts';
import * as transitions from '#lib/registry/aliases.ts';
import type { ChangeOptions, ChangeResult, ModelRegistry } from '#lib/registry/registry.ts';

/**
 * Moving the champion by hand where serving follows an alias of its own (AWS: the predict
 * function's `live` alias; `credit-risk aws models promote|rollback|clear-canary`). Two records
 * move, in this order (docs/adr/0115-aws-rollback-order.md):
 *
 *   1. the serving alias (Deployer): what actually answers requests, all traffic to one version;
 *   2. the registry's aliases, with the same audit entry as the local `models` commands.
 *
 * A crash between the two leaves the alias on the target and the registry on the old champion:
 * running the same command again finds the same target, re-routes (a no-op) and moves the
 * registry, so a re-run converges. The other order could not: a rollback re-run after the registry
 * had moved would roll back one champion further.
 */
export interface ChampionMoveSteps {
  registry: ModelRegistry;
  deployer: Deployer;
}

export type ChampionMove =
  { action: 'promote'; ref: string } | { action: 'rollback' } | { action: 'clear-canary' };

export interface ChampionMoveResult extends ChangeResult {
  /** The registry version that serves alone now (the champion). */
  modelVersion: string | null;
  /** The function version the alias sends all traffic to now. */
  functionVersion: string | null;
  /** The alias routing found before the move (undefined: the alias does not exist). */
  before: AliasRouting | undefined;
  /** false when the alias already routed everything to the target (a re-run after a crash). */
  routed: boolean;
}

export async function moveChampion(
  steps: ChampionMoveSteps,
  move: ChampionMove,
  options: ChangeOptions = {},
): Promise<ChampionMoveResult> {
  const { registry, deployer } = steps;
  const aliases = await registry.aliases();
  const target =
    move.action === 'promote'
      ? await registry.resolveVersion(move.ref)
      : move.action === 'rollback'
        ? (transitions.rollback(aliases).to as string) // throws NO_PREVIOUS_CHAMPION
        : aliases.champion;
  const before = await deployer.routing();
  let functionVersion: string | null;
  let routed = false;
  if (move.action === 'clear-canary') {
    // Only the canary weight goes: the primary stays whatever version serves the champion now.
    functionVersion = before?.functionVersion ?? null;
    if (before?.canary) {
      await deployer.route({ functionVersion: before.functionVersion, canary: null });
      routed = true;
    }
  } else {
    const version = target as string;
    const found = await deployer.versionOf(version);
    if (found === undefined) {
      throw new InputError(
        'NOT_DEPLOYED',
        `no published version of the serving function serves model ${version}: only models the training ` +
          'pipeline deployed (DeployCanary publishes one function version per model) can be routed to; ' +
          'nothing was changed',
      );
    }
    functionVersion = found;
    if (!before || before.functionVersion !== found || before.canary) {
      await deployer.route({ functionVersion: found, canary: null });
      routed = true;
    }
  }
  let change: ChangeResult;
  try {
    change =
      move.action === 'promote'
        ? await registry.promote(target as string, options)
        : move.action === 'rollback'
          ? await registry.rollback({ ...options, to: target as string })
          : await registry.clearCanary(options);
  } catch (e) {
    if (e instanceof InputError && e.code === 'CONCURRENT_CHANGE')
      throw new InputError(
        e.code,
        `${e.message}. The serving alias already sends all traffic to function version ${functionVersion} ` +
          `(model ${target}): compare the two (models status) and promote the version that should serve`,
      );
    throw e;
  }
  return { ...change, modelVersion: change.aliases.champion, functionVersion, before, routed };
}
