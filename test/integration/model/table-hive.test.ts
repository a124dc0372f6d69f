import { describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTable } from '#lib/model/table.ts';

// The offline store keeps snapshots under `features/snapshot=<id>/`: DuckDB's hive-partition
// auto-detection would add a text column `snapshot` to any file read from such a folder (and
// `train` would then call it a non-numeric feature).
describe('readTable in a key=value folder', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'table-hive-')), 'snapshot=abc123');
  mkdirSync(dir);

  it('reads only the columns of a CSV file', async () => {
    const file = join(dir, 'features.csv');
    writeFileSync(file, 'loan_id,x,status\n1,0.5,0\n2,1.5,1\n');
    const table = await readTable(file);
    expect(table.schema.map((c) => c.name)).toEqual(['loan_id', 'x', 'status']);
    expect(table.numRows).toBe(2);
  });

  it('reads only the columns of a Parquet file', async () => {
    const file = join(dir, 'part-0.parquet');
    const conn = await (await DuckDBInstance.create(':memory:')).connect();
    await conn.run(
      `COPY (SELECT 1::BIGINT AS loan_id, 0.5::DOUBLE AS x, 0::INTEGER AS status) TO '${file}' (FORMAT parquet)`,
    );
    const table = await readTable(file);
    expect(table.schema.map((c) => c.name)).toEqual(['loan_id', 'x', 'status']);
  });
});
