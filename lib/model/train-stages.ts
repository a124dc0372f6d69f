import { basename } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { ageBandOf } from '#lib/features/catalog.ts';
import {
  baselineVerdict,
  CARD_SCHEMA_VERSION,
  featureReference,
  type FeatureReference,
  type ModelCard,
  type ModelLineage,
  type PermutationImportance,
  type RefitSummary,
  type SplitPart,
} from './card.ts';
import { creditViews, type CreditViews } from './credit-views.ts';
import type { FeatureImportance } from './explain.ts';
import { fairnessByAttribute, type FairnessReport } from './fairness.ts';
import {
  predictProbability,
  predictProbabilityWhile,
  probabilities,
  toRowMajorFloat32,
  trainGbdt,
  type GbdtModel,
  type GbdtProgress,
  type GbdtTrainingResult,
} from './gbdt/booster.ts';
import type { GbdtParams } from './gbdt/params.ts';
import { Prng } from './gbdt/prng.ts';
import { fitLogistic, predictLogistic, type LogisticModel } from './logistic.ts';
import {
  binaryMetrics,
  chooseThreshold,
  sliceMetrics,
  type BinaryMetrics,
  type ThresholdPolicy,
} from './metrics.ts';
import {
  INPUT_NAME,
  LABEL_OUTPUT,
  ONNX_IR_VERSION,
  ONNX_ML_OPSET,
  ONNX_OPSET,
  PROBABILITIES_OUTPUT,
} from './onnx-export.ts';
import { renderReport } from './report.ts';
import { TreeShapExplainer } from './shap.ts';
import { ShapPool } from './shap-pool.ts';
import { shapSummary, type ShapSummary } from './shap-summary.ts';
import { outOfTimeSplit, randomSplit, take, type Split, type SplitFractions } from './split.ts';
import { isoDay, textAt, type NumericColumn, type Table } from './table.ts';

/**
 * The stages of trainModel (lib/model/train.ts), each a function of what the previous ones
 * produced, so each can be tested and reused on its own (tuning runs boost on the same split,
 * governance adds evaluation views): checks -> feature selection -> split -> boost -> threshold ->
 * baseline -> evaluation -> card -> report.
 */

/** A split part as the trainer uses it: feature columns (model order) and labels. */
export interface TrainingPart {
  numRows: number;
  columns: Float64Array[];
  label: Uint8Array;
}

type Progress = (line: string) => void;

/** Checks: the target exists, is numeric and 0/1 on every row, with both classes present. */
export function checkTarget(table: Table, target: string, inputPath: string): Uint8Array {
  const columnNames = table.schema.map((c) => c.name);
  const targetColumn = table.columns.get(target);
  if (!targetColumn) {
    throw new InputError(
      'MISSING_TARGET',
      `${inputPath} has no target column "${target}" (columns: ${columnNames.join(', ')})`,
    );
  }
  if (targetColumn.kind === 'text') {
    const example = targetColumn.dictionary.find((v) => v !== null);
    throw new InputError(
      'BAD_TARGET',
      `target column "${target}" must be 0/1, but it holds text such as ${JSON.stringify(example)}`,
    );
  }
  const label = new Uint8Array(table.numRows);
  let positives = 0;
  for (let i = 0; i < table.numRows; i++) {
    const v = targetColumn.values[i];
    if (v !== 0 && v !== 1) {
      throw new InputError(
        'BAD_TARGET',
        `target column "${target}" must be 0 or 1 on every row; row ${i + 1} has ${Number.isNaN(v) ? 'an empty cell' : v}`,
      );
    }
    label[i] = v;
    positives += v;
  }
  if (positives === 0 || positives === table.numRows) {
    throw new InputError(
      'SINGLE_CLASS',
      `target column "${target}" has a single class (every row is ${positives === 0 ? 0 : 1}): nothing to learn`,
    );
  }
  return label;
}

export interface FeatureSelection {
  idColumns: string[];
  featureNames: string[];
  featureColumns: Float64Array[];
  /** Protected attributes present in the table: measured for fairness, never features. */
  protectedColumns: string[];
}

/**
 * Feature selection: every column but the target, the time column, the id/ignored columns and the
 * protected attributes; each must be numeric (an InputError says how to fix one that is not).
 */
