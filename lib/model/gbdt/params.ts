import { availableParallelism } from 'node:os';
import { InputError } from '#lib/errors.ts';

/**
 * Parameters of the histogram GBDT. Names follow LightGBM's (camelCase) so a reader can map them
 * one to one; defaults are LightGBM's except where noted.
 */
export interface GbdtParams {
  /** Boosting rounds (LightGBM num_iterations). Early stopping may keep fewer. */
  numTrees: number;
  learningRate: number;
  /** Maximum leaves per tree; trees grow leaf-wise (best gain first). */
  numLeaves: number;
  /** Maximum depth of a leaf; -1 means unlimited (only numLeaves bounds the tree). */
  maxDepth: number;
  minDataInLeaf: number;
  minSumHessianInLeaf: number;
  lambdaL2: number;
  /** A split must improve the objective by more than this. */
  minGainToSplit: number;
  /** Value bins per feature (at most 255); one more bin is reserved for missing values. */
  maxBin: number;
  /** Rows sampled to find the bin edges of each feature (LightGBM bin_construct_sample_cnt). */
  binSampleCount: number;
  /** Row subsample per bagging round; 1 disables bagging. */
  baggingFraction: number;
  /** Resample the bag every this many trees; 0 disables bagging. */
  baggingFreq: number;
  /** Share of features each tree may split on. */
  featureFraction: number;
  /** Stop when validation logloss has not improved for this many trees; 0 disables. */
  earlyStoppingRounds: number;
  /** Weight of positive rows in the gradients (1 = unweighted). */
  scalePosWeight: number;
  /** When true, scalePosWeight is replaced by negatives / positives of the training rows. */
  isUnbalance: boolean;
  seed: number;
  /** Threads for histogram building, binning and gradients (the main thread counts as one). */
  numThreads: number;
}

export const DEFAULT_GBDT_PARAMS: GbdtParams = {
  // Ours: more, smaller steps than LightGBM's 100 x 0.1, with early stopping to pick the count.
  numTrees: 300,
  learningRate: 0.05,
  numLeaves: 31,
  maxDepth: -1,
  minDataInLeaf: 20,
  minSumHessianInLeaf: 1e-3,
  lambdaL2: 0,
  minGainToSplit: 0,
  maxBin: 255,
  binSampleCount: 200_000,
  baggingFraction: 1,
  baggingFreq: 0,
  featureFraction: 1,
  earlyStoppingRounds: 50,
  scalePosWeight: 1,
  isUnbalance: false,
  seed: 42,
  numThreads: Math.max(1, availableParallelism()),
};

function check(ok: boolean, name: string, value: unknown, expected: string): void {
  if (!ok)
    throw new InputError('BAD_PARAMETER', `parameter ${name} must be ${expected}, got ${String(value)}`);
}

/** Defaults filled in and every value checked (an InputError names the bad one). */
export function resolveParams(overrides: Partial<GbdtParams> = {}): GbdtParams {
  const p: GbdtParams = { ...DEFAULT_GBDT_PARAMS };
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in DEFAULT_GBDT_PARAMS)) {
      throw new InputError(
        'BAD_PARAMETER',
        `unknown GBDT parameter "${k}" (known: ${Object.keys(DEFAULT_GBDT_PARAMS).join(', ')})`,
      );
    }
    if (v !== undefined) (p as unknown as Record<string, unknown>)[k] = v;
  }
  const int = (x: number) => Number.isInteger(x);
  check(int(p.numTrees) && p.numTrees >= 1, 'numTrees', p.numTrees, 'an integer >= 1');
  check(p.learningRate > 0 && p.learningRate <= 1, 'learningRate', p.learningRate, 'in (0, 1]');
  check(
    int(p.numLeaves) && p.numLeaves >= 2 && p.numLeaves <= 4096,
    'numLeaves',
    p.numLeaves,
    'an integer in [2, 4096]',
  );
  check(
    int(p.maxDepth) && (p.maxDepth === -1 || p.maxDepth >= 1),
    'maxDepth',
    p.maxDepth,
    '-1 or an integer >= 1',
  );
  check(int(p.minDataInLeaf) && p.minDataInLeaf >= 1, 'minDataInLeaf', p.minDataInLeaf, 'an integer >= 1');
  check(p.minSumHessianInLeaf >= 0, 'minSumHessianInLeaf', p.minSumHessianInLeaf, '>= 0');
  check(p.lambdaL2 >= 0, 'lambdaL2', p.lambdaL2, '>= 0');
  check(p.minGainToSplit >= 0, 'minGainToSplit', p.minGainToSplit, '>= 0');
  check(int(p.maxBin) && p.maxBin >= 2 && p.maxBin <= 255, 'maxBin', p.maxBin, 'an integer in [2, 255]');
  check(
    int(p.binSampleCount) && p.binSampleCount >= 1000,
    'binSampleCount',
    p.binSampleCount,
    'an integer >= 1000',
  );
  check(p.baggingFraction > 0 && p.baggingFraction <= 1, 'baggingFraction', p.baggingFraction, 'in (0, 1]');
  check(int(p.baggingFreq) && p.baggingFreq >= 0, 'baggingFreq', p.baggingFreq, 'an integer >= 0');
  check(p.featureFraction > 0 && p.featureFraction <= 1, 'featureFraction', p.featureFraction, 'in (0, 1]');
  check(
    int(p.earlyStoppingRounds) && p.earlyStoppingRounds >= 0,
    'earlyStoppingRounds',
    p.earlyStoppingRounds,
    'an integer >= 0',
  );
  check(
    p.scalePosWeight > 0 && Number.isFinite(p.scalePosWeight),
    'scalePosWeight',
    p.scalePosWeight,
    'a finite number > 0',
  );
  check(int(p.seed), 'seed', p.seed, 'an integer');
  check(
    int(p.numThreads) && p.numThreads >= 1 && p.numThreads <= 64,
    'numThreads',
    p.numThreads,
    'an integer in [1, 64]',
  );
  return p;
}
