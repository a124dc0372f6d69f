import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { snapshotKeys } from '#lib/features/publish.ts';
import { binaryMetrics, type BinaryMetrics } from '#lib/model/metrics.ts';
import type { TuningRecord } from '#lib/model/tuning-plan.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { cardEssentials, stageCandidate, type TestSet } from '#lib/registry/candidate.ts';
import { readModelDirectory } from '#lib/registry/model-directory.ts';

/**
 * The Train step of the training state machine (functions/train in AWS, the same handler
 * locally): a published feature table from the object store -> the trainer -> a candidate staged
 * under candidates/<version>/ for Evaluate and Register.
 */
export interface TrainRequest {
  /** Local path of the features table (downloaded from the object store). */
  input: string;
  /** Directory to write model.onnx, card.json and report.html into. */
  out: string;
  seed?: number;
  params?: Record<string, unknown>;
  snapshotId?: string;
  /** The tuning search that chose `params` (TrainTuned), kept on the card. */
  tuning?: TuningRecord;
  /** The training run (the state machine's execution name), for the card's lineage. */
  runId?: string;
}

/** Runs the trainer and hands back the test split it measured (rows, labels, scores). */
export type TrainFn = (request: TrainRequest) => Promise<{ testSet: TestSet }>;

export interface TrainStepResult {
  candidateKey: string;
  version: string;
  featuresKey: string;
  snapshotId: string | null;
  metrics: BinaryMetrics;
  trainSeconds: number;
}

/** Where a published feature snapshot keeps its table (the features area's layout). */
export function featuresKeyFor(snapshotId: string): string {
  return snapshotKeys(snapshotId).part;
}

export async function trainCandidate(options: {
  featuresStore: ObjectStore;
  modelsStore: ObjectStore;
  train: TrainFn;
  tmpDir: string;
  featuresKey: string;
  snapshotId?: string;
  seed?: number;
  params?: Record<string, unknown>;
  tuning?: TuningRecord;
  runId?: string;
}): Promise<TrainStepResult> {
  const { featuresStore, featuresKey } = options;
  if (!(await featuresStore.head(featuresKey))) {
    throw new InputError('UNKNOWN_FEATURES', `no features table at ${featuresStore.describe(featuresKey)}`);
  }
  const work = join(options.tmpDir, `train-${randomUUID()}`);
  await mkdir(work, { recursive: true });
  try {
    const input = join(work, featuresKey.endsWith('.csv') ? 'features.csv' : 'features.parquet');
    await featuresStore.download(featuresKey, input);
    // The snapshot's manifest beside the table tells the trainer the label, time and id columns
    // and gives the card its lineage (snapshot id, manifest hash).
    const manifestKey = `${featuresKey.slice(0, featuresKey.lastIndexOf('/') + 1)}manifest.json`;
    if (await featuresStore.head(manifestKey)) {
      await featuresStore.download(manifestKey, join(work, 'manifest.json'));
    }
    const out = join(work, 'model');
    const started = performance.now();
    const { testSet } = await options.train({
      input,
      out,
      seed: options.seed,
      params: options.params,
      snapshotId: options.snapshotId,
      ...(options.tuning ? { tuning: options.tuning } : {}),
      runId: options.runId,
    });
    const trainSeconds = (performance.now() - started) / 1000;
    const artifacts = await readModelDirectory(out);
    const staged = await stageCandidate(options.modelsStore, artifacts, testSet);
    const cardText =
      typeof artifacts.card === 'string' ? artifacts.card : new TextDecoder().decode(artifacts.card);
    const { threshold } = cardEssentials(
      JSON.parse(cardText) as Record<string, unknown>,
      staged.candidateKey,
    );
    return {
      ...staged,
      featuresKey,
      snapshotId: options.snapshotId ?? null,
      metrics: binaryMetrics(testSet.y, testSet.p, threshold),
      trainSeconds,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