export function selectFeatures(
  table: Table,
  options: {
    target: string;
    timeColumn: string | null;
    ignore: readonly string[];
    manifestIds: readonly string[];
    inputPath: string;
    /** Protected attributes (the manifest's "protected" role, or --protected): never features. */
    protectedColumns?: readonly string[];
  },
): FeatureSelection {
  const { inputPath, timeColumn, target } = options;
  const columnNames = table.schema.map((c) => c.name);
  if (timeColumn !== null && !table.columns.has(timeColumn)) {
    throw new InputError(
      'UNKNOWN_COLUMN',
      `${inputPath} has no time column "${timeColumn}" (columns: ${columnNames.join(', ')})`,
    );
  }
  for (const c of options.ignore) {
    if (!table.columns.has(c))
      throw new InputError('UNKNOWN_COLUMN', `--ignore names "${c}", which ${inputPath} does not have`);
  }
  const idColumns = [
    ...new Set([...options.manifestIds.filter((c) => table.columns.has(c)), ...options.ignore]),
  ];
  const protectedColumns = (options.protectedColumns ?? []).filter((c) => table.columns.has(c));
  const notFeatures = new Set<string>([
    target,
    ...idColumns,
    ...(timeColumn ? [timeColumn] : []),
    ...protectedColumns,
  ]);
  const featureNames = columnNames.filter((c) => !notFeatures.has(c));
  if (featureNames.length === 0)
    throw new InputError(
      'NO_FEATURES',
      `${inputPath} has no feature columns besides the target, time and ignored columns`,
    );
  const featureColumns: Float64Array[] = [];
  for (const name of featureNames) {
    const col = table.columns.get(name);
    if (!col || col.kind !== 'numeric') {
      const what =
        col?.kind === 'text'
          ? `text (e.g. ${JSON.stringify(col.dictionary.find((v) => v !== null && v !== ''))})`
          : `a ${col?.sqlType ?? 'non-numeric'} column`;
      throw new InputError(
        'NON_NUMERIC_FEATURE',
        `feature column "${name}" is not numeric: it is ${what}. Encode it as numbers, or pass --ignore ${name}${col?.kind === 'date' ? ` (or --time-column ${name})` : ''}`,
        { column: name },
      );
    }
    featureColumns.push(col.values);
  }
  return { idColumns, featureNames, featureColumns, protectedColumns };
}

export interface SplitStage {
  split: Split;
  train: TrainingPart;
  valid: TrainingPart;
  test: TrainingPart;
  parts: { train: SplitPart; valid: SplitPart; test: SplitPart };
}

/**
 * The split: out of time by the time column when there is one (oldest train, then validation,
 * newest test), otherwise random by seed; every part must hold both classes.
 */
export function splitRows(
  table: Table,
  options: {
    label: Uint8Array;
    featureColumns: Float64Array[];
    timeColumn: string | null;
    seed: number;
    fractions: SplitFractions;
  },
): SplitStage {
  const { timeColumn, label, featureColumns, fractions } = options;
  let split: Split;
  let timeValues: Float64Array | undefined;
  if (timeColumn) {
    const tc = table.columns.get(timeColumn);
    if (!tc || tc.kind === 'text')
      throw new InputError(
        'BAD_TIME_COLUMN',
        `time column "${timeColumn}" must be a date, timestamp or number`,
      );
    timeValues = tc.values;
    split = outOfTimeSplit(timeValues, fractions, timeColumn);
  } else {
    split = randomSplit(table.numRows, options.seed, fractions);
  }
  const part = (rows: Uint32Array): TrainingPart => ({
    numRows: rows.length,
    columns: featureColumns.map((c) => take(c, rows)),
    label: Uint8Array.from(take(label, rows)),
  });
  const train = part(split.train);
  const valid = part(split.valid);
  const test = part(split.test);
  const describePart = (rows: Uint32Array, y: Uint8Array): SplitPart => {
    const out: SplitPart = { rows: rows.length, positives: y.reduce((s, v) => s + v, 0) };
    if (timeValues && rows.length > 0) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const r of rows) {
        lo = Math.min(lo, timeValues[r]);
        hi = Math.max(hi, timeValues[r]);
      }
      const dateLike = (table.columns.get(timeColumn as string) as NumericColumn).kind === 'date';
      out.from = dateLike ? isoDay(lo) : String(lo);
      out.to = dateLike ? isoDay(hi) : String(hi);
    }
    return out;
  };
  const parts = {
    train: describePart(split.train, train.label),
    valid: describePart(split.valid, valid.label),
    test: describePart(split.test, test.label),
  };
  for (const [name, p] of Object.entries(parts)) {
    if (p.positives === 0 || p.positives === p.rows) {
      throw new InputError(
        'SINGLE_CLASS',
        `the ${name} split (${p.rows} rows) has a single class; use a larger table or other --split fractions`,
      );
    }
  }
  return { split, train, valid, test, parts };
}

