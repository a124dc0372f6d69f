import type { DuckDBConnection } from '@duckdb/node-api';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '#lib/errors.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import { isIsoDate } from './calendar.ts';
import {
  FEATURE_CODE_VERSION,
  FEATURE_NAMES,
  FEATURE_TABLE_COLUMNS,
  ID_COLUMNS,
  LABEL_COLUMN,
  TIME_COLUMN,
} from './catalog.ts';
import {
  createFeatureViews,
  describeQuery,
  FEATURE_INPUT_COLUMNS,
  openFeatureDuckDb,
  writeQuery,
  type OutputFormat,
} from './duckdb-engine.ts';
import { sqlString } from './sql-text.ts';
import { loadFeatureSql, type FeatureSql } from './feature-sql.ts';
import {
  MANIFEST_VERSION,
  snapshotIdOf,
  writeManifest,
  type FeatureManifest,
  type ManifestFile,
} from './manifest.ts';
import { runSparkFeatures } from './spark-engine.ts';
import { validateRawInto, type ValidationSummary } from './validate.ts';

/**
 * `features build`: raw loans file -> validated rows (quarantine for the rest) -> the feature SQL
 * (DuckDB, or the same SQL on Spark) -> a snapshot directory:
 *
 *   DIR/features.parquet|csv   one row per loan, catalog columns (lib/features/catalog.ts)
 *   DIR/quarantine.csv         line, reason, raw
 *   DIR/online.parquet         one row per customer (the online aggregation, for `features publish`)
 *   DIR/manifest.json          written LAST: counts, schema, hashes, code version, snapshot id
 *
 * Everything is written into DIR/.tmp-build-* first and renamed into place; an existing manifest
 * is removed before the first rename, so a crash at any point leaves either no manifest (not a
 * snapshot; publish refuses it) or a complete one. Nothing half-written is ever described by a manifest.
 *
 * The build has one seam, the engine. DuckDB runs the whole build in one process and one
 * connection. Spark (the Glue job) runs in another process or another machine, so the build is
 * also available as two stages around it, the same ones `--engine spark` runs:
 *
 *   prepareFeatureInput   raw -> raw_valid.parquet + quarantine.csv + prepared.json (the summary
 *                         and the snapshot id the finished snapshot will have)
 *   (engine)              raw_valid.parquet -> <out>/features/*.parquet + <out>/online/*.parquet
 *   finishFeatureSnapshot prepared dir + the engine's Parquet -> the snapshot directory above
 *
 * The training state machine's Glue branch runs them in a Lambda, the Glue job and a Lambda
 * (functions/extract-features, lib/features/staging.ts).
 */
export type Engine = 'duckdb' | 'spark';

interface DuckDbTuning {
  /** DuckDB tuning (defaults: 2 threads, 1GB; spill into the build's temp directory). */
  threads?: number;
  memoryLimit?: string;
  /** Progress for a human (the CLI prints it on stderr): one line per finished step. */
  onProgress?: (message: string) => void;
  clock?: Clock;
}

export interface BuildOptions extends DuckDbTuning {
  input: string;
  outDir: string;
  format?: OutputFormat;
  engine?: Engine;
  /** YYYY-MM-DD; loans after it are quarantined. Default: the clock's today. */
  asOf?: string;
  /** The Python for --engine spark (default: CREDIT_RISK_PYTHON or .venv/bin/python). */
  python?: string;
  onWarning?: (message: string) => void;
  /** A record spanning more physical lines is quarantined as record_spans_lines (default 10). */
  maxRecordLines?: number;
}

export interface BuildResult {
  snapshotId: string;
  outDir: string;
  summary: ValidationSummary;
  manifest: FeatureManifest;
}

/** The order rows are written in: by time, then loan, so a snapshot file is the same for the same input. */
const FEATURE_ORDER = 'loan_date, loan_id';
const ONLINE_ORDER = 'id';

const SNAPSHOT_FILE_NAMES = ['features.parquet', 'features.csv', 'online.parquet', 'quarantine.csv'];

/** The files the prepare stage leaves in its directory. */
export const PREPARED_FILES = {
  rawValid: 'raw_valid.parquet',
  quarantine: 'quarantine.csv',
  /** Written last: the prepared stage is complete when it exists. */
  prepared: 'prepared.json',
} as const;

