import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { loadFeatureSql, type FeatureSql } from './feature-sql.ts';
import type { RawColumnName } from './raw-schema.ts';
import { sqlString } from './sql-text.ts';

/**
 * DuckDB as the feature engine: one in-memory database per build, tuned for a 2-vCPU machine or a
 * Lambda (bounded memory, spill to a temp directory, no insertion-order bookkeeping).
 */
export interface FeatureDuckDbOptions {
  /** Worker threads; default 2 (the Lambda and laptop budget this project is sized for). */
  threads?: number;
  /** DuckDB memory_limit, e.g. '1GB'; default '1GB'. Operators past it spill to tempDirectory. */
  memoryLimit?: string;
  /** Where DuckDB spills; default DuckDB's own (.tmp next to the database). */
  tempDirectory?: string;
}

export interface FeatureDuckDb {
  connection: DuckDBConnection;
  close(): void;
}

export async function openFeatureDuckDb(options: FeatureDuckDbOptions = {}): Promise<FeatureDuckDb> {
  const config: Record<string, string> = {
    threads: String(options.threads ?? 2),
    memory_limit: options.memoryLimit ?? '1GB',
    // Output order is set by the queries that need one; without this DuckDB keeps scan order
    // through every operator, which costs memory and parallelism for nothing.
    preserve_insertion_order: 'false',
  };
  if (options.tempDirectory) config.temp_directory = options.tempDirectory;
  const instance = await DuckDBInstance.create(':memory:', config);
  const connection = await instance.connect();
  return {
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * Views that both queries read, computed once as temporary tables instead of being inlined twice
 * (DuckDB inlines views). Same SELECT, same rows: only when it is evaluated changes. The per-day
 * history is the expensive one (a window over every customer's loan days).
 */
export const MATERIALIZED_VIEWS: readonly string[] = ['feature_history'];

/**
 * The raw_valid columns features.sql reads (its feature_loans view): the DuckDB build keeps only
 * these in memory (validateRawInto `columns`). A column missing here fails the build at once
 * ("column not found"), and the engine-parity test compares against Spark, which gets them all.
 */
export const FEATURE_INPUT_COLUMNS = [
  'loan_id',
  'id',
  'loan_date',
  'status',
  'birthday',
  'job_start_date',
  'flag_own_car',
  'amt_income_total',
  'loan_amount',
  'code_gender',
] as const satisfies readonly RawColumnName[];

/** Creates the feature views over the table `raw_valid` that must already exist on `conn`. */
export async function createFeatureViews(
  conn: DuckDBConnection,
  sql: FeatureSql = loadFeatureSql(),
  materialize: readonly string[] = MATERIALIZED_VIEWS,
): Promise<void> {
  for (const view of sql.views) {
    const text = materialize.includes(view.name)
      ? view.sql.replace(/CREATE OR REPLACE TEMPORARY VIEW /i, 'CREATE OR REPLACE TEMPORARY TABLE ')
      : view.sql;
    await conn.run(text);
  }
}

export type OutputFormat = 'parquet' | 'csv';

/**
 * Writes the result of `query` to `path`. Parquet: zstd-compressed, row groups sized for readers
 * that stream; CSV: header, NULL as an empty cell, dates as YYYY-MM-DD. `orderBy` makes the file
 * deterministic (same input, same bytes), which a content-addressed snapshot wants.
 */
export async function writeQuery(
  conn: DuckDBConnection,
  query: string,
  path: string,
  format: OutputFormat,
  orderBy?: string,
): Promise<number> {
  const ordered = orderBy ? `SELECT * FROM (\n${query}\n) ORDER BY ${orderBy}` : query;
  const options =
    format === 'parquet'
      ? 'FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880'
      : "FORMAT csv, HEADER true, NULLSTR ''";
  const result = await conn.runAndReadAll(`COPY (\n${ordered}\n) TO ${sqlString(path)} (${options})`);
  // COPY returns the number of rows written as its single value.
  const rows = result.getRows();
  return Number(rows[0]?.[0] ?? 0);
}

export interface ColumnSchema {
  name: string;
  type: string;
}

/** Column names and DuckDB types of a query's result, without running it. */
export async function describeQuery(conn: DuckDBConnection, query: string): Promise<ColumnSchema[]> {
  const reader = await conn.runAndReadAll(`DESCRIBE (\n${query}\n)`);
  return reader.getRowObjects().map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
}