/** Boosting with early stopping on the validation part, progress every `every` trees. */
export async function boost(
  train: TrainingPart,
  valid: TrainingPart,
  params: GbdtParams,
  progress: Progress,
  every = 25,
): Promise<{ result: GbdtTrainingResult; gbdtSeconds: number }> {
  const trainStarted = performance.now();
  const result = await trainGbdt(train, {
    valid,
    params,
    onTree: (p: GbdtProgress) => {
      if (p.tree % every === 0 || p.tree === 1) {
        progress(
          `tree ${p.tree}/${p.numTrees}: validation logloss ${p.validLogloss?.toFixed(5)} (best at tree ${p.bestIteration})`,
        );
      }
    },
  });
  const gbdtSeconds = (performance.now() - trainStarted) / 1000;
  if (result.stopReason === 'early-stopping') {
    progress(
      `early stopping after ${result.treesBuilt} trees: no improvement for ${params.earlyStoppingRounds}; keeping ${result.bestIteration}`,
    );
  } else if (result.stopReason === 'no-split') {
    progress(`stopped after ${result.treesBuilt} trees: no split meets the constraints any more`);
  }
  progress(`GBDT: ${result.bestIteration} trees in ${gbdtSeconds.toFixed(1)} s on ${result.threads} threads`);
  return { result, gbdtSeconds };
}

/**
 * The threshold: chosen on validation by the policy, then made robust to float32 scoring.
 * validRaw: the model's raw validation scores when training kept them (GbdtTrainingResult's,
 * the same numbers a prediction gives), else the validation rows are predicted here.
 */
export function chooseModelThreshold(
  model: GbdtModel,
  valid: TrainingPart,
  policy: ThresholdPolicy,
  validRaw?: Float64Array,
): { threshold: number; pValid: Float64Array } {
  const pValid = validRaw
    ? probabilities(validRaw)
    : predictProbability(model, toRowMajorFloat32(valid.columns, valid.numRows), valid.numRows);
  return { threshold: robustThreshold(chooseThreshold(valid.label, pValid, policy), pValid), pValid };
}

/**
 * The largest float32 number t' with every validation score below the chosen threshold t staying
 * below t', and every score >= t staying >= t': halfway between t and the next lower validation
 * score. Rows tied at exactly t (trees give many ties) are then far from the cut, so float32
 * onnxruntime and float64 trainer label them the same way.
 */
export function robustThreshold(t: number, validScores: ArrayLike<number>): number {
  let below = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < validScores.length; i++) {
    const p = validScores[i];
    if (p < t && p > below) below = p;
  }
  if (below === Number.NEGATIVE_INFINITY) return float32AtMost(t);
  const mid = float32AtMost((below + t) / 2);
  return mid > below ? mid : float32AtMost(t);
}

function float32AtMost(x: number): number {
  const f = Math.fround(x);
  if (f <= x) return f;
  const buf = new Float32Array([f]);
  const bits = new Uint32Array(buf.buffer);
  bits[0] += f > 0 ? -1 : 1;
  return buf[0];
}

export interface BaselineStage {
  baseline: LogisticModel;
  pTest: Float64Array;
  threshold: number;
  metrics: { test: BinaryMetrics; valid: BinaryMetrics };
}

/**
 * The logistic baseline on the same split, with its own threshold chosen the same way. With
 * `refitOn` (train + validation, when the GBDT is refit on small data) the baseline is refit on
 * those rows too, keeping the threshold and validation metrics of the train-only fit: the two
 * models then see the same rows and the gate compares like with like.
 */
