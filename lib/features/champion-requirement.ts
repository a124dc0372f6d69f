import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import { guardPolicyFromEnv, type ChampionRequirement } from './publish-guards.ts';
import { snapshotKeys, type PublishGuardOptions } from './publish.ts';

/**
 * What the champion model reads, as plain data for the publish guards: the feature names of its
 * card.json and, when the snapshot it was trained on is in the offline store, each column's type
 * in that snapshot's manifest. null when the registry has no champion. The CLI and the extract
 * Lambda call this and hand the result to publishSnapshot, which knows nothing of the registry.
 */
export async function championRequirement(
  registry: ModelRegistry,
  featuresStore: ObjectStore,
): Promise<ChampionRequirement | null> {
  const champion = (await registry.aliases()).champion;
  if (!champion) return null;
  const { card } = await registry.card(champion);
  const features = card.features;
  if (!Array.isArray(features) || !features.every((f): f is string => typeof f === 'string')) {
    throw new Error(
      `the champion ${registry.name} ${champion.slice(0, 12)}'s card.json has no "features" list of names`,
    );
  }
  const trainedOn = (card.data as { snapshotId?: unknown } | undefined)?.snapshotId;
  const types = new Map<string, string>();
  if (typeof trainedOn === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(trainedOn)) {
    const manifest = await getJson<{ columns?: unknown }>(featuresStore, snapshotKeys(trainedOn).manifest);
    if (Array.isArray(manifest?.columns)) {
      for (const c of manifest.columns as { name?: unknown; type?: unknown }[])
        if (typeof c?.name === 'string' && typeof c.type === 'string') types.set(c.name, c.type);
    }
  }
  return {
    modelName: registry.name,
    version: champion,
    features: features.map((name) => ({ name, type: types.get(name) ?? null })),
  };
}

/**
 * The guards of an unattended publish (the extract function), from its environment:
 * PUBLISH_MIN_CUSTOMER_SHARE, PUBLISH_MAX_QUARANTINE_RATE (unset: the defaults), and the champion
 * of MODEL_NAME (default credit-risk) in `modelsStore` when one is given. Never forced: only a
 * person, with `credit-risk features publish --force`, overrides a guard.
 */
export async function publishGuardsFor(options: {
  env: Readonly<Record<string, string | undefined>>;
  featuresStore: ObjectStore;
  modelsStore?: ObjectStore;
}): Promise<PublishGuardOptions> {
  const policy = guardPolicyFromEnv(options.env);
  if (!options.modelsStore) return { policy, force: false };
  const registry = new ModelRegistry(options.modelsStore, {
    name: options.env.MODEL_NAME || DEFAULT_MODEL_NAME,
  });
  return { policy, force: false, champion: await championRequirement(registry, options.featuresStore) };
}
