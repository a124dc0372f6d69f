import type { GbdtParams } from './gbdt/params.ts';
import type { FeatureImportance } from './explain.ts';
import type { FairnessReport } from './fairness.ts';
import type { BinaryMetrics, SliceNote, ThresholdPolicy } from './metrics.ts';
import type { StalenessRecord } from './staleness.ts';
import type { TuningRecord } from './tuning-plan.ts';
import type { CreditViews } from './credit-views.ts';

/**
 * card.json: everything a person or a later step needs to know about one trained model, beside
 * model.onnx (whose sha256 is `version`). Serving reads `features` and `threshold`; the registry
 * reads `metrics.test.auc` and `data.snapshotId`; drift checks read `reference`.
 * Bump CARD_SCHEMA_VERSION when a field changes meaning.
 */
export const CARD_SCHEMA_VERSION = 1;

export interface FeatureReference {
  feature: string;
  /** Float32 bin edges on the training rows (the model's own bins): value bin k is [edges[k-1], edges[k]). */
  edges: number[];
  /** Training rows per bin: counts[0] = missing, counts[k] = value bin k (k = 1..edges.length + 1). */
  counts: number[];
  rows: number;
  missingShare: number;
  min: number | null;
  max: number | null;
  mean: number | null;
}

export interface SplitPart {
  rows: number;
  positives: number;
  /** First and last time (ISO date) in the part, for out-of-time splits. */
  from?: string;
  to?: string;
}

export interface SplitSummary {
  kind: 'out-of-time' | 'random';
  timeColumn: string | null;
  fractions: { train: number; valid: number; test: number };
  seed: number;
  train: SplitPart;
  valid: SplitPart;
  test: SplitPart;
}

/** Where the model came from: every field is filled for a model the pipeline trains (tested). */
export interface ModelLineage {
  /** Git commit of the code that trained the model (env CODE_VERSION, baked at build, or git). */
  codeVersion: string | null;
  /** env: CODE_VERSION; baked: set at build (bundles, images); git: the checkout; caller: trainModel's codeVersion option. */
  codeVersionSource: 'env' | 'baked' | 'git' | 'caller' | 'unknown';
  /** Feature snapshot id, sha256 of its manifest.json and of the raw input it was built from. */
  snapshotId: string | null;
  manifestSha256: string | null;
  inputSha256: string | null;
  /** Everything that decided the model besides data and code (sha256 of `settings`, canonical JSON). */
  settings: {
    target: string;
    timeColumn: string | null;
    protectedColumns: string[];
    seed: number;
    params: Omit<GbdtParams, 'numThreads'>;
    fractions: { train: number; valid: number; test: number };
    thresholdPolicy: ThresholdPolicy;
    refit: RefitPolicy;
  };
  settingsSha256: string;
  /** Node and the native engines (package.json versions). */
  libraries: Record<string, string | null>;
  /** The training run: the Step Functions execution name in the pipeline; null for a manual train. */
  runId: string | null;
}

/** When the final model is refit on train + validation (docs/adr/0142-small-data-refit.md). */
export type RefitPolicy = 'auto' | 'always' | 'never';

export interface RefitSummary {
  policy: RefitPolicy;
  /** Tables with at most this many rows are refit under "auto". */
  smallDataMaxRows: number;
  applied: boolean;
  /** What was done, in words. */
  method: string;
  /** Trees of the refit model (= the early-stopped count) and the rows it saw. */
  trees: number;
  rows: number;
}

/** Validation AUC lost when one feature's values are shuffled among the rows. */
export interface PermutationImportance {
  feature: string;
  aucDrop: number;
  loglossRise: number;
}