export function fitBaseline(
  train: TrainingPart,
  valid: TrainingPart,
  test: TrainingPart,
  policy: ThresholdPolicy,
  seed: number,
  refitOn?: TrainingPart,
): BaselineStage {
  const fitted = fitLogistic(train.columns, train.label, { seed });
  const baselineValid = predictLogistic(fitted, valid.columns, valid.numRows);
  const baseline = refitOn ? fitLogistic(refitOn.columns, refitOn.label, { seed }) : fitted;
  const pTest = predictLogistic(baseline, test.columns, test.numRows);
  const threshold = chooseThreshold(valid.label, baselineValid, policy);
  return {
    baseline,
    pTest,
    threshold,
    metrics: {
      test: binaryMetrics(test.label, pTest, threshold),
      valid: binaryMetrics(valid.label, baselineValid, threshold),
    },
  };
}

/** Slices the card reports when present: age bands, and categorical applicant attributes. */
export const DEFAULT_SLICE_COLUMNS = [
  'age',
  'code_gender',
  'gender',
  'name_income_type',
  'income_type',
  'flag_own_car',
] as const;

export function ageBand(age: number): string {
  return Number.isNaN(age) ? 'missing' : ageBandOf(age);
}

export interface EvaluationStage {
  testMatrix: Float32Array;
  pTest: Float64Array;
  test: BinaryMetrics;
  valid: BinaryMetrics;
  /** Per slice column (age as ageBand), the test rows' group names. */
  slices: Record<string, string[]>;
  sliceResult: ReturnType<typeof sliceMetrics>;
}

/**
 * The test rows as the model takes them, and the model's probabilities on them, on `threads`
 * threads (what evaluateModel computes itself when not given them). `meanwhile`, when given, runs
 * on this thread while the workers score, and its value comes back with the scores
 * (predictForestWhile, ADR 0202).
 */
export async function scoreTest<T = undefined>(
  model: GbdtModel,
  test: TrainingPart,
  threads: number,
  meanwhile?: () => T | Promise<T>,
): Promise<{ testMatrix: Float32Array; pTest: Float64Array; meanwhile: T }> {
  const testMatrix = toRowMajorFloat32(test.columns, test.numRows);
  const scored = await predictProbabilityWhile(
    model,
    testMatrix,
    test.numRows,
    threads,
    meanwhile ?? (() => undefined as T),
  );
  return { testMatrix, pTest: scored.p, meanwhile: scored.meanwhile };
}

/**
 * The test rows' group names per slice column (age as ageBand): the columns given, or those of
 * DEFAULT_SLICE_COLUMNS the table has.
 */
export function testSlices(
  table: Table,
  testRows: Uint32Array,
  sliceColumns: readonly string[] | undefined,
  inputPath: string,
): Record<string, string[]> {
  const slices: Record<string, string[]> = {};
  for (const c of sliceColumns ?? DEFAULT_SLICE_COLUMNS) {
    const col = table.columns.get(c);
    if (!col) {
      if (sliceColumns) throw new InputError('UNKNOWN_COLUMN', `slice column "${c}" is not in ${inputPath}`);
      continue;
    }
    const values: string[] = [];
    for (const r of testRows) {
      if (col.kind === 'text') values.push(textAt(col, r) ?? 'missing');
      else if (c === 'age') values.push(ageBand(col.values[r]));
      else values.push(Number.isNaN(col.values[r]) ? 'missing' : String(col.values[r]));
    }
    slices[c === 'age' ? 'ageBand' : c] = values;
  }
  return slices;
}

/** Evaluation: test and validation metrics at the threshold, and test metrics by slice. */
export function evaluateModel(
  model: GbdtModel,
  options: {
    table: Table;
    testRows: Uint32Array;
    test: TrainingPart;
    valid: TrainingPart;
    pValid: Float64Array;
    threshold: number;
    sliceColumns?: readonly string[];
    inputPath: string;
    /** The model's test scores, already computed (scoreTest). */
    scored?: { testMatrix: Float32Array; pTest: Float64Array };
    /** testSlices of these options, already computed. */
    slices?: Record<string, string[]>;
  },
): EvaluationStage {
  const { test, valid, threshold, table } = options;
  const testMatrix = options.scored?.testMatrix ?? toRowMajorFloat32(test.columns, test.numRows);
  const pTest = options.scored?.pTest ?? predictProbability(model, testMatrix, test.numRows);
  const slices =
    options.slices ?? testSlices(table, options.testRows, options.sliceColumns, options.inputPath);
  return {
    testMatrix,
    pTest,
    test: binaryMetrics(test.label, pTest, threshold),
    valid: binaryMetrics(valid.label, options.pValid, threshold),
    slices,
    sliceResult: sliceMetrics(test.label, pTest, threshold, slices),
  };
}

