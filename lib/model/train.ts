import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import type { ModelCard, ModelLineage, RefitPolicy } from './card.ts';
import { featureImportance } from './explain.ts';
import {
  EXPLAINER_DIGEST_KEY,
  EXPLAINER_FILE,
  encodeExplainer,
  explainerDigest,
} from './explainer-artifact.ts';
import { libraryVersions, resolveCodeVersion } from './lineage.ts';
import type { GbdtModel } from './gbdt/booster.ts';
import { resolveParams, type GbdtParams } from './gbdt/params.ts';
import type { ThresholdPolicy } from './metrics.ts';
import { exportOnnx } from './onnx-export.ts';
import { DEFAULT_SPLIT_FRACTIONS, take, takeFloat32, type SplitFractions } from './split.ts';
import { stalenessByMonth, type StalenessRecord } from './staleness.ts';
import { isoDay, readTable, textAt, type Table } from './table.ts';
import {
  boost,
  buildCard,
  buildReport,
  checkTarget,
  chooseModelThreshold,
  evaluateModel,
  explainTest,
  featureReferences,
  fitBaseline,
  measureCreditViews,
  measureFairness,
  permutationImportance,
  protectedGroups,
  refitStage,
  scoreTest,
  selectFeatures,
  SMALL_DATA_MAX_ROWS,
  splitRows,
  testSlices,
} from './train-stages.ts';
import type { TuningRecord } from './tuning-plan.ts';

/**
 * trainModel: table in, model.onnx + explainer.json + card.json + report.html out. What
 * `credit-risk train` and the train Lambda both call. Steps: read and check the table, split (out
 * of time when there is a time column, else random by seed), train the GBDT with early stopping on
 * validation, fit the logistic baseline on the same split, choose the threshold on validation,
 * write the explainer and export ONNX (naming the explainer's sha256), score and explain test
 * (SHAP), and write the card and the report.
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
  /** Protected attributes to measure fairness by (never features); default: the manifest's. */
  protectedColumns?: readonly string[];
  /** Refit on train + validation: "auto" (tables of at most SMALL_DATA_MAX_ROWS rows), "always", "never". */
  refit?: RefitPolicy;
  /** A loan-amount column of the table, for the expected loss of the cutoff table. */
  amountColumn?: string;
  /** The run that trains the model (the Step Functions execution name in the pipeline). */
  runId?: string | null;
  /** Progress lines (for stderr). */
  onProgress?: (line: string) => void;
  /** Report validation logloss every this many trees. */
  progressEvery?: number;
  /** The search that chose `params`, kept on the card (lib/model/tuning.ts). */
  tuning?: TuningRecord;
}

export { DEFAULT_SLICE_COLUMNS, robustThreshold } from './train-stages.ts';

