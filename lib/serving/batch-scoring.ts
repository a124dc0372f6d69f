import {
  DOUBLE,
  DuckDBDataChunk,
  DuckDBFloatType,
  DuckDBInstance,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBType,
} from '@duckdb/node-api';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { ShapPool } from '#lib/model/shap-pool.ts';
import type { TreeShapExplainer } from '#lib/model/shap.ts';
import type { ServingModel } from './predictor.ts';
import { MAX_REASONS, topReasonIndices } from './reasons.ts';

/**
 * Batch scoring: a features table (Parquet or CSV, one row per loan or customer, the model's
 * feature columns by name) in, the same rows with `probability`, `prediction` and `model_version`
 * out. The rule is the API's (prediction = probability >= threshold); the model is the same
 * ServingModel the API scores with.
 *
 * DuckDB reads and writes the files; the features cross into JavaScript once, as one float32
 * matrix (NULL -> NaN, the model's missing value), and the probabilities go back as one FLOAT
 * column appended in 2048-row chunks and joined to the input rows by position.
 *
 * With `explain`, the model's TreeSHAP explainer (lib/model/shap.ts, on every core through
 * lib/model/shap-pool.ts) adds reason_1..reason_4 (the features of the largest contributions > 0,
 * largest first, NULL past the last: the reasons POST /predict answers, lib/serving/reasons.ts)
 * and contrib_<feature> (log-odds, DOUBLE) for every model feature, appended with the scores.
 */
export interface BatchScoreResult {
  rows: number;
  positives: number;
  modelVersion: string;
  output: string;
  /** Columns copied from the input (everything that is not a model feature). */
  passthrough: string[];
  /** The explanation columns written (reason_1..reason_4, contrib_<feature>), empty without explain. */
  explained: string[];
}

/** The columns `explain` adds, in order. */
export function explanationColumns(featureNames: readonly string[]): string[] {
  return [
    ...Array.from({ length: MAX_REASONS }, (_, i) => `reason_${i + 1}`),
    ...featureNames.map((f) => `contrib_${f}`),
  ];
}

/** The explainer of a model asked to explain, or an InputError naming the version that has none. */
export function requireExplainer(model: ServingModel): TreeShapExplainer {
  if (model.explainer) return model.explainer;
  throw new InputError(
    'NO_EXPLAINER',
    `model ${model.version} cannot explain: ${model.explainerWarning ?? 'it has no explainer.json'}; score without --explain, or retrain it`,
    { modelVersion: model.version },
  );
}

export type TableFormat = 'parquet' | 'csv';

export function formatOf(file: string): TableFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.parquet') return 'parquet';
  if (ext === '.csv') return 'csv';
  throw new InputError('BAD_TABLE_FORMAT', `${file}: expected a .parquet or .csv file`);
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (text: string) => `'${text.replace(/'/g, "''")}'`;

function readerSql(file: string): string {
  return formatOf(file) === 'parquet'
    ? `read_parquet(${quoteLiteral(file)}, hive_partitioning = false)`
    : `read_csv(${quoteLiteral(file)}, header = true, hive_partitioning = false)`;
}

/** Rows scored per model call: large enough to amortise the call, small enough to bound memory. */
const SCORE_BATCH_ROWS = 131072;
/** DuckDB's vector size: a data chunk holds at most this many rows. */
const CHUNK_ROWS = 2048;
/** Below this many rows TreeSHAP runs on the calling thread: starting workers would cost more. */
const SHAP_POOL_MIN_ROWS = 16_384;

