import { predictProbability, toRowMajorFloat32 } from './gbdt/booster.ts';
import { resolveParams, type GbdtParams } from './gbdt/params.ts';
import { Prng } from './gbdt/prng.ts';
import { binaryMetrics } from './metrics.ts';
import { DEFAULT_SPLIT_FRACTIONS, take, type SplitFractions } from './split.ts';
import type { Table } from './table.ts';
import { loadTrainingTable } from './train.ts';
import { boost, splitRows, type TrainingPart } from './train-stages.ts';
import {
  planTuning,
  type PlanRequest,
  type TrialResult,
  type TrialSpec,
  type TuningPlan,
} from './tuning-plan.ts';

/**
 * A tuning trial (what the train Lambda's trial mode runs, and the in-process search): the
 * trainer's own stages up to the boost (checks -> feature selection -> split, the split the final
 * training will use) and then, per trial, a boost on the rung's share of the training rows scored
 * on the whole validation split. Nothing of a trial is written anywhere: it answers numbers.
 */
export interface TrialData {
  train: TrainingPart;
  valid: TrainingPart;
  /** The validation rows as the model takes them (built once for every trial). */
  validMatrix: Float32Array;
  featureNames: string[];
  /** The split's seed (the final training's): part of what a cached copy is keyed by. */
  seed: number;
}

export interface TrialDataOptions {
  /** A .parquet or .csv path, or a table already read. */
  input: string | Table;
  target?: string;
  timeColumn?: string | null;
  ignore?: readonly string[];
  /** The split's seed when the split is random (the final training's: base params' seed, else 42). */
  seed?: number;
  fractions?: SplitFractions;
}

/** Reads the table and splits it exactly as trainModel does for the same options. */
export async function prepareTrialData(options: TrialDataOptions): Promise<TrialData> {
  const { table, label, timeColumn, selection } = await loadTrainingTable(options);
  const seed = options.seed ?? resolveParams().seed;
  const { train, valid } = splitRows(table, {
    label,
    featureColumns: selection.featureColumns,
    timeColumn,
    seed,
    fractions: options.fractions ?? DEFAULT_SPLIT_FRACTIONS,
  });
  return {
    train,
    valid,
    validMatrix: toRowMajorFloat32(valid.columns, valid.numRows),
    featureNames: selection.featureNames,
    seed,
  };
}

/**
 * The training rows of a rung: row i is in when its uniform draw u_i (from sampleSeed) is below
 * the fraction, so each rung's rows hold the smaller rungs' rows, and every trial of a rung trains
 * on the same rows. Never fewer than minRows (nor more than all).
 */
export function rungRows(
  numRows: number,
  fraction: number,
  sampleSeed: number,
  minRows: number,
): Uint32Array {
  const share = Math.min(1, Math.max(fraction, minRows / Math.max(1, numRows)));
  if (share >= 1) return Uint32Array.from({ length: numRows }, (_, i) => i);
  const prng = new Prng(sampleSeed);
  const rows: number[] = [];
  for (let i = 0; i < numRows; i++) if (prng.next() < share) rows.push(i);
  return Uint32Array.from(rows);
}

function subset(part: TrainingPart, rows: Uint32Array): TrainingPart {
  if (rows.length === part.numRows) return part;
  return {
    numRows: rows.length,
    columns: part.columns.map((c) => take(c, rows)),
    label: Uint8Array.from(take(part.label, rows)),
  };
}

/** One trial: boost on the rung's rows with the trial's params, score the validation split. */
export async function runTrial(
  data: TrialData,
  spec: TrialSpec,
  options: { numThreads?: number; onProgress?: (line: string) => void } = {},
): Promise<TrialResult> {
  const started = performance.now();
  const params: GbdtParams = resolveParams({
    ...spec.params,
    ...(options.numThreads !== undefined ? { numThreads: options.numThreads } : {}),
  });
  const rows = rungRows(data.train.numRows, spec.fraction, spec.sampleSeed, spec.minTrialRows);
  const train = subset(data.train, rows);
  const quiet = () => {};
  const { result } = await boost(train, data.valid, params, quiet, Number.MAX_SAFE_INTEGER);
  const p = predictProbability(result.model, data.validMatrix, data.valid.numRows);
  const m = binaryMetrics(data.valid.label, p, 0.5);
  const out: TrialResult = {
    id: spec.id,
    rung: spec.rung,
    fraction: spec.fraction,
    trainRows: train.numRows,
    allRows: train.numRows === data.train.numRows,
    validAuc: m.auc,
    validLogloss: m.logloss,
    trees: result.bestIteration,
    treesBuilt: result.treesBuilt,
    stopReason: result.stopReason,
    seconds: (performance.now() - started) / 1000,
  };
  options.onProgress?.(
    `trial ${spec.id} (rung ${spec.rung}, ${train.numRows.toLocaleString('en-US')} rows): validation AUC ${m.auc.toFixed(4)}, ${out.trees} trees, ${out.seconds.toFixed(1)} s`,
  );
  return out;
}

/** A trial runner: the in-process search calls runTrial; the state machine's Map calls the train Lambda. */
export type RunTrials = (trials: TrialSpec[]) => Promise<TrialResult[]>;

/**
 * The whole search in one loop of plan -> trials -> plan, the state machine's PlanTuning and
 * RunTrials states without the state machine. Same planner, same trials, same choice.
 */
export async function tune(
  request: Omit<PlanRequest, 'tuning'>,
  runTrials: RunTrials,
  now: () => Date = () => new Date(),
): Promise<TuningPlan> {
  let plan = planTuning(request, now());
  while (!plan.done) {
    const results = await runTrials(plan.trials);
    plan = planTuning({ ...request, tuning: { state: plan.state, results } }, now());
  }
  return plan;
}

/** The in-process runner: the trials one after another on a table read once. */
export function inProcessTrials(
  data: TrialData,
  options: { numThreads?: number; onProgress?: (line: string) => void } = {},
): RunTrials {
  return async (trials) => {
    const results: TrialResult[] = [];
    for (const spec of trials) results.push(await runTrial(data, spec, options));
    return results;
  };
}
