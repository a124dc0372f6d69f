import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
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
  openFeatureDuckDb,
  sqlString,
  writeQuery,
  type OutputFormat,
} from './duckdb-engine.ts';
import { loadFeatureSql } from './feature-sql.ts';
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
 */
export type Engine = 'duckdb' | 'spark';

export interface BuildOptions {
  input: string;
  outDir: string;
  format?: OutputFormat;
  engine?: Engine;
  /** YYYY-MM-DD; loans after it are quarantined. Default: the clock's today. */
  asOf?: string;
  clock?: Clock;
  /** DuckDB tuning (defaults: 2 threads, 1GB; spill into the build's temp directory). */
  threads?: number;
  memoryLimit?: string;
  /** The Python for --engine spark (default: CREDIT_RISK_PYTHON or .venv/bin/python). */
  python?: string;
  /** Progress for a human (the CLI prints it on stderr): one line per finished step. */
  onProgress?: (message: string) => void;
  onWarning?: (message: string) => void;
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

export async function buildFeatures(options: BuildOptions): Promise<BuildResult> {
  const format = options.format ?? 'parquet';
  const engine = options.engine ?? 'duckdb';
  if (format !== 'parquet' && format !== 'csv')
    throw new InputError('BAD_FORMAT', `--format must be parquet or csv, got ${JSON.stringify(format)}`);
  if (engine !== 'duckdb' && engine !== 'spark')
    throw new InputError('BAD_ENGINE', `--engine must be duckdb or spark, got ${JSON.stringify(engine)}`);
  const asOf = options.asOf ?? (options.clock ?? systemClock).today();
  if (!isIsoDate(asOf))
    throw new InputError('BAD_DATE', `--as-of must be a real date YYYY-MM-DD, got ${JSON.stringify(asOf)}`);
  const progress = options.onProgress ?? (() => undefined);
  const input = resolve(options.input);
  const outDir = resolve(options.outDir);
  const sql = loadFeatureSql();

  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(outDir, '.tmp-build-'));
  const timings: Record<string, number> = {};
  const started = performance.now();
  const step = async <T>(name: string, fn: () => Promise<T>, detail?: (r: T) => string): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    timings[name] = Math.round(performance.now() - t0);
    progress(`${name}: ${(timings[name] / 1000).toFixed(2)} s${detail ? ` (${detail(r)})` : ''}`);
    return r;
  };

  const db = await openFeatureDuckDb({
    threads: options.threads,
    memoryLimit: options.memoryLimit,
    tempDirectory: join(work, 'spill'),
  });
  try {
    const conn = db.connection;
    const featuresName = `features.${format}`;
    const paths = {
      features: join(work, featuresName),
      online: join(work, 'online.parquet'),
      quarantine: join(work, 'quarantine.csv'),
    };

    const summary = await step(
      'validate',
      () =>
        validateRawInto(conn, input, {
          quarantinePath: paths.quarantine,
          asOf,
          onWarning: options.onWarning,
        }),
      (s) => `${s.rowsIn} rows in, ${s.rowsValid} valid, ${s.rowsQuarantined} quarantined`,
    );

    let featureSource: string;
    let onlineSource: string;
    if (engine === 'duckdb') {
      await step('history', () => createFeatureViews(conn, sql));
      featureSource = sql.features;
      onlineSource = sql.online;
    } else {
      const validParquet = join(work, 'raw_valid.parquet');
      await step('export valid rows', () =>
        conn.run(`COPY raw_valid TO ${sqlString(validParquet)} (FORMAT parquet)`),
      );
      const spark = await step('spark job', () =>
        runSparkFeatures({
          inputPath: validParquet,
          outputDir: join(work, 'spark'),
          asOf,
          python: options.python,
        }),
      );
      // An empty result may have no part files; the schema then comes from the views on the (empty) table.
      featureSource = `SELECT * FROM read_parquet(${sqlString(join(spark.featuresDir, '*.parquet'))})`;
      onlineSource = `SELECT * FROM read_parquet(${sqlString(join(spark.onlineDir, '*.parquet'))})`;
    }

    const featureRows = await step(
      'features',
      () => writeQuery(conn, featureSource, paths.features, format, FEATURE_ORDER),
      (n) => `${n} rows`,
    );
    const onlineRows = await step(
      'online',
      () => writeQuery(conn, onlineSource, paths.online, 'parquet', ONLINE_ORDER),
      (n) => `${n} customers`,
    );
    const featureSchema = await describeQuery(conn, featureSource);
    const onlineSchema = await describeQuery(conn, onlineSource);
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
    timings.total = Math.round(performance.now() - started);
    const manifest: FeatureManifest = {
      manifestVersion: MANIFEST_VERSION,
      snapshotId,
      asOf,
      createdAt: (options.clock ?? systemClock).now().toISOString(),
      engine,
      format,
      input: { path: input, sha256: summary.inputSha256, bytes: statSync(input).size },
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
    progress(`snapshot ${snapshotId} written to ${outDir} in ${(timings.total / 1000).toFixed(2)} s`);
    return { snapshotId, outDir, summary, manifest };
  } finally {
    db.close();
    rmSync(work, { recursive: true, force: true });
  }
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