export async function scoreFeatureTable(options: {
  input: string;
  output: string;
  model: ServingModel;
  /** Add reason_1..reason_4 and contrib_<feature>; the model must have an explainer (NO_EXPLAINER). */
  explain?: boolean;
  /** Threads for TreeSHAP (default: every core). */
  shapThreads?: number;
}): Promise<BatchScoreResult> {
  const { input, output, model } = options;
  const outFormat = formatOf(output);
  const explainer = options.explain ? requireExplainer(model) : undefined;
  const explained = explainer ? explanationColumns(model.featureNames) : [];
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const columns = await describe(connection, input);
    const missing = model.featureNames.filter((f) => !columns.includes(f));
    if (missing.length > 0) {
      throw new InputError(
        'MISSING_FEATURE_COLUMN',
        `${input} lacks the model's feature column(s) ${missing.join(', ')} (it has ${columns.join(', ')})`,
        { file: input, missing },
      );
    }
    const features = new Set(model.featureNames);
    const added = new Set(['probability', 'prediction', 'model_version', ...explained]);
    const passthrough = columns.filter((c) => !features.has(c) && !added.has(c));

    await connection.run(`CREATE TEMP TABLE input_rows AS SELECT * FROM ${readerSql(input)}`);
    const matrix = await featureMatrix(connection, input, model.featureNames);
    const rows = matrix.length / model.featureNames.length;
    const probabilities = await scoreInBatches(model, matrix, rows);

    if (explainer) {
      const types = explained.map((c) => (c.startsWith('reason_') ? 'VARCHAR' : 'DOUBLE'));
      await connection.run(
        `CREATE TEMP TABLE scores (probability FLOAT, ${explained.map((c, i) => `${quoteIdent(c)} ${types[i]}`).join(', ')})`,
      );
      await appendExplained(
        connection,
        model.featureNames,
        explainer,
        matrix,
        probabilities,
        options.shapThreads,
      );
    } else {
      await connection.run('CREATE TEMP TABLE scores (probability FLOAT)');
      await appendFloats(connection, 'scores', probabilities);
    }

    // Qualified: an input that carries columns of these names (an earlier output) stays unambiguous.
    const select =
      `SELECT ${[...passthrough.map((c) => `input_rows.${quoteIdent(c)}`), 'scores.probability AS probability', `CAST(scores.probability >= ${model.threshold} AS INTEGER) AS prediction`, `${quoteLiteral(model.version)} AS model_version`, ...explained.map((c) => `scores.${quoteIdent(c)} AS ${quoteIdent(c)}`)].join(', ')} ` +
      'FROM input_rows POSITIONAL JOIN scores';
    const copyOptions =
      outFormat === 'parquet' ? '(FORMAT parquet, COMPRESSION zstd)' : '(FORMAT csv, HEADER true)';
    await connection.run(`COPY (${select}) TO ${quoteLiteral(output)} ${copyOptions}`);

    let positives = 0;
    for (let i = 0; i < rows; i++) if (probabilities[i] >= model.threshold) positives++;
    return { rows, positives, modelVersion: model.version, output, passthrough, explained };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function describe(connection: DuckDBConnection, file: string): Promise<string[]> {
  try {
    const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${readerSql(file)}`);
    return reader.getRowObjects().map((r) => String(r.column_name));
  } catch (e) {
    throw new InputError('UNREADABLE_TABLE', `cannot read ${file}: ${(e as Error).message.split('\n')[0]}`, {
      file,
    });
  }
}

/** The feature columns, row-major float32, NULL and non-finite text as NaN. */
async function featureMatrix(
  connection: DuckDBConnection,
  file: string,
  featureNames: readonly string[],
): Promise<Float32Array> {
  const width = featureNames.length;
  const count = await connection.runAndReadAll('SELECT count(*)::BIGINT AS n FROM input_rows');
  const rows = Number(count.getRowObjects()[0].n);
  const matrix = new Float32Array(rows * width);
  const casts = featureNames.map((f) => `TRY_CAST(${quoteIdent(f)} AS FLOAT)`).join(', ');
  let result;
  try {
    result = await connection.stream(`SELECT ${casts} FROM input_rows`);
  } catch (e) {
    throw new InputError(
      'BAD_FEATURE_COLUMN',
      `${file}: feature columns must be numeric: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  let offset = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const n = chunk.rowCount;
    for (let c = 0; c < width; c++) {
      const vector = chunk.getColumnVector(c);
      for (let r = 0; r < n; r++) {
        const v = vector.getItem(r) as number | null;
        matrix[(offset + r) * width + c] = v === null ? Number.NaN : v;
      }
    }
    offset += n;
  }
  if (offset !== rows) throw new Error(`read ${offset} feature rows from ${file}, expected ${rows}`);
  return matrix;
}

async function scoreInBatches(
  model: ServingModel,
  matrix: Float32Array,
  rows: number,
): Promise<Float32Array> {
  const width = model.featureNames.length;
  const out = new Float32Array(rows);
  for (let start = 0; start < rows; start += SCORE_BATCH_ROWS) {
    const n = Math.min(SCORE_BATCH_ROWS, rows - start);
    const scores = await model.scoreRows(matrix.subarray(start * width, (start + n) * width), n);
    out.set(scores.subarray(0, n), start);
  }
  return out;
}

async function appendFloats(
  connection: DuckDBConnection,
  table: string,
  values: Float32Array,
): Promise<void> {
  const appender = await connection.createAppender(table);
  const chunk = DuckDBDataChunk.create([DuckDBFloatType.instance], CHUNK_ROWS);
  for (let start = 0; start < values.length; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, values.length - start);
    chunk.rowCount = n;
    const vector = chunk.getColumnVector(0);
    for (let i = 0; i < n; i++) vector.setItem(i, values[start + i]);
    vector.flush();
    appender.appendDataChunk(chunk);
  }
  appender.closeSync();
}

