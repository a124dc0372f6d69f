import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/**
 * A snapshot directory as `features build` leaves it (features.parquet, online.parquet,
 * quarantine.csv, then manifest.json), written here with DuckDB so publish is tested on its own.
 */
export async function snapshotDir(
  snapshotId: string,
  customers: number[],
  opts: { manifest?: boolean; duplicateOnline?: boolean } = {},
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cr-snap-'));
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const ids = customers.join(', ');
  await conn.run(`COPY (SELECT id * 10 AS loan_id, id, DATE '2022-01-05' AS loan_date, 0 AS status, 0 AS nb_previous_loans
                        FROM unnest([${ids}]) t(id)) TO '${join(dir, 'features.parquet')}' (FORMAT parquet)`);
  const dup = opts.duplicateOnline ? ` UNION ALL SELECT ${customers[0]}` : '';
  await conn.run(`COPY (SELECT CAST(id AS VARCHAR) AS id, 2 AS nb_loans, 250.5 + id AS sum_loan_amount, DATE '2022-01-05' AS last_loan_date,
                        1 AS nb_loans_before_last_date, 100.25 AS sum_loan_amount_before_last_date, DATE '2021-03-01' AS previous_loan_date,
                        DATE '1985-07-14' AS birthday, CAST(NULL AS DATE) AS job_start_date, 1 AS flag_own_car, 54000.0 AS amt_income_total,
                        'extra columns are ignored' AS note
                        FROM (SELECT unnest([${ids}]) AS id${dup})) TO '${join(dir, 'online.parquet')}' (FORMAT parquet)`);
  conn.closeSync();
  db.closeSync();
  writeFileSync(join(dir, 'quarantine.csv'), 'line,reason,raw\n3,BAD_DATE,"x,y"\n');
  if (opts.manifest !== false)
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ snapshotId, rowsValid: customers.length }));
  return dir;
}
