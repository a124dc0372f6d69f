import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { sqlIdentifier, sqlString } from '#lib/features/sql-text.ts';
import { isCustomerId } from './customer-id.ts';

/**
 * Parquet files read and rewritten without one customer's rows, with DuckDB: feature snapshots
 * (the per-loan part and the per-customer online rows), raw Parquet loans, batch predictions,
 * the Glue branch's staged rows. Every one of them keys the customer in a column named `id`.
 *
 * Parquet compresses its pages (zstd here), so the bytes of a file do not show the ids it holds:
 * only reading the values does (docs/adr/0150-erasure-rewrites-snapshots-under-new-ids.md).
 */

export interface ParquetDb {
  conn: DuckDBConnection;
  close(): void;
}

/**
 * One thread: a rewrite of the same rows then gives the same bytes, and the rewritten snapshot's
 * id, derived from its bytes, is the same when an interrupted erase runs again.
 */
export async function openParquetDb(): Promise<ParquetDb> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  return {
    conn,
    close() {
      conn.closeSync();
      instance.closeSync();
    },
  };
}

function read(file: string): string {
  return `read_parquet(${sqlString(file)}, hive_partitioning = false)`;
}

/** The id column as this customer: the text itself, or the same integer (validation casts ids to BIGINT). */
function isCustomer(column: string, id: string): string {
  // Written into the SQL text below as a number: only digits may get there.
  if (!isCustomerId(id)) throw new Error(`not a customer id: ${JSON.stringify(id)}`);
  const text = `trim(CAST(${sqlIdentifier(column)} AS VARCHAR))`;
  return `coalesce(${text} = ${sqlString(id)} OR TRY_CAST(${text} AS HUGEINT) = ${id}::HUGEINT, false)`;
}

export async function parquetColumns(
  db: ParquetDb,
  file: string,
): Promise<Array<{ name: string; type: string }>> {
  const rows = (await db.conn.runAndReadAll(`DESCRIBE SELECT * FROM ${read(file)}`)).getRowObjectsJS();
  return rows.map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
}

/** Rows of the customer in the file's `column` (0 when the file has no such column). */
export async function countCustomerRows(
  db: ParquetDb,
  file: string,
  id: string,
  column = 'id',
): Promise<number> {
  const columns = await parquetColumns(db, file);
  if (!columns.some((c) => c.name === column)) return 0;
  const res = await db.conn.runAndReadAll(
    `SELECT count(*)::BIGINT AS n FROM ${read(file)} WHERE ${isCustomer(column, id)}`,
  );
  return Number(res.getRowObjectsJS()[0].n);
}

/**
 * `output` = `input` without the customer's rows, in the same order, same columns and types
 * (zstd, row groups of 122,880 rows as the feature build writes). Returns rows kept and removed.
 */
export async function rewriteParquetWithout(
  db: ParquetDb,
  input: string,
  output: string,
  id: string,
  column = 'id',
): Promise<{ rows: number; removed: number }> {
  const total = Number(
    (await db.conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${read(input)}`)).getRowObjectsJS()[0].n,
  );
  const res = await db.conn.runAndReadAll(
    `COPY (SELECT * FROM ${read(input)} WHERE NOT ${isCustomer(column, id)}) TO ${sqlString(output)} ` +
      '(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)',
  );
  const rows = Number(res.getRows()[0][0]);
  return { rows, removed: total - rows };
}

/**
 * How many values of any column of the file mention the id as a whole token (cast to text):
 * what a byte scan cannot see in compressed pages. Used to verify an erasure, not to perform it.
 */
export async function parquetMentions(db: ParquetDb, file: string, id: string): Promise<number> {
  const columns = await parquetColumns(db, file);
  if (columns.length === 0) return 0;
  const pattern = sqlString(`(^|[^0-9A-Za-z])0*${id.replace(/^0+(?=.)/, '')}([^0-9A-Za-z]|$)`);
  const any = columns
    .map((c) => `coalesce(regexp_matches(CAST(${sqlIdentifier(c.name)} AS VARCHAR), ${pattern}), false)`)
    .join(' OR ');
  const res = await db.conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${read(file)} WHERE ${any}`);
  return Number(res.getRowObjectsJS()[0].n);
}

/** Rows, and the sum of a 0/1 column (batch predictions' positives) when it exists. */
export async function countRowsAndSum(
  db: ParquetDb,
  file: string,
  column: string,
): Promise<{ rows: number; sum: number | null }> {
  const columns = await parquetColumns(db, file);
  const has = columns.some((c) => c.name === column);
  const res = await db.conn.runAndReadAll(
    `SELECT count(*)::BIGINT AS n, ${has ? `coalesce(sum(${sqlIdentifier(column)}), 0)::BIGINT` : 'NULL'} AS s FROM ${read(file)}`,
  );
  const row = res.getRowObjectsJS()[0];
  return { rows: Number(row.n), sum: row.s === null ? null : Number(row.s) };
}