export const PREPARED_VERSION = 1;

/** prepared.json: everything the finish stage needs besides the engine's output. */
export interface PreparedInput {
  preparedVersion: typeof PREPARED_VERSION;
  /** The id the finished snapshot will have (content-derived: known once validation is done). */
  snapshotId: string;
  asOf: string;
  format: OutputFormat;
  input: { path: string; sha256: string; bytes: number };
  validation: ValidationSummary;
  code: { sqlSha256: string; featureCodeVersion: string };
  timingsMs: Record<string, number>;
}

type Step = <T>(name: string, fn: () => Promise<T>, detail?: (r: T) => string) => Promise<T>;

/** The validate step's progress detail: records, and for a CSV the physical lines they came from. */
function describeValidation(s: ValidationSummary): string {
  const rows = `${s.rowsIn} rows in, ${s.rowsValid} valid, ${s.rowsQuarantined} quarantined`;
  return s.lines ? `${rows}; ${s.lines.total} lines` : rows;
}

function stepTimer(timings: Record<string, number>, progress: (message: string) => void): Step {
  return async (name, fn, detail) => {
    const t0 = performance.now();
    const r = await fn();
    timings[name] = Math.round(performance.now() - t0);
    progress(`${name}: ${(timings[name] / 1000).toFixed(2)} s${detail ? ` (${detail(r)})` : ''}`);
    return r;
  };
}

function checkOptions(options: { format?: OutputFormat; engine?: Engine; asOf?: string; clock?: Clock }): {
  format: OutputFormat;
  engine: Engine;
  asOf: string;
} {
  const format = options.format ?? 'parquet';
  const engine = options.engine ?? 'duckdb';
  if (format !== 'parquet' && format !== 'csv')
    throw new InputError('BAD_FORMAT', `--format must be parquet or csv, got ${JSON.stringify(format)}`);
  if (engine !== 'duckdb' && engine !== 'spark')
    throw new InputError('BAD_ENGINE', `--engine must be duckdb or spark, got ${JSON.stringify(engine)}`);
  const asOf = options.asOf ?? (options.clock ?? systemClock).today();
  if (!isIsoDate(asOf))
    throw new InputError('BAD_DATE', `--as-of must be a real date YYYY-MM-DD, got ${JSON.stringify(asOf)}`);
  return { format, engine, asOf };
}