/**
 * Explanation: exact TreeSHAP (lib/model/shap.ts) of the test rows, summarised per feature (mean
 * |SHAP|, the points of a beeswarm) for the card and the report. At most `maxRows` rows, evenly
 * spaced over the test split: the summary's means settle long before (docs/adr/0125), and the
 * whole split of a 777k-row table cost 2.3 CPU s of a 4 s training. `meanwhile.run`, when given,
 * runs on this thread while the pool's workers explain (ShapPool.explainRowsWhile, ADR 0202); the
 * progress line names it by `meanwhile.label`, since its time is in the line's.
 */
export async function explainTest<T = undefined>(
  model: GbdtModel,
  options: {
    featureNames: readonly string[];
    testMatrix: Float32Array;
    rows: number;
    threads: number;
    maxRows?: number;
    progress: Progress;
    meanwhile?: { run: () => T | Promise<T>; label: string };
  },
): Promise<{ shap: ShapSummary; meanwhile: T }> {
  const { featureNames, testMatrix, rows } = options;
  const started = performance.now();
  const F = featureNames.length;
  const take = Math.min(rows, options.maxRows ?? 20_000);
  let matrix = testMatrix;
  if (take < rows) {
    matrix = new Float32Array(take * F);
    for (let i = 0; i < take; i++) {
      const r = Math.floor((i * rows) / take);
      matrix.set(testMatrix.subarray(r * F, (r + 1) * F), i * F);
    }
  }
  const explainer = TreeShapExplainer.fromModel(model, { featureNames: [...featureNames] });
  const pool = new ShapPool(explainer.kernel, options.threads);
  let explained: { contributions: Float64Array; meanwhile: T };
  try {
    explained = await pool.explainRowsWhile(matrix, take, options.meanwhile?.run ?? (() => undefined as T));
  } finally {
    await pool.close();
  }
  const shap = shapSummary(explained.contributions, matrix, take, featureNames);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const top = shap.importance
    .slice(0, 3)
    .map((r) => r.feature)
    .join(', ');
  const beside = options.meanwhile ? ` (${options.meanwhile.label} beside it)` : '';
  options.progress(
    `SHAP: ${take.toLocaleString('en-US')} of ${rows.toLocaleString('en-US')} test rows explained in ${seconds} s on ${options.threads} threads${beside}; top features by mean |SHAP|: ${top}`,
  );
  return { shap, meanwhile: explained.meanwhile };
}

/**
 * Tables with at most this many rows are "small": the final model is refit on train + validation
 * with the early-stopped tree count (docs/adr/0142-small-data-refit.md). Below it the validation
 * split is at most 7,500 rows, a sixth of what the model could learn from; above it the refit
 * doubles training time for a gain too small to measure.
 */
export const SMALL_DATA_MAX_ROWS = 50_000;

/** Train and validation parts as one (the refit's training rows). */
export function concatParts(a: TrainingPart, b: TrainingPart): TrainingPart {
  const columns = a.columns.map((col, j) => {
    const out = new Float64Array(a.numRows + b.numRows);
    out.set(col);
    out.set(b.columns[j], a.numRows);
    return out;
  });
  const label = new Uint8Array(a.numRows + b.numRows);
  label.set(a.label);
  label.set(b.label, a.numRows);
  return { numRows: a.numRows + b.numRows, columns, label };
}

/**
 * Small-data refit: the early-stopped tree count, then a second fit on train + validation with
 * exactly that many trees and no early stopping. Returns null when the policy says no.
 */
