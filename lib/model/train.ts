import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import {
  baselineVerdict,
  CARD_SCHEMA_VERSION,
  featureReference,
  type ModelCard,
  type SplitPart,
} from './card.ts';
import { featureImportance } from './explain.ts';
import {
  predictProbability,
  toRowMajorFloat32,
  trainGbdt,
  type GbdtModel,
  type GbdtProgress,
} from './gbdt/booster.ts';
import { resolveParams, type GbdtParams } from './gbdt/params.ts';
import { fitLogistic, predictLogistic } from './logistic.ts';
import { binaryMetrics, chooseThreshold, sliceMetrics, type ThresholdPolicy } from './metrics.ts';
import {
  exportOnnx,
  INPUT_NAME,
  LABEL_OUTPUT,
  ONNX_IR_VERSION,
  ONNX_ML_OPSET,
  ONNX_OPSET,
  PROBABILITIES_OUTPUT,
} from './onnx-export.ts';
import { renderReport } from './report.ts';
import {
  DEFAULT_SPLIT_FRACTIONS,
  outOfTimeSplit,
  randomSplit,
  take,
  type Split,
  type SplitFractions,
} from './split.ts';
import { isoDay, readTable, type NumericColumn, type Table } from './table.ts';

/**
 * trainModel: table in, model.onnx + card.json + report.html out. What `credit-risk train` and
 * the train Lambda both call. Steps: read and check the table, split (out of time when there is
 * a time column, else random by seed), train the GBDT with early stopping on validation, fit the
 * logistic baseline on the same split, choose the threshold on validation, export ONNX, score
 * test, and write the card and the report.
 */