export interface TrainedModel {
  modelBytes: Uint8Array;
  /** explainer.json (lib/model/explainer-artifact.ts); model.onnx carries its sha256, so the version covers it. */
  explainerBytes: Uint8Array;
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
  /** Columns with the "protected" role. */
  protected: string[];
  /** sha256 of the raw input the snapshot was built from. */
  inputSha256: string | null;
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
  const input = m.input && typeof m.input === 'object' ? (m.input as Record<string, unknown>) : {};
  const idsField = Array.isArray(m.idColumns)
    ? (m.idColumns as unknown[]).filter((x): x is string => typeof x === 'string')
    : [];
  return {
    ids: ids.length > 0 ? ids : idsField,
    time: byRole('time')[0] ?? str(m.timeColumn),
    label: byRole('label')[0] ?? str(m.labelColumn),
    snapshotId: str(m.snapshotId) ?? str(m.snapshot) ?? str(m.id),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    protected: byRole('protected'),
    inputSha256: str(input.sha256),
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What loadTrainingTable reads and checks (trainModel's and the tuning trials' common options). */
export interface TrainingTableOptions {
  input: string | Table;
  target?: string;
  timeColumn?: string | null;
  ignore?: readonly string[];
  protectedColumns?: readonly string[];
}

/**
 * The table, its manifest, the label and the feature selection: the checks trainModel and the
 * tuning trials (tuning.ts prepareTrialData) share, so a trial trains on exactly what the final
 * model will. `onRead` hears of the table before it is checked; `targetHint` names, in the
 * missing-target error, how the caller's user gives the target.
 */
export async function loadTrainingTable(
  options: TrainingTableOptions,
  hooks: { onRead?: (table: Table, inputPath: string) => void; targetHint?: string } = {},
) {
  const inputPath = typeof options.input === 'string' ? options.input : options.input.path;
  const manifest = readManifestNextTo(inputPath);
  const table = typeof options.input === 'string' ? await readTable(options.input) : options.input;
  hooks.onRead?.(table, inputPath);
  if (table.numRows === 0) throw new InputError('EMPTY_TABLE', `${inputPath} has no rows`);
  const target = options.target ?? manifest?.label ?? undefined;
  if (!target)
    throw new InputError(
      'MISSING_TARGET',
      `no ${hooks.targetHint ?? 'target'} given and no manifest.json next to the table names a label column`,
    );
  const label = checkTarget(table, target, inputPath);
  const timeColumn = options.timeColumn === null ? null : (options.timeColumn ?? manifest?.time ?? null);
  const selection = selectFeatures(table, {
    target,
    timeColumn,
    ignore: options.ignore ?? [],
    manifestIds: manifest?.ids ?? [],
    inputPath,
    protectedColumns: options.protectedColumns ?? manifest?.protected ?? [],
  });
  return { inputPath, manifest, table, target, label, timeColumn, selection };
}

export async function trainModel(options: TrainModelOptions): Promise<TrainedModel> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => {});
  // Read, checks and feature selection.
  const { inputPath, manifest, table, target, label, timeColumn, selection } = await loadTrainingTable(
    options,
    {
      targetHint: '--target',
      onRead: (t, path) =>
        progress(
          `read ${t.numRows.toLocaleString('en-US')} rows x ${t.schema.length} columns from ${basename(path)}`,
        ),
    },
  );
  const { featureNames, idColumns } = selection;

  // Split.
  const seed = options.seed ?? resolveParams(options.params).seed;
  const params = resolveParams({ ...options.params, seed });
  const fractions = options.fractions ?? DEFAULT_SPLIT_FRACTIONS;
  const splitStage = splitRows(table, {
    label,
    featureColumns: selection.featureColumns,
    timeColumn,
    seed,
    fractions,
  });
  const { split, train, valid, test } = splitStage;
  progress(
    `split ${split.kind}${timeColumn ? ` by ${timeColumn}` : ` (seed ${seed})`}: train ${train.numRows}, validation ${valid.numRows}, test ${test.numRows} rows; ${featureNames.length} features`,
  );

  // Boost, threshold, baseline; on small data, refit on train + validation (the threshold and
  // validation metrics stay those of the train-only fit: the refit has seen the validation rows).
  const { result: firstFit } = await boost(train, valid, params, progress, options.progressEvery);
  const policy: ThresholdPolicy = options.thresholdPolicy ?? { kind: 'max-f1' };
  const { threshold, pValid } = chooseModelThreshold(firstFit.model, valid, policy, firstFit.validRaw);
  const refitPolicy = options.refit ?? 'auto';
  const refit = await refitStage(train, valid, params, firstFit.bestIteration, {
    policy: refitPolicy,
    tableRows: table.numRows,
    progress,
  });
  const result = refit
    ? {
        ...refit.result,
        history: firstFit.history,
        stopReason: firstFit.stopReason,
        treesBuilt: firstFit.treesBuilt,
      }
    : firstFit;
  const model = result.model;
  const name = options.name ?? 'credit-risk';