export async function refitStage(
  train: TrainingPart,
  valid: TrainingPart,
  params: GbdtParams,
  bestIteration: number,
  options: { policy: 'auto' | 'always' | 'never'; tableRows: number; progress: Progress },
): Promise<{ result: GbdtTrainingResult; combined: TrainingPart; summary: RefitSummary } | null> {
  const apply =
    options.policy === 'always' || (options.policy === 'auto' && options.tableRows <= SMALL_DATA_MAX_ROWS);
  if (!apply || bestIteration < 1) return null;
  const combined = concatParts(train, valid);
  options.progress(
    `small data (${options.tableRows} rows <= ${SMALL_DATA_MAX_ROWS} or refit forced): refitting ${bestIteration} trees on train + validation (${combined.numRows} rows)`,
  );
  const result = await trainGbdt(combined, {
    params: { ...params, numTrees: bestIteration, earlyStoppingRounds: 0 },
  });
  return {
    result,
    combined,
    summary: {
      policy: options.policy,
      smallDataMaxRows: SMALL_DATA_MAX_ROWS,
      applied: true,
      method: `refit on train + validation (${combined.numRows} rows) with the ${bestIteration} trees early stopping chose on validation; threshold and validation metrics from the train-only fit`,
      trees: result.bestIteration,
      rows: combined.numRows,
    },
  };
}

/** The group of each test row for every protected attribute (missing values are "missing"). */
export function protectedGroups(
  table: Table,
  columns: readonly string[],
  rows: Uint32Array,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of columns) {
    const col = table.columns.get(c);
    if (!col) continue;
    out[c] = Array.from(rows, (r) => {
      if (col.kind === 'text') return textAt(col, r) ?? 'missing';
      const v = col.values[r];
      return Number.isNaN(v) ? 'missing' : col.kind === 'date' ? isoDay(v) : String(v);
    });
  }
  return out;
}

/** Fairness on the test rows: per protected attribute, per group (approve = prediction 0). */
export function measureFairness(
  groups: Record<string, string[]>,
  y: Uint8Array,
  p: Float64Array,
  threshold: number,
): FairnessReport | undefined {
  if (Object.keys(groups).length === 0) return undefined;
  return fairnessByAttribute(y, p, threshold, groups);
}

/** Credit views of the test scores, with losses when the table has the named amount column. */
export function measureCreditViews(
  table: Table,
  testRows: Uint32Array,
  y: Uint8Array,
  p: Float64Array,
  threshold: number,
  amountColumn?: string,
): CreditViews {
  const col = amountColumn ? table.columns.get(amountColumn) : undefined;
  if (amountColumn && (!col || col.kind === 'text'))
    throw new InputError(
      'UNKNOWN_COLUMN',
      `amount column "${amountColumn}" is not a numeric column of the table`,
    );
  const amounts = col && col.kind !== 'text' ? take(col.values, testRows) : undefined;
  return creditViews(y, p, threshold, { amounts, amountColumn });
}

/** Validation rows the permutation importance uses at most (a seeded, class-stratified sample beyond). */
export const PERMUTATION_MAX_ROWS = 5_000;

/**
 * Permutation importance on the validation split: shuffle one feature's values among the rows
 * (seeded), score again, and record the AUC lost and the logloss gained. A feature whose
 * shuffling costs nothing does not help the model (ML Test Score, "all features are beneficial").
 * Beyond maxRows the sample keeps up to half positives: AUC does not depend on the class ratio,
 * and with a 3% bad rate 5,000 such rows hold 2,500 bad loans where a plain 20,000-row sample
 * held 600. Each feature scores the sample once more: on the 777,715-row snapshot (7 features,
 * 110 trees) 10,000 rows cost 0.37-0.40 s of CPU, most of what the new card sections added to
 * `credit-risk train`; 5,000 rows halve it.
 */
export function permutationImportance(
  model: GbdtModel,
  valid: TrainingPart,
  featureNames: readonly string[],
  seed: number,
  maxRows = PERMUTATION_MAX_ROWS,
): NonNullable<ModelCard['featureValue']> {
  const prng = new Prng(seed ^ 0x5eed);
  const rows = stratifiedSample(valid.label, maxRows, prng);
  const stratified = rows.length < valid.numRows;
  const n = rows.length;
  const columns = valid.columns.map((c) => take(c, rows));
  const y = Uint8Array.from(take(valid.label, rows));
  const F = columns.length;
  const matrix = toRowMajorFloat32(columns, n);
  const base = binaryMetrics(y, predictProbability(model, matrix, n), 0.5);
  const features: PermutationImportance[] = [];
  const shuffled = new Uint32Array(n);
  for (let j = 0; j < F; j++) {
    for (let i = 0; i < n; i++) shuffled[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const k = prng.nextInt(i + 1);
      const t = shuffled[i];
      shuffled[i] = shuffled[k];
      shuffled[k] = t;
    }
    const original = new Float32Array(n);
    for (let i = 0; i < n; i++) original[i] = matrix[i * F + j];
    for (let i = 0; i < n; i++) matrix[i * F + j] = original[shuffled[i]];
    const m = binaryMetrics(y, predictProbability(model, matrix, n), 0.5, { reuse: false });
    for (let i = 0; i < n; i++) matrix[i * F + j] = original[i];
    features.push({
      feature: featureNames[j],
      aucDrop: base.auc - m.auc,
      loglossRise: m.logloss - base.logloss,
    });
  }
  features.sort((a, b) => b.aucDrop - a.aucDrop || a.feature.localeCompare(b.feature));
  return {
    method: `permutation on ${stratified ? `a seeded sample of ${n} rows (${y.reduce((t, v) => t + v, 0)} bad: up to half) of the` : 'the'} validation split (${valid.numRows} rows), one shuffle per feature`,
    rows: n,
    baselineAuc: base.auc,
    features,
    notHelping: features.filter((f) => !(f.aucDrop >= 0.0005)).map((f) => f.feature),
  };
}