export interface TrainModelOptions {
  /** A .parquet or .csv path, or a table already read. */
  input: string | Table;
  /** The 0/1 label column; default: the label of the snapshot manifest next to the input. */
  target?: string;
  /** Out-of-time split by this column; default: the manifest's time column; null forces random. */
  timeColumn?: string | null;
  /** Columns that are neither features nor target (ids); the manifest's ids are added. */
  ignore?: readonly string[];
  seed?: number;
  params?: Partial<GbdtParams>;
  fractions?: SplitFractions;
  thresholdPolicy?: ThresholdPolicy;
  name?: string;
  /** Columns to slice test metrics by (default: whichever of DEFAULT_SLICE_COLUMNS exist). */
  sliceColumns?: readonly string[];
  /** Overrides the manifest's snapshot id. */
  snapshotId?: string;
  codeVersion?: string | null;
  /** Progress lines (for stderr). */
  onProgress?: (line: string) => void;
  /** Report validation logloss every this many trees. */
  progressEvery?: number;
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

export interface TrainedModel {
  modelBytes: Uint8Array;
  version: string;
  card: ModelCard;
  reportHtml: string;
  model: GbdtModel;
  featureNames: string[];
  /** The test split as the model saw it, with the trainer's own probabilities. */
  testPredictions: {
    /** Row numbers (0-based) in the input table. */
    rows: Uint32Array;
    y: Uint8Array;
    p: Float64Array;
    /** The id columns' values for those rows. */
    ids: Record<string, (string | number)[]>;
    /** Row-major float32 feature matrix of the test rows (what model.onnx takes). */
    matrix: Float32Array;
  };
  /** Every numeric column of the test rows, by name (for staging a candidate: the champion may need other columns). */
  testColumns: Record<string, Float32Array>;
}

interface ManifestInfo {
  ids: string[];
  time: string | null;
  label: string | null;
  snapshotId: string | null;
  sha256: string;
}

/** The manifest.json `features build` writes next to its table, if there is one. */
export function readManifestNextTo(tablePath: string): ManifestInfo | undefined {
  const path = join(dirname(tablePath), 'manifest.json');
  if (!existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new InputError('BAD_MANIFEST', `${path} is not valid JSON`);
  }
  const columns = Array.isArray(m.columns) ? (m.columns as { name?: unknown; role?: unknown }[]) : [];
  const byRole = (role: string) =>
    columns.filter((c) => c.role === role && typeof c.name === 'string').map((c) => c.name as string);
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : null);
  const ids = byRole('id');
  const idsField = Array.isArray(m.idColumns)
    ? (m.idColumns as unknown[]).filter((x): x is string => typeof x === 'string')
    : [];
  return {
    ids: ids.length > 0 ? ids : idsField,
    time: byRole('time')[0] ?? str(m.timeColumn),
    label: byRole('label')[0] ?? str(m.labelColumn),
    snapshotId: str(m.snapshotId) ?? str(m.snapshot) ?? str(m.id),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

function ageBand(age: number): string {
  if (Number.isNaN(age)) return 'missing';
  if (age < 25) return '<25';
  if (age < 35) return '25-34';
  if (age < 45) return '35-44';
  if (age < 55) return '45-54';
  if (age < 65) return '55-64';
  return '65+';
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

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function trainModel(options: TrainModelOptions): Promise<TrainedModel> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => {});
  const inputPath = typeof options.input === 'string' ? options.input : options.input.path;
  const manifest = readManifestNextTo(inputPath);
  const table = typeof options.input === 'string' ? await readTable(options.input) : options.input;
  progress(
    `read ${table.numRows.toLocaleString('en-US')} rows x ${table.schema.length} columns from ${basename(inputPath)}`,
  );
  if (table.numRows === 0) throw new InputError('EMPTY_TABLE', `${inputPath} has no rows`);

  const target = options.target ?? manifest?.label ?? undefined;
  if (!target)
    throw new InputError(
      'MISSING_TARGET',
      'no --target given and no manifest.json next to the table names a label column',
    );
  const columnNames = table.schema.map((c) => c.name);
  const targetColumn = table.columns.get(target);
  if (!targetColumn) {
    throw new InputError(
      'MISSING_TARGET',
      `${inputPath} has no target column "${target}" (columns: ${columnNames.join(', ')})`,
    );
  }
  if (targetColumn.kind === 'text') {
    const example = targetColumn.values.find((v) => v !== null);
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

  const timeColumn = options.timeColumn === null ? null : (options.timeColumn ?? manifest?.time ?? null);
  if (timeColumn !== null && !table.columns.has(timeColumn)) {
    throw new InputError(
      'UNKNOWN_COLUMN',
      `${inputPath} has no time column "${timeColumn}" (columns: ${columnNames.join(', ')})`,
    );
  }
  for (const c of options.ignore ?? []) {
    if (!table.columns.has(c))
      throw new InputError('UNKNOWN_COLUMN', `--ignore names "${c}", which ${inputPath} does not have`);
  }
  const idColumns = [
    ...new Set([...(manifest?.ids ?? []).filter((c) => table.columns.has(c)), ...(options.ignore ?? [])]),
  ];
  const notFeatures = new Set<string>([target, ...idColumns, ...(timeColumn ? [timeColumn] : [])]);
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
          ? `text (e.g. ${JSON.stringify(col.values.find((v) => v !== null && v !== ''))})`
          : `a ${col?.sqlType ?? 'non-numeric'} column`;
      throw new InputError(
        'NON_NUMERIC_FEATURE',
        `feature column "${name}" is not numeric: it is ${what}. Encode it as numbers, or pass --ignore ${name}${col?.kind === 'date' ? ` (or --time-column ${name})` : ''}`,
        { column: name },
      );
    }
    featureColumns.push(col.values);
  }

