import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { resolveParams, type GbdtParams } from '#lib/model/gbdt/params.ts';
import { prepareTrialData, runTrial, type TrialData } from '#lib/model/tuning.ts';
import type { TrialResult, TrialSpec } from '#lib/model/tuning-plan.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * The TuneTrial step of the training state machine (the train function's trial mode): the
 * published feature table -> the trainer's split -> one trial on the rung's rows -> validation
 * metrics. It writes nothing: not to the registry, not to candidates/.
 *
 * A function instance keeps the last table it split (keyed by the object's location, ETag and the
 * split seed): a warm Lambda, or the local runner's one process, answering the next trial of the
 * same snapshot skips the download, the read and the split. One entry only: a trial of another
 * snapshot replaces it, so memory holds at most one table's split.
 */
let lastSplit: { key: string; data: Promise<TrialData> } | undefined;

async function loadSplit(
  store: ObjectStore,
  featuresKey: string,
  seed: number,
  tmpDir: string,
): Promise<TrialData> {
  const work = join(tmpDir, `trial-${randomUUID()}`);
  await mkdir(work, { recursive: true });
  try {
    const input = join(work, featuresKey.endsWith('.csv') ? 'features.csv' : 'features.parquet');
    await store.download(featuresKey, input);
    // The manifest beside the table names the label, time and id columns, as for the final training.
    const manifestKey = `${featuresKey.slice(0, featuresKey.lastIndexOf('/') + 1)}manifest.json`;
    if (await store.head(manifestKey)) await store.download(manifestKey, join(work, 'manifest.json'));
    return await prepareTrialData({ input, seed });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function runTrialStep(options: {
  featuresStore: ObjectStore;
  featuresKey: string;
  trial: TrialSpec;
  tmpDir: string;
}): Promise<TrialResult> {
  const { featuresStore: store, featuresKey, trial } = options;
  const head = await store.head(featuresKey);
  if (!head) throw new InputError('UNKNOWN_FEATURES', `no features table at ${store.describe(featuresKey)}`);
  // The split's seed is the final training's (trainModel: the params' seed): same rows in both.
  const seed = resolveParams(trial.params as Partial<GbdtParams>).seed;
  const key = JSON.stringify([store.describe(featuresKey), head.etag ?? head.size, seed]);
  if (lastSplit?.key !== key) {
    const data = loadSplit(store, featuresKey, seed, options.tmpDir);
    lastSplit = { key, data };
    // A failed load must not be served to the next trial.
    data.catch(() => {
      if (lastSplit?.data === data) lastSplit = undefined;
    });
  }
  return runTrial(await lastSplit.data, trial);
}

/** Drops the kept split (tests; a caller that knows no trial follows). */
export function forgetTrialSplit(): void {
  lastSplit = undefined;
}
