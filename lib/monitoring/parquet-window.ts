import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sqlIdentifier, sqlString } from '#lib/features/sql-text.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * The newest-rows window both drift checks read (snapshot-window.ts for features, score-drift.ts
 * for batch-scoring runs): Parquet objects of the store, downloaded to a scratch directory and
 * read by DuckDB as one relation; the loans of the last `windowDays` days ending at the newest
 * date of the time column, or, when that holds fewer than `minRows` rows, the newest `minRows`
 * rows (`extended`, ties on the boundary day cut by the caller's order so the same files always
 * give the same rows).
 */
export interface ShardRelation {
  conn: DuckDBConnection;
  /** A FROM-able expression over every downloaded file. */
  source: string;
  /** The column names of the relation. */
  present: ReadonlySet<string>;
}

/** Downloads `keys` into a scratch directory under tmpDir, runs fn over them, and cleans up. */
export async function withParquetObjects<T>(
  options: { store: ObjectStore; keys: readonly string[]; tmpDir: string; scratch: string },
  fn: (relation: ShardRelation) => Promise<T>,
): Promise<T> {
  const work = await mkdtemp(join(options.tmpDir, `${options.scratch}-`));
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    const files: string[] = [];
    for (const [i, key] of options.keys.entries()) {
      const file = join(work, `part-${i}.parquet`);
      await options.store.download(key, file);
      files.push(file);
    }
    const source = `read_parquet([${files.map(sqlString).join(', ')}], union_by_name = true, hive_partitioning = false)`;
    const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
    const present = new Set(described.getRowObjectsJS().map((r) => String(r.column_name)));
    return await fn({ conn, source, present });
  } finally {
    conn.closeSync();
    instance.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

export interface WindowSelection {
  /** SELECT * of the window's rows. */
  sql: string;
  /** The newest date of the time column (YYYY-MM-DD); null when no row has one (sql then selects every row). */
  newest: string | null;
  rowsTotal: number;
  extended: boolean;
}

/** The window's rows of `relation` (see the module comment); `tieBreak` orders rows of one day, e.g. ['"id" DESC']. */
export async function selectNewestWindow(
  { conn, source }: ShardRelation,
  options: { timeColumn: string; windowDays: number; minRows: number; tieBreak: readonly string[] },
): Promise<WindowSelection> {
  const day = `CAST(${sqlIdentifier(options.timeColumn)} AS DATE)`;
  const stats = (
    await conn.runAndReadAll(
      `SELECT count(*)::BIGINT AS n, strftime(max(${day}), '%Y-%m-%d') AS newest FROM ${source}`,
    )
  ).getRowObjectsJS()[0];
  const rowsTotal = Number(stats.n);
  const newest = stats.newest === null ? null : String(stats.newest);
  if (newest === null) return { sql: `SELECT * FROM ${source}`, newest, rowsTotal, extended: false };
  const inWindow = `${day} > DATE ${sqlString(newest)} - INTERVAL ${Math.trunc(options.windowDays)} DAY`;
  const windowRows = Number(
    (
      await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${source} WHERE ${inWindow}`)
    ).getRowObjectsJS()[0].n,
  );
  const extended = windowRows < options.minRows && windowRows < rowsTotal;
  const sql = extended
    ? `SELECT * FROM ${source} ORDER BY ${[`${day} DESC NULLS LAST`, ...options.tieBreak].join(', ')} LIMIT ${Math.trunc(options.minRows)}`
    : `SELECT * FROM ${source} WHERE ${inWindow}`;
  return { sql, newest, rowsTotal, extended };
}

/**
 * `columns` of the rows `sql` selects, as doubles (NULL -> NaN), with the first and last date of
 * `timeColumn` among them (null without a time column or a dated row).
 */
export async function readDoubleColumns(
  conn: DuckDBConnection,
  sql: string,
  columns: readonly string[],
  timeColumn: string | null,
): Promise<{ values: Float64Array[]; from: string | null; to: string | null; rows: number }> {
  const dayExpr =
    timeColumn === null
      ? 'NULL::VARCHAR'
      : `strftime(CAST(${sqlIdentifier(timeColumn)} AS DATE), '%Y-%m-%d')`;
  const selects = [
    `${dayExpr} AS __day`,
    ...columns.map((c) => `CAST(${sqlIdentifier(c)} AS DOUBLE) AS ${sqlIdentifier(c)}`),
  ];
  const result = await conn.stream(`SELECT ${selects.join(', ')} FROM (${sql})`);
  const chunks: number[][] = columns.map(() => []);
  let from: string | null = null;
  let to: string | null = null;
  let rows = 0;
  for await (const batch of result.yieldRowsJs()) {
    for (const r of batch) {
      const day = r[0] as string | null;
      if (day !== null) {
        if (from === null || day < from) from = day;
        if (to === null || day > to) to = day;
      }
      for (let j = 0; j < columns.length; j++) {
        const v = r[j + 1] as number | null;
        chunks[j].push(v === null ? Number.NaN : v);
      }
      rows++;
    }
  }
  return { values: chunks.map((c) => Float64Array.from(c)), from, to, rows };
}