export interface ModelCard {
  schemaVersion: number;
  name: string;
  /** sha256 of model.onnx. */
  version: string;
  createdAt: string;
  algorithm: 'histogram-gbdt';
  /** Model input order: column j of the [N, F] input tensor is features[j]; NaN = missing. */
  features: string[];
  target: string;
  idColumns: string[];
  data: {
    /** File name of the training table. */
    input: string;
    rows: number;
    /** Feature snapshot id and sha256 of its manifest.json, when the table is a snapshot. */
    snapshotId: string | null;
    manifestSha256: string | null;
  };
  /** Git commit (or CODE_VERSION) of the code that trained the model, when known. */
  codeVersion: string | null;
  seed: number;
  /** The GBDT parameters used (numThreads left out: it does not change the model). */
  params: Omit<GbdtParams, 'numThreads'>;
  training: {
    trees: number;
    treesBuilt: number;
    stopReason: string;
    wallSeconds: number;
    peakRssBytes: number;
    threads: number;
    positiveWeight: number;
    /** Validation logloss after each tree. */
    validLogloss: number[];
    /** Whether the final model was refit on train + validation (small tables). */
    refit?: RefitSummary;
  };
  split: SplitSummary;
  /** label = 1 when probability >= threshold (float32 number, also inside model.onnx). */
  threshold: number;
  thresholdPolicy: { policy: ThresholdPolicy; chosenOn: 'validation'; description: string };
  metrics: {
    test: BinaryMetrics;
    valid: BinaryMetrics;
    slices: Record<string, Record<string, BinaryMetrics | SliceNote>>;
  };
  baseline: {
    name: 'logistic-regression';
    description: string;
    metrics: { test: BinaryMetrics; valid: BinaryMetrics };
    /** Whether the GBDT beats the simpler model on test AUC, in words. */
    verdict: string;
  };
  /** Per feature: gain and splits, and beside them the mean |SHAP| on the test split (log-odds). */
  importance: (FeatureImportance & { meanAbsShap: number })[];
  /** The global SHAP summary's frame: rows explained (the test split) and the bias E[f] (log-odds). */
  shap: { rows: number; bias: number; algorithm: 'path-dependent TreeSHAP' };
  /** Permutation importance on (a sample of) the validation split: does each feature help? */
  featureValue?: {
    method: string;
    rows: number;
    baselineAuc: number;
    features: PermutationImportance[];
    /** Features whose shuffling costs less than 0.0005 validation AUC. */
    notHelping: string[];
  };
  /** Fairness per protected attribute on the test split (approve = prediction 0). */
  fairness?: FairnessReport;
  /** Credit-risk views of the test scores: Gini, KS, deciles (gains, lift), cutoffs. */
  credit?: CreditViews;
  lineage?: ModelLineage;
  reference: FeatureReference[];
  onnx: { irVersion: number; opset: number; mlOpset: number; input: string; outputs: string[] };
  /** The search that chose `params` (train --tune, or the training machine's tuning states); absent without one. */
  tuning?: TuningRecord;
  /** AUC and calibration per month of the out-of-time test split (absent without a date time column). */
  staleness?: StalenessRecord;
}

/** Reference statistics of one feature from the trainer's bins and the raw training values. */
export function featureReference(
  feature: string,
  edges: Float32Array,
  counts: Float64Array,
  values: ArrayLike<number>,
): FeatureReference {
  let rows = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let finite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    rows++;
    if (Number.isFinite(v)) {
      finite++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return {
    feature,
    edges: Array.from(edges),
    counts: Array.from(counts),
    rows,
    missingShare: rows > 0 ? counts[0] / rows : 0,
    min: finite > 0 ? min : null,
    max: finite > 0 ? max : null,
    mean: finite > 0 ? sum / finite : null,
  };
}

/** One sentence comparing the model with the baseline on test AUC. */
export function baselineVerdict(modelAuc: number, baselineAuc: number): string {
  const d = modelAuc - baselineAuc;
  const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
  if (!Number.isFinite(d))
    return `cannot compare: test AUC ${fmt(modelAuc)} (GBDT) vs ${fmt(baselineAuc)} (logistic regression)`;
  if (d > 0.002)
    return `the GBDT beats the logistic-regression baseline on test AUC: ${fmt(modelAuc)} vs ${fmt(baselineAuc)} (+${d.toFixed(4)})`;
  if (d >= -0.002)
    return `the GBDT and the logistic-regression baseline are within 0.002 test AUC (${fmt(modelAuc)} vs ${fmt(baselineAuc)}): the simpler model would do as well`;
  return `the simpler logistic-regression baseline is BETTER on test AUC: ${fmt(baselineAuc)} vs ${fmt(modelAuc)} (GBDT)`;
}