export async function buildFeatures(options: BuildOptions): Promise<BuildResult> {
  const { format, engine, asOf } = checkOptions(options);
  const progress = options.onProgress ?? (() => undefined);
  const input = resolve(options.input);
  const outDir = resolve(options.outDir);

  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(outDir, '.tmp-build-'));
  try {
    if (engine === 'spark') {
      // The same two stages the Glue branch of the training machine runs, around the local job.
      const started = performance.now();
      const preparedDir = join(work, 'prepared');
      const prepared = await prepareFeatureInput({ ...options, input, outDir: preparedDir, format, asOf });
      const timings = { ...prepared.timingsMs };
      const spark = await stepTimer(timings, progress)('spark job', () =>
        runSparkFeatures({
          inputPath: join(preparedDir, PREPARED_FILES.rawValid),
          outputDir: join(work, 'spark'),
          asOf,
          python: options.python,
        }),
      );
      return await finishFeatureSnapshot({
        ...options,
        preparedDir,
        featuresDir: spark.featuresDir,
        onlineDir: spark.onlineDir,
        outDir,
        engine,
        timingsMs: timings,
        startedAt: started,
      });
    }

    const sql = loadFeatureSql();
    const timings: Record<string, number> = {};
    const started = performance.now();
    const step = stepTimer(timings, progress);
    const db = await openFeatureDuckDb({
      threads: options.threads,
      memoryLimit: options.memoryLimit,
      tempDirectory: join(work, 'spill'),
    });
    try {
      const conn = db.connection;
      const quarantine = join(work, 'quarantine.csv');
      const summary = await step(
        'validate',
        () =>
          validateRawInto(conn, input, {
            quarantinePath: quarantine,
            asOf,
            onWarning: options.onWarning,
            columns: FEATURE_INPUT_COLUMNS,
            maxRecordLines: options.maxRecordLines,
          }),
        describeValidation,
      );
      await step('history', () => createFeatureViews(conn, sql));
      return await writeSnapshot(conn, {
        work,
        outDir,
        format,
        engine,
        asOf,
        sql,
        summary,
        input: { path: input, sha256: summary.inputSha256, bytes: statSync(input).size },
        featureSource: sql.features,
        onlineSource: sql.online,
        timings,
        started,
        step,
        clock: options.clock,
        progress,
      });
    } finally {
      db.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface PrepareOptions extends DuckDbTuning {
  input: string;
  /** The directory to write PREPARED_FILES into (created; files already there are replaced). */
  outDir: string;
  /** The format of the snapshot to be finished (part of its id). Default parquet. */
  format?: OutputFormat;
  asOf?: string;
  onWarning?: (message: string) => void;
  /** As BuildOptions.maxRecordLines. */
  maxRecordLines?: number;
}

/**
 * The prepare stage: validation (the same validateRawInto as the build) and the valid rows as
 * Parquet, the raw_valid table the feature SQL reads. prepared.json is written last, atomically.
 */
export async function prepareFeatureInput(options: PrepareOptions): Promise<PreparedInput> {
  const { format, asOf } = checkOptions({ ...options, engine: 'spark' });
  const progress = options.onProgress ?? (() => undefined);
  const input = resolve(options.input);
  const outDir = resolve(options.outDir);
  const sql = loadFeatureSql();
  const timings: Record<string, number> = {};
  const step = stepTimer(timings, progress);

  mkdirSync(outDir, { recursive: true });
  const preparedPath = join(outDir, PREPARED_FILES.prepared);
  if (existsSync(preparedPath)) unlinkSync(preparedPath);
  const work = mkdtempSync(join(outDir, '.tmp-prepare-'));
  const db = await openFeatureDuckDb({
    threads: options.threads,
    memoryLimit: options.memoryLimit,
    tempDirectory: join(work, 'spill'),
  });
  try {
    const conn = db.connection;
    const summary = await step(
      'validate',
      () =>
        validateRawInto(conn, input, {
          quarantinePath: join(work, PREPARED_FILES.quarantine),
          asOf,
          onWarning: options.onWarning,
          maxRecordLines: options.maxRecordLines,
        }),
      describeValidation,
    );
    await step('export valid rows', () =>
      conn.run(`COPY raw_valid TO ${sqlString(join(work, PREPARED_FILES.rawValid))} (FORMAT parquet)`),
    );
    const prepared: PreparedInput = {
      preparedVersion: PREPARED_VERSION,
      snapshotId: snapshotIdOf({
        inputSha256: summary.inputSha256,
        sqlSha256: sql.sqlSha256,
        featureCodeVersion: FEATURE_CODE_VERSION,
        asOf,
        format,
        validation: summary,
      }),
      asOf,
      format,
      input: { path: input, sha256: summary.inputSha256, bytes: statSync(input).size },
      validation: summary,
      code: { sqlSha256: sql.sqlSha256, featureCodeVersion: FEATURE_CODE_VERSION },
      timingsMs: timings,
    };
    for (const name of [PREPARED_FILES.rawValid, PREPARED_FILES.quarantine]) {
      renameSync(join(work, name), join(outDir, name));
    }
    const tmp = `${preparedPath}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(prepared, null, 2)}\n`);
    renameSync(tmp, preparedPath);
    return prepared;
  } finally {
    db.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** prepared.json of a prepared directory, checked; an Error names what is missing or stale. */
export function readPreparedInput(preparedDir: string): PreparedInput {
  const path = join(preparedDir, PREPARED_FILES.prepared);
  if (!existsSync(path)) throw new Error(`${path} is missing: the prepare stage did not finish`);
  const prepared = JSON.parse(readFileSync(path, 'utf8')) as PreparedInput;
  if (prepared.preparedVersion !== PREPARED_VERSION)
    throw new Error(
      `${path}: preparedVersion ${String(prepared.preparedVersion)}, this code reads ${PREPARED_VERSION}`,
    );
  return prepared;
}

export interface FinishOptions extends DuckDbTuning {
  /** The prepare stage's directory (prepared.json, quarantine.csv). */
  preparedDir: string;
  /** The engine's output: directories of Parquet part files (features: one row per loan; online: per customer). */
  featuresDir: string;
  onlineDir: string;
  outDir: string;
  /** Which engine produced the Parquet (recorded in the manifest). Default spark. */
  engine?: Engine;
  /** Timings of the earlier stages, carried into the manifest. */
  timingsMs?: Record<string, number>;
  /** performance.now() when the build started (for the total), default now. */
  startedAt?: number;
}

/**
 * The finish stage: the engine's Parquet -> the snapshot directory, exactly as buildFeatures
 * writes it (same files, same order, same manifest), so a snapshot does not depend on which
 * engine or which runtime made it.
 */
export async function finishFeatureSnapshot(options: FinishOptions): Promise<BuildResult> {
  const prepared = readPreparedInput(options.preparedDir);
  const engine = options.engine ?? 'spark';
  const progress = options.onProgress ?? (() => undefined);
  const outDir = resolve(options.outDir);
  const sql = loadFeatureSql();
  if (
    sql.sqlSha256 !== prepared.code.sqlSha256 ||
    FEATURE_CODE_VERSION !== prepared.code.featureCodeVersion
  ) {
    throw new Error(
      `the prepared input was made by other feature code (sql ${prepared.code.sqlSha256.slice(0, 12)}, ` +
        `version ${prepared.code.featureCodeVersion}) than this one (sql ${sql.sqlSha256.slice(0, 12)}, version ${FEATURE_CODE_VERSION})`,
    );
  }
  const parts = (dir: string) => {
    const names = existsSync(dir)
      ? readdirSync(dir).filter((n) => n.endsWith('.parquet') && !/^[._]/.test(n))
      : [];
    if (names.length === 0)
      throw new Error(`no Parquet part files in ${dir}: the feature engine wrote no output`);
    return `SELECT * FROM read_parquet(${sqlString(join(resolve(dir), '*.parquet'))}, hive_partitioning = false)`;
  };
  const featureSource = parts(options.featuresDir);
  const onlineSource = parts(options.onlineDir);

  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(outDir, '.tmp-build-'));
  const timings: Record<string, number> = { ...(options.timingsMs ?? prepared.timingsMs) };
  const db = await openFeatureDuckDb({
    threads: options.threads,
    memoryLimit: options.memoryLimit,
    tempDirectory: join(work, 'spill'),
  });
  try {
    copyFileSync(join(options.preparedDir, PREPARED_FILES.quarantine), join(work, 'quarantine.csv'));
    return await writeSnapshot(db.connection, {
      work,
      outDir,
      format: prepared.format,
      engine,
      asOf: prepared.asOf,
      sql,
      summary: prepared.validation,
      input: prepared.input,
      featureSource,
      onlineSource,
      timings,
      started: options.startedAt ?? performance.now(),
      step: stepTimer(timings, progress),
      clock: options.clock,
      progress,
    });
  } finally {
    db.close();
    rmSync(work, { recursive: true, force: true });
  }
}

interface SnapshotWrite {
  /** Holds quarantine.csv; the snapshot files are written here, then renamed into outDir. */
  work: string;
  outDir: string;
  format: OutputFormat;
  engine: Engine;
  asOf: string;
  sql: FeatureSql;
  summary: ValidationSummary;
  input: { path: string; sha256: string; bytes: number };
  featureSource: string;
  onlineSource: string;
  timings: Record<string, number>;
  started: number;
  step: Step;
  clock?: Clock;
  progress: (message: string) => void;
}

/** From the feature and online queries to the snapshot directory, the manifest last. */
async function writeSnapshot(conn: DuckDBConnection, w: SnapshotWrite): Promise<BuildResult> {
  const { work, outDir, format, engine, asOf, sql, summary, timings, step } = w;
  const featuresName = `features.${format}`;
  const paths = {
    features: join(work, featuresName),
    online: join(work, 'online.parquet'),
    quarantine: join(work, 'quarantine.csv'),
  };

  const featureRows = await step(
    'features',
    () => writeQuery(conn, w.featureSource, paths.features, format, FEATURE_ORDER),
    (n) => `${n} rows`,
  );
  const onlineRows = await step(
    'online',
    () => writeQuery(conn, w.onlineSource, paths.online, 'parquet', ONLINE_ORDER),
    (n) => `${n} customers`,
  );
  const featureSchema = await describeQuery(conn, w.featureSource);
  const onlineSchema = await describeQuery(conn, w.onlineSource);
  checkSchema(featureSchema);

  const files = await step('hash outputs', async () => ({
    features: await describeFile(paths.features, featureRows),
    online: await describeFile(paths.online, onlineRows),
    quarantine: await describeFile(paths.quarantine, summary.rowsQuarantined),
  }));

  const snapshotId = snapshotIdOf({
    inputSha256: summary.inputSha256,
    sqlSha256: sql.sqlSha256,
    featureCodeVersion: FEATURE_CODE_VERSION,
    asOf,
    format,
    validation: summary,
  });
  const roles = new Map<string, FeatureManifest['columns'][number]['role']>(
    FEATURE_TABLE_COLUMNS.map((c) => [c.name, c.role]),
  );
  timings.total = Math.round(performance.now() - w.started);
  const manifest: FeatureManifest = {
    manifestVersion: MANIFEST_VERSION,
    snapshotId,
    asOf,
    createdAt: (w.clock ?? systemClock).now().toISOString(),
    engine,
    format,
    input: w.input,
    code: { gitCommit: gitCommit(), sqlSha256: sql.sqlSha256, featureCodeVersion: FEATURE_CODE_VERSION },
    validation: summary,
    columns: featureSchema.map((c) => ({
      name: c.name,
      type: c.type,
      role: roles.get(c.name) ?? 'feature',
    })),
    idColumns: [...ID_COLUMNS],
    timeColumn: TIME_COLUMN,
    labelColumn: LABEL_COLUMN,
    features: [...FEATURE_NAMES],
    onlineColumns: onlineSchema,
    files: {
      features: { ...files.features, name: featuresName },
      online: { ...files.online, name: 'online.parquet' },
      quarantine: { ...files.quarantine, name: 'quarantine.csv' },
    },
    timingsMs: timings,
  };

  // The swap: no manifest while files move, then the new manifest last.
  const manifestPath = join(outDir, 'manifest.json');
  if (existsSync(manifestPath)) unlinkSync(manifestPath);
  for (const name of SNAPSHOT_FILE_NAMES) {
    const target = join(outDir, name);
    if (existsSync(join(work, name))) renameSync(join(work, name), target);
    else if (existsSync(target)) unlinkSync(target); // a stale file of an earlier build (other format)
  }
  writeManifest(manifestPath, manifest);
  w.progress(`snapshot ${snapshotId} written to ${outDir} in ${(timings.total / 1000).toFixed(2)} s`);
  return { snapshotId, outDir, summary, manifest };
}

/** The SQL's columns must be the catalog's, in order and type: a drift between them is a bug. */
function checkSchema(schema: { name: string; type: string }[]): void {
  const expected = FEATURE_TABLE_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ');
  const actual = schema.map((c) => `${c.name} ${c.type}`).join(', ');
  if (expected !== actual)
    throw new Error(
      `feature table schema differs from the catalog:\n  sql:     ${actual}\n  catalog: ${expected}`,
    );
}

async function describeFile(path: string, rows: number): Promise<Omit<ManifestFile, 'name'>> {
  const hash = createHash('sha256');
  await new Promise<void>((ok, fail) => {
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => ok())
      .on('error', fail);
  });
  return { rows, bytes: statSync(path).size, sha256: hash.digest('hex') };
}

let commitCache: string | null | undefined;

/** The git commit of the checkout this code runs from (CREDIT_RISK_CODE_VERSION wins, e.g. in a bundle). */
function gitCommit(): string | null {
  if (process.env.CREDIT_RISK_CODE_VERSION) return process.env.CREDIT_RISK_CODE_VERSION;
  if (commitCache !== undefined) return commitCache;
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    commitCache =
      execFileSync('git', ['rev-parse', 'HEAD'], { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() || null;
  } catch {
    commitCache = null;
  }
  return commitCache;
}