  const seed = options.seed ?? resolveParams(options.params).seed;
  const params = resolveParams({ ...options.params, seed });
  const fractions = options.fractions ?? DEFAULT_SPLIT_FRACTIONS;
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
    split = randomSplit(table.numRows, seed, fractions);
  }
  const part = (rows: Uint32Array) => ({
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
  const splitParts = {
    train: describePart(split.train, train.label),
    valid: describePart(split.valid, valid.label),
    test: describePart(split.test, test.label),
  };
  for (const [name, p] of Object.entries(splitParts)) {
    if (p.positives === 0 || p.positives === p.rows) {
      throw new InputError(
        'SINGLE_CLASS',
        `the ${name} split (${p.rows} rows) has a single class; use a larger table or other --split fractions`,
      );
    }
  }
  progress(
    `split ${split.kind}${timeColumn ? ` by ${timeColumn}` : ` (seed ${seed})`}: train ${train.numRows}, validation ${valid.numRows}, test ${test.numRows} rows; ${featureNames.length} features`,
  );

  const every = options.progressEvery ?? 25;
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

  const model = result.model;
  const validMatrix = toRowMajorFloat32(valid.columns, valid.numRows);
  const pValid = predictProbability(model, validMatrix, valid.numRows);
  const policy: ThresholdPolicy = options.thresholdPolicy ?? { kind: 'max-f1' };
  const threshold = robustThreshold(chooseThreshold(valid.label, pValid, policy), pValid);

  const baseline = fitLogistic(train.columns, train.label, { seed });
  const baselineValid = predictLogistic(baseline, valid.columns, valid.numRows);
  const baselineTest = predictLogistic(baseline, test.columns, test.numRows);
  const baselineThreshold = chooseThreshold(valid.label, baselineValid, policy);

  const name = options.name ?? 'credit-risk';
  const modelBytes = exportOnnx(model, { featureNames, threshold, metadata: { name } });
  const version = sha256(modelBytes);

  const testMatrix = toRowMajorFloat32(test.columns, test.numRows);
  const pTest = predictProbability(model, testMatrix, test.numRows);
  const testMetrics = binaryMetrics(test.label, pTest, threshold);
  const validMetrics = binaryMetrics(valid.label, pValid, threshold);

  const slices: Record<string, string[]> = {};
  for (const c of options.sliceColumns ?? DEFAULT_SLICE_COLUMNS) {
    const col = table.columns.get(c);
    if (!col) {
      if (options.sliceColumns)
        throw new InputError('UNKNOWN_COLUMN', `slice column "${c}" is not in ${inputPath}`);
      continue;
    }
    const values: string[] = [];
    for (const r of split.test) {
      if (col.kind === 'text') values.push(col.values[r] ?? 'missing');
      else if (c === 'age') values.push(ageBand(col.values[r]));
      else values.push(Number.isNaN(col.values[r]) ? 'missing' : String(col.values[r]));
    }
    slices[c === 'age' ? 'ageBand' : c] = values;
  }
  const sliceResult = sliceMetrics(test.label, pTest, threshold, slices);

  const importance = featureImportance(model, featureNames);

  const baselineMetrics = {
    test: binaryMetrics(test.label, baselineTest, baselineThreshold),
    valid: binaryMetrics(valid.label, baselineValid, baselineThreshold),
  };
  const { numThreads: _threads, ...paramsForCard } = params;
  const wallSeconds = (performance.now() - started) / 1000;
  const card: ModelCard = {
    schemaVersion: CARD_SCHEMA_VERSION,
    name,
    version,
    createdAt: new Date().toISOString(),
    algorithm: 'histogram-gbdt',
    features: featureNames,
    target,
    idColumns,
    data: {
      input: basename(inputPath),
      rows: table.numRows,
      snapshotId: options.snapshotId ?? manifest?.snapshotId ?? null,
      manifestSha256: manifest?.sha256 ?? null,
    },
    codeVersion: options.codeVersion ?? process.env.CODE_VERSION ?? null,
    seed,
    params: paramsForCard,
    training: {
      trees: result.bestIteration,
      treesBuilt: result.treesBuilt,
      stopReason: result.stopReason,
      wallSeconds,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      threads: result.threads,
      positiveWeight: result.positiveWeight,
      validLogloss: result.history.map((h) => h.validLogloss ?? Number.NaN),
    },
    split: { kind: split.kind, timeColumn, fractions, seed, ...splitParts },
    threshold,
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
    metrics: { test: testMetrics, valid: validMetrics, slices: sliceResult },
    baseline: {
      name: 'logistic-regression',
      description: `L2 (1e-4) logistic regression on standardised features, mean-imputed with ${baseline.indicatorOf.length} missing-value indicators; Newton's method, ${baseline.iterations} iterations${baseline.warmStartIterations > 0 ? ` after ${baseline.warmStartIterations} on a 1-in-8 sample` : ''}; its own max-F1 validation threshold`,
      metrics: baselineMetrics,
      verdict: baselineVerdict(testMetrics.auc, baselineMetrics.test.auc),
    },
    importance,
    reference: featureNames.map((f, j) =>
      featureReference(f, model.binEdges[j], result.binCounts[j], train.columns[j]),
    ),
    onnx: {
      irVersion: ONNX_IR_VERSION,
      opset: ONNX_OPSET,
      mlOpset: ONNX_ML_OPSET,
      input: INPUT_NAME,
      outputs: [LABEL_OUTPUT, PROBABILITIES_OUTPUT],
    },
  };
  progress(
    `test AUC ${testMetrics.auc.toFixed(4)} (baseline ${baselineMetrics.test.auc.toFixed(4)}), threshold ${threshold.toPrecision(6)}`,
  );

  const reportHtml = renderReport({
    card: {
      name,
      version,
      createdAt: card.createdAt,
      threshold,
      thresholdPolicy: card.thresholdPolicy.description,
      features: featureNames,
      params: paramsForCard as unknown as Record<string, unknown>,
      seed,
      snapshotId: card.data.snapshotId ?? undefined,
      codeVersion: card.codeVersion ?? undefined,
      trees: result.bestIteration,
      trainSeconds: wallSeconds,
      peakRssBytes: card.training.peakRssBytes,
      split:
        split.kind === 'out-of-time'
          ? `out-of-time by ${timeColumn}: train ${splitParts.train.from}..${splitParts.train.to}, validation ${splitParts.valid.from}..${splitParts.valid.to}, test ${splitParts.test.from}..${splitParts.test.to}`
          : `random (seed ${seed}): ${fractions.train} / ${fractions.valid} / ${fractions.test}`,
    },
    test: { y: test.label, p: pTest },
    baseline: { name: 'logistic regression', p: baselineTest, threshold: baselineThreshold },
    slices,
    importance,
    generatedAt: card.createdAt,
  });

  const ids: Record<string, (string | number)[]> = {};
  for (const c of idColumns) {
    const col = table.columns.get(c);
    if (!col) continue;
    ids[c] = Array.from(split.test, (r) => (col.kind === 'text' ? (col.values[r] ?? '') : col.values[r]));
  }
  const testColumns: Record<string, Float32Array> = {};
  for (const [c, col] of table.columns) {
    if (col.kind !== 'numeric' || c === target) continue;
    testColumns[c] = Float32Array.from(split.test, (r) => col.values[r]);
  }
  return {
    modelBytes,
    version,
    card,
    reportHtml,
    model,
    featureNames,
    testPredictions: { rows: split.test, y: test.label, p: pTest, ids, matrix: testMatrix },
    testColumns,
  };
}

/** Writes DIR/model.onnx, card.json and report.html (each via a temp file and a rename). */
export async function writeModelDirectory(dir: string, trained: TrainedModel): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files: [string, Uint8Array | string][] = [
    ['model.onnx', trained.modelBytes],
    ['card.json', JSON.stringify(trained.card, null, 2) + '\n'],
    ['report.html', trained.reportHtml],
  ];
  for (const [file, body] of files) {
    const tmp = join(dir, `.${file}.tmp-${process.pid}`);
    await writeFile(tmp, body);
    await rename(tmp, join(dir, file));
  }
}

/**
 * The train step of the pipeline in one call (what functions/train's TrainFn needs): trains on a
 * local table, writes the model directory and returns the test split with the model's scores and
 * every numeric column (so the evaluate step can score the champion on the same rows).
 */
export async function trainToDirectory(request: {
  input: string;
  out: string;
  seed?: number;
  params?: Record<string, unknown>;
  snapshotId?: string;
  onProgress?: (line: string) => void;
}): Promise<{
  trained: TrainedModel;
  testSet: { columns: Record<string, Float32Array>; y: Uint8Array; p: Float64Array };
}> {
  const trained = await trainModel({
    input: request.input,
    seed: request.seed,
    params: request.params as Partial<GbdtParams> | undefined,
    snapshotId: request.snapshotId,
    onProgress: request.onProgress,
  });
  await writeModelDirectory(request.out, trained);
  return {
    trained,
    testSet: { columns: trained.testColumns, y: trained.testPredictions.y, p: trained.testPredictions.p },
  };
}
