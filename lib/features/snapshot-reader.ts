import { existsSync } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { InputError } from '#lib/errors.ts';
import { ONLINE_ROW_COLUMNS, type CustomerFeatureRow } from './online.ts';
import { CUSTOMER_FEATURE_COLUMNS } from './online-store-sql.ts';
import { sqlString } from './sql-text.ts';

/**
 * Streams DIR/online.parquet (one row per customer, written by `features build`) as
 * CustomerFeatureRow batches, for FeatureStore.replaceSnapshot. DuckDB reads the local file;
 * dates leave as YYYY-MM-DD text and every column is cast to the type the online row promises,
 * so the file may carry extra columns or wider types without changing what is loaded.
 */
export async function* readOnlineRows(
  file: string,
  snapshotId: string,
  batchRows = 50_000,
): AsyncGenerator<CustomerFeatureRow[]> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    const select = await onlineSelect(conn, file);
    const result = await conn.stream(select);
    const fields = ONLINE_ROW_COLUMNS.map((c) => c.field);
    let batch: CustomerFeatureRow[] = [];
    for await (const rows of result.yieldRowsJs()) {
      for (const r of rows) {
        const row: Record<string, unknown> = { snapshotId };
        for (let i = 0; i < fields.length; i++) row[fields[i]] = r[i] ?? null;
        batch.push(row as unknown as CustomerFeatureRow);
      }
      if (batch.length >= batchRows) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/**
 * DIR/online.parquet as CSV in the online table's column order (lib/features/online-store-sql.ts),
 * with the snapshot id filled in: what PGlite's COPY reads. DuckDB writes it directly, so a big
 * snapshot never becomes JS objects. Doubles are written in shortest round-trip form, which
 * PostgreSQL parses back to the same bits (tested). Returns the number of rows.
 */
export async function writeOnlineCsv(file: string, snapshotId: string, csvFile: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    const select = await onlineSelect(conn, file);
    const columns = CUSTOMER_FEATURE_COLUMNS.map((c) =>
      c.field === 'snapshotId' ? `${sqlString(snapshotId)} AS ${c.name}` : c.name,
    ).join(', ');
    const res = await conn.runAndReadAll(
      `COPY (SELECT ${columns} FROM (${select})) TO ${sqlString(csvFile)} (FORMAT csv, HEADER false, NULLSTR '')`,
    );
    return Number(res.getRows()[0]?.[0] ?? 0);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** The SELECT over the parquet file with every online column cast to its promised type; InputError if one is missing. */
async function onlineSelect(conn: DuckDBConnection, file: string): Promise<string> {
  if (!existsSync(file)) throw new InputError('SNAPSHOT_INCOMPLETE', `online rows file not found: ${file}`);
  const source = `read_parquet(${sqlString(file)}, hive_partitioning = false)`;
  const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
  const present = new Set(described.getRowObjectsJS().map((r) => String(r.column_name)));
  const missing = ONLINE_ROW_COLUMNS.filter((c) => !present.has(c.column)).map((c) => c.column);
  if (missing.length > 0) {
    throw new InputError('SNAPSHOT_INCOMPLETE', `${file} lacks the online column(s) ${missing.join(', ')}`);
  }
  const columns = ONLINE_ROW_COLUMNS.map((c) =>
    c.type === 'DATE'
      ? `strftime(CAST(${c.column} AS DATE), '%Y-%m-%d') AS ${c.column}`
      : `CAST(${c.column} AS ${c.type}) AS ${c.column}`,
  ).join(', ');
  return `SELECT ${columns} FROM ${source}`;
}