/** Up to maxRows row indices, sorted: every row when there are fewer, else up to half positives. */
function stratifiedSample(label: Uint8Array, maxRows: number, prng: Prng): Uint32Array {
  const n = label.length;
  if (n <= maxRows) return Uint32Array.from({ length: n }, (_, i) => i);
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < n; i++) (label[i] === 1 ? pos : neg).push(i);
  const kp = Math.min(pos.length, Math.floor(maxRows / 2));
  const kn = Math.min(neg.length, maxRows - kp);
  const out = [
    ...Array.from(prng.sampleSorted(pos.length, kp), (k) => pos[k]),
    ...Array.from(prng.sampleSorted(neg.length, kn), (k) => neg[k]),
  ];
  return Uint32Array.from(out).sort();
}

/**
 * The card's reference distribution of each feature (drift monitoring's baseline): the final
 * model's bins and bin counts, and the rows those bins were built on (train, or train +
 * validation after a refit).
 */
export function featureReferences(
  selection: FeatureSelection,
  boosted: GbdtTrainingResult,
  columns: readonly ArrayLike<number>[],
): FeatureReference[] {
  return selection.featureNames.map((f, j) =>
    featureReference(f, boosted.model.binEdges[j], boosted.binCounts[j], columns[j]),
  );
}

