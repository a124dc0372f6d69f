import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { InputError } from '#lib/errors.ts';
import { ONLINE_ROW_COLUMNS, type CustomerFeatureRow } from './online.ts';

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
  if (!existsSync(file)) throw new InputError('SNAPSHOT_INCOMPLETE', `online rows file not found: ${file}`);
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    const source = `read_parquet('${file.replaceAll("'", "''")}')`;
    const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
    const present = new Set(described.getRowObjectsJS().map((r) => String(r.column_name)));
    const missing = ONLINE_ROW_COLUMNS.filter((c) => !present.has(c.column)).map((c) => c.column);
    if (missing.length > 0) {
      throw new InputError('SNAPSHOT_INCOMPLETE', `${file} lacks the online column(s) ${missing.join(', ')}`);
    }
    const select = ONLINE_ROW_COLUMNS.map((c) =>
      c.type === 'DATE' ? `strftime(CAST(${c.column} AS DATE), '%Y-%m-%d') AS ${c.column}` : `CAST(${c.column} AS ${c.type}) AS ${c.column}`,
    ).join(', ');
    const result = await conn.stream(`SELECT ${select} FROM ${source}`);
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