  // Test scoring on the workers while this thread does what needs no test score: the baseline,
  // the ONNX export, slices and groups, permutation importance, feature references and the test
  // rows' ids and columns (ADR 0202). Then the evaluation, SHAP, fairness, card and report.
  const scored = await scoreTest(model, test, params.numThreads, () => {
    const baseline = fitBaseline(train, valid, test, policy, seed, refit?.combined);
    const explainerBytes = encodeExplainer(model, featureNames);
    const modelBytes = exportOnnx(model, {
      featureNames,
      threshold,
      metadata: { name, [EXPLAINER_DIGEST_KEY]: explainerDigest(explainerBytes) },
    });
    const slices = testSlices(table, split.test, options.sliceColumns, inputPath);
    const groups = protectedGroups(table, selection.protectedColumns, split.test);
    const valueStarted = performance.now();
    const featureValue = permutationImportance(firstFit.model, valid, featureNames, seed);
    progress(
      `permutation importance (${featureValue.rows} validation rows) in ${((performance.now() - valueStarted) / 1000).toFixed(2)} s`,
    );
    const reference = featureReferences(selection, result, refit?.combined.columns ?? train.columns);
    return {
      baseline,
      explainerBytes,
      modelBytes,
      slices,
      groups,
      featureValue,
      reference,
      ...testRowsOutput(table, split.test, idColumns, target),
    };
  });
  const { baseline, explainerBytes, modelBytes, slices, groups, featureValue, reference, ids, testColumns } =
    scored.meanwhile;
  const version = sha256(modelBytes);

  // SHAP on the workers while this thread computes the test metrics, slices, fairness, credit
  // views and staleness, which need the scores but no SHAP value (ADR 0202).
  const { shap, meanwhile: measured } = await explainTest(model, {
    featureNames,
    testMatrix: scored.testMatrix,
    rows: test.numRows,
    threads: params.numThreads,
    progress,
    meanwhile: {
      label: 'test metrics, fairness and credit views',
      run: () => {
        const evaluation = evaluateModel(model, {
          table,
          testRows: split.test,
          test,
          valid,
          pValid,
          threshold,
          sliceColumns: options.sliceColumns,
          inputPath,
          scored,
          slices,
        });
        const viewsStarted = performance.now();
        const fairness = measureFairness(groups, test.label, evaluation.pTest, threshold);
        const credit = measureCreditViews(
          table,
          split.test,
          test.label,
          evaluation.pTest,
          threshold,
          options.amountColumn,
        );
        progress(`fairness and credit views in ${((performance.now() - viewsStarted) / 1000).toFixed(2)} s`);
        const staleness = testStaleness(table, timeColumn, split.test, test.label, evaluation.pTest);
        return { evaluation, fairness, credit, staleness };
      },
    },
  });
  const { evaluation, fairness, credit, staleness } = measured;
  const meanAbsShap = new Map(shap.importance.map((r) => [r.feature, r.meanAbsShap]));
  const importance = featureImportance(model, featureNames).map((r) => ({
    ...r,
    meanAbsShap: meanAbsShap.get(r.feature) ?? 0,
  }));
  const snapshotId = options.snapshotId ?? manifest?.snapshotId ?? null;
  const code = options.codeVersion
    ? { value: options.codeVersion, source: 'caller' as const }
    : resolveCodeVersion();
  const { numThreads: _threads, ...paramsForLineage } = params;
  const settings: ModelLineage['settings'] = {
    target,
    timeColumn,
    protectedColumns: selection.protectedColumns,
    seed,
    params: paramsForLineage,
    fractions,
    thresholdPolicy: policy,
    refit: refitPolicy,
  };
  const lineage: ModelLineage = {
    codeVersion: code.value,
    codeVersionSource: code.value === null ? 'unknown' : code.source,
    snapshotId,
    manifestSha256: manifest?.sha256 ?? null,
    inputSha256: manifest?.inputSha256 ?? null,
    settings,
    settingsSha256: createHash('sha256').update(JSON.stringify(settings)).digest('hex'),
    libraries: libraryVersions(),
    runId: options.runId ?? null,
  };
  const card = buildCard({
    name,
    version,
    target,
    inputPath,
    rows: table.numRows,
    snapshotId,
    manifestSha256: manifest?.sha256 ?? null,
    codeVersion: code.value,
    seed,
    params,
    selection,
    boosted: result,
    wallSeconds: (performance.now() - started) / 1000,
    splitStage,
    timeColumn,
    fractions,
    threshold,
    policy,
    evaluation,
    baseline,
    importance,
    shap,
    refit: refit?.summary ?? {
      policy: refitPolicy,
      smallDataMaxRows: SMALL_DATA_MAX_ROWS,
      applied: false,
      method:
        refitPolicy === 'never'
          ? 'no refit (refit "never"): trained on the train split, early stopping on validation'
          : `no refit: ${table.numRows} rows > ${SMALL_DATA_MAX_ROWS}; trained on the train split, early stopping on validation`,
      trees: result.bestIteration,
      rows: train.numRows,
    },
    reference,
    featureValue,
    fairness,
    credit,
    lineage,
  });
  if (options.tuning) card.tuning = options.tuning;
  if (staleness) card.staleness = staleness;
  progress(
    `test AUC ${evaluation.test.auc.toFixed(4)} (baseline ${baseline.metrics.test.auc.toFixed(4)}), threshold ${threshold.toPrecision(6)}`,
  );
  const reportStarted = performance.now();
  const reportHtml = buildReport({ card, params, splitStage, evaluation, baseline, shap });
  progress(`report.html in ${((performance.now() - reportStarted) / 1000).toFixed(2)} s`);