/**
 * The scores table with explanations: per block of SCORE_BATCH_ROWS rows, TreeSHAP of the block
 * (on `threads` threads when the table is large), then its rows appended 2048 at a time as
 * probability, reason_1..reason_4, contrib_<feature>. One block of contributions in memory at once.
 */
async function appendExplained(
  connection: DuckDBConnection,
  featureNames: readonly string[],
  explainer: TreeShapExplainer,
  matrix: Float32Array,
  probabilities: Float32Array,
  threads = availableParallelism(),
): Promise<void> {
  const F = featureNames.length;
  const W = F + 1;
  const rows = probabilities.length;
  const pool =
    rows >= SHAP_POOL_MIN_ROWS && threads > 1 ? new ShapPool(explainer.kernel, threads) : undefined;
  const types: DuckDBType[] = [
    DuckDBFloatType.instance,
    ...Array.from({ length: MAX_REASONS }, () => VARCHAR),
    ...featureNames.map(() => DOUBLE),
  ];
  const appender = await connection.createAppender('scores');
  const chunk = DuckDBDataChunk.create(types, CHUNK_ROWS);
  try {
    for (let start = 0; start < rows; start += SCORE_BATCH_ROWS) {
      const n = Math.min(SCORE_BATCH_ROWS, rows - start);
      const block = matrix.subarray(start * F, (start + n) * F);
      const shap = pool ? await pool.explainRows(block, n) : explainer.explainRows(block, n);
      for (let from = 0; from < n; from += CHUNK_ROWS) {
        const m = Math.min(CHUNK_ROWS, n - from);
        chunk.rowCount = m;
        const probability = chunk.getColumnVector(0);
        const reasons = Array.from({ length: MAX_REASONS }, (_, k) => chunk.getColumnVector(1 + k));
        const contribs = featureNames.map((_, f) => chunk.getColumnVector(1 + MAX_REASONS + f));
        for (let i = 0; i < m; i++) {
          const r = from + i;
          probability.setItem(i, probabilities[start + r]);
          const top = topReasonIndices(shap, r * W, F);
          for (let k = 0; k < MAX_REASONS; k++)
            reasons[k].setItem(i, k < top.length ? featureNames[top[k]] : null);
          for (let f = 0; f < F; f++) contribs[f].setItem(i, shap[r * W + f]);
        }
        for (const v of [probability, ...reasons, ...contribs]) v.flush();
        appender.appendDataChunk(chunk);
      }
    }
  } finally {
    appender.closeSync();
    await pool?.close();
  }
}