/** The card: everything a reviewer needs to know about the model and how it was made. */
export function buildCard(input: {
  name: string;
  version: string;
  target: string;
  inputPath: string;
  rows: number;
  snapshotId: string | null;
  manifestSha256: string | null;
  codeVersion: string | null;
  seed: number;
  params: GbdtParams;
  selection: FeatureSelection;
  boosted: GbdtTrainingResult;
  wallSeconds: number;
  splitStage: SplitStage;
  timeColumn: string | null;
  fractions: SplitFractions;
  threshold: number;
  policy: ThresholdPolicy;
  evaluation: EvaluationStage;
  baseline: BaselineStage;
  importance: Array<FeatureImportance & { meanAbsShap: number }>;
  shap: ShapSummary;
  refit?: RefitSummary;
  featureValue?: ModelCard['featureValue'];
  fairness?: FairnessReport;
  credit?: CreditViews;
  lineage?: ModelLineage;
  /** featureReferences of the final model. */
  reference: FeatureReference[];
}): ModelCard {
  const { boosted: result, baseline, evaluation, selection, splitStage } = input;
  const { numThreads: _threads, ...paramsForCard } = input.params;
  const policy = input.policy;
  return {
    schemaVersion: CARD_SCHEMA_VERSION,
    name: input.name,
    version: input.version,
    createdAt: new Date().toISOString(),
    algorithm: 'histogram-gbdt',
    features: selection.featureNames,
    target: input.target,
    idColumns: selection.idColumns,
    data: {
      input: basename(input.inputPath),
      rows: input.rows,
      snapshotId: input.snapshotId,
      manifestSha256: input.manifestSha256,
    },
    codeVersion: input.codeVersion,
    seed: input.seed,
    params: paramsForCard,
    training: {
      trees: result.bestIteration,
      treesBuilt: result.treesBuilt,
      stopReason: result.stopReason,
      wallSeconds: input.wallSeconds,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      threads: result.threads,
      positiveWeight: result.positiveWeight,
      validLogloss: result.history.map((h) => h.validLogloss ?? Number.NaN),
      ...(input.refit ? { refit: input.refit } : {}),
    },
    split: {
      kind: splitStage.split.kind,
      timeColumn: input.timeColumn,
      fractions: input.fractions,
      seed: input.seed,
      ...splitStage.parts,
    },
    threshold: input.threshold,
    thresholdPolicy: {
      policy,
      chosenOn: 'validation',
      description:
        (policy.kind === 'max-f1'
          ? 'maximise F1 on the validation split'
          : policy.kind === 'cost'
            ? `minimise ${policy.falseNegativeCost} x FN + ${policy.falsePositiveCost} x FP on the validation split`
            : `fixed at ${policy.value}`) +
        ', then moved halfway to the next lower validation score (a float32 number)',
    },
    metrics: { test: evaluation.test, valid: evaluation.valid, slices: evaluation.sliceResult },
    baseline: {
      name: 'logistic-regression',
      description: `L2 (1e-4) logistic regression on standardised features, mean-imputed with ${baseline.baseline.indicatorOf.length} missing-value indicators; Newton's method, ${baseline.baseline.iterations} iterations${baseline.baseline.warmStartIterations > 0 ? ` (the Hessian of a 1-in-8 sample) after ${baseline.baseline.warmStartIterations} on that sample` : ''}; its own max-F1 validation threshold`,
      metrics: baseline.metrics,
      verdict: baselineVerdict(evaluation.test.auc, baseline.metrics.test.auc),
    },
    importance: input.importance,
    shap: { rows: input.shap.rows, bias: input.shap.bias, algorithm: 'path-dependent TreeSHAP' },
    ...(input.featureValue ? { featureValue: input.featureValue } : {}),
    ...(input.fairness ? { fairness: input.fairness } : {}),
    ...(input.credit ? { credit: input.credit } : {}),
    ...(input.lineage ? { lineage: input.lineage } : {}),
    reference: input.reference,
    onnx: {
      irVersion: ONNX_IR_VERSION,
      opset: ONNX_OPSET,
      mlOpset: ONNX_ML_OPSET,
      input: INPUT_NAME,
      outputs: [LABEL_OUTPUT, PROBABILITIES_OUTPUT],
    },
  };
}

/** The report: report.html from the card and the test rows' scores. */
export function buildReport(input: {
  card: ModelCard;
  params: GbdtParams;
  splitStage: SplitStage;
  evaluation: EvaluationStage;
  baseline: BaselineStage;
  shap?: ShapSummary;
}): string {
  const { card, splitStage, evaluation, baseline } = input;
  const { numThreads: _threads, ...paramsForCard } = input.params;
  const parts = splitStage.parts;
  const fractions = card.split.fractions;
  return renderReport({
    card: {
      name: card.name,
      version: card.version,
      createdAt: card.createdAt,
      threshold: card.threshold,
      thresholdPolicy: card.thresholdPolicy.description,
      features: card.features,
      params: paramsForCard as unknown as Record<string, unknown>,
      seed: card.seed,
      snapshotId: card.data.snapshotId ?? undefined,
      codeVersion: card.codeVersion ?? undefined,
      trees: card.training.trees,
      trainSeconds: card.training.wallSeconds,
      peakRssBytes: card.training.peakRssBytes,
      split:
        splitStage.split.kind === 'out-of-time'
          ? `out-of-time by ${card.split.timeColumn}: train ${parts.train.from}..${parts.train.to}, validation ${parts.valid.from}..${parts.valid.to}, test ${parts.test.from}..${parts.test.to}`
          : `random (seed ${card.seed}): ${fractions.train} / ${fractions.valid} / ${fractions.test}`,
    },
    test: { y: splitStage.test.label, p: evaluation.pTest },
    testMetrics: evaluation.test,
    baseline: {
      name: 'logistic regression',
      p: baseline.pTest,
      threshold: baseline.threshold,
      metrics: baseline.metrics.test,
    },
    slices: evaluation.slices,
    sliceMetrics: evaluation.sliceResult,
    importance: card.importance,
    shap: input.shap,
    generatedAt: card.createdAt,
    tuning: card.tuning,
    staleness: card.staleness,
    fairness: card.fairness,
    credit: card.credit,
    featureValue: card.featureValue,
    lineage: card.lineage,
    refit: card.training.refit,
  });
}