  return {
    modelBytes,
    explainerBytes,
    version,
    card,
    reportHtml,
    model,
    featureNames,
    testPredictions: {
      rows: split.test,
      y: test.label,
      p: evaluation.pTest,
      ids,
      matrix: evaluation.testMatrix,
    },
    testColumns,
  };
}

/** The test rows' id values and numeric columns, as TrainedModel.testPredictions and testColumns carry them. */
function testRowsOutput(
  table: Table,
  testRows: Uint32Array,
  idColumns: readonly string[],
  target: string,
): { ids: Record<string, (string | number)[]>; testColumns: Record<string, Float32Array> } {
  const ids: Record<string, (string | number)[]> = {};
  for (const c of idColumns) {
    const col = table.columns.get(c);
    if (!col) continue;
    ids[c] = Array.from(testRows, (r) => (col.kind === 'text' ? (textAt(col, r) ?? '') : col.values[r]));
  }
  const testColumns: Record<string, Float32Array> = {};
  for (const [c, col] of table.columns) {
    if (col.kind !== 'numeric' || c === target) continue;
    testColumns[c] = takeFloat32(col.values, testRows);
  }
  return { ids, testColumns };
}

/**
 * AUC and calibration per month of the out-of-time test split (lib/model/staleness.ts): the model
 * saw data up to the day before the first test day. Only for a date time column.
 */
function testStaleness(
  table: Table,
  timeColumn: string | null,
  testRows: Uint32Array,
  y: Uint8Array,
  p: Float64Array,
): StalenessRecord | undefined {
  const col = timeColumn ? table.columns.get(timeColumn) : undefined;
  if (!timeColumn || !col || col.kind !== 'date' || testRows.length === 0) return undefined;
  const days = take(col.values, testRows);
  let first = Number.POSITIVE_INFINITY;
  for (const d of days) if (d < first) first = d;
  return stalenessByMonth({
    days,
    y,
    p,
    trainedUntil: isoDay(first - 1),
    timeColumn,
    scoredOn: 'the out-of-time test split',
  });
}

/** Writes DIR/explainer.json, model.onnx, card.json and report.html (each via a temp file and a rename). */
export async function writeModelDirectory(dir: string, trained: TrainedModel): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files: [string, Uint8Array | string][] = [
    [EXPLAINER_FILE, trained.explainerBytes],
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
  runId?: string;
  onProgress?: (line: string) => void;
  tuning?: TuningRecord;
}): Promise<{
  trained: TrainedModel;
  testSet: { columns: Record<string, Float32Array>; y: Uint8Array; p: Float64Array };
}> {
  const trained = await trainModel({
    input: request.input,
    seed: request.seed,
    params: request.params as Partial<GbdtParams> | undefined,
    snapshotId: request.snapshotId,
    runId: request.runId,
    onProgress: request.onProgress,
    tuning: request.tuning,
  });
  await writeModelDirectory(request.out, trained);
  return {
    trained,
    testSet: { columns: trained.testColumns, y: trained.testPredictions.y, p: trained.testPredictions.p },
  };
}
