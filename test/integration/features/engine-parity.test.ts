import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { generateLoans } from '#lib/data/generate.ts';
import { buildFeatures, type BuildResult } from '#lib/features/build.ts';
import { describeWithPython } from '../../support/python.ts';
import { edgeCaseHistory, writeRawCsv } from './support/raw-loans.ts';

/**
 * The design's central promise: the feature SQL gives IDENTICAL rows on DuckDB and on Spark (the
 * Glue job, run for real on local pyspark). One generated file with dirty rows, plus the named
 * edge cases (same-day loans, first loans, the 365243 sentinel, leap-day birthdays and loans).
 */
const dir = mkdtempSync(join(tmpdir(), 'cr-engine-parity-'));
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describeWithPython('the feature SQL on DuckDB and on Spark (Glue job, local pyspark)', (python) => {
  const input = join(dir, 'loans.csv');
  let duck: BuildResult;
  let spark: BuildResult;
  let instance: DuckDBInstance;
  let conn: DuckDBConnection;
  const table = (r: BuildResult, name: string) => `read_parquet('${join(r.outDir, name)}')`;
  const count = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0][0]);

  beforeAll(async () => {
    generateLoans({ rows: 3000, seed: 11, out: input, dirtyRate: 0.03 });
    const edges = join(dir, 'edges.csv');
    // Edge-case customers with ids far from the generated ones, appended without their header.
    writeRawCsv(
      edges,
      edgeCaseHistory().map((l) => ({
        ...l,
        loanId: 9_000_000 + l.loanId,
        id: 9_100_000 + (l.id - 5008804),
      })),
    );
    appendFileSync(input, readFileSync(edges, 'utf8').split('\n').slice(1).join('\n'));
    duck = await buildFeatures({ input, outDir: join(dir, 'duckdb'), asOf: '2024-12-31', engine: 'duckdb' });
    spark = await buildFeatures({
      input,
      outDir: join(dir, 'spark'),
      asOf: '2024-12-31',
      engine: 'spark',
      python,
    });
    instance = await DuckDBInstance.create(':memory:');
    conn = await instance.connect();
  }, 300_000);
  afterAll(() => {
    conn?.closeSync();
    instance?.closeSync();
  });

  it('the input exercises ties, first loans, sentinels, leap days and dirty rows', async () => {
    const f = table(duck, 'features.parquet');
    expect(
      await count(`SELECT count(*) FROM (SELECT id, loan_date FROM ${f} GROUP BY ALL HAVING count(*) > 1)`),
    ).toBeGreaterThan(0);
    expect(await count(`SELECT count(*) FROM ${f} WHERE nb_previous_loans = 0`)).toBeGreaterThan(0);
    expect(
      await count(
        `SELECT count(*) FROM ${f} WHERE nb_previous_loans > 0 AND days_since_previous_loan IS NULL`,
      ),
    ).toBe(0);
    expect(await count(`SELECT count(*) FROM ${f} WHERE years_on_the_job IS NULL`)).toBeGreaterThan(0);
    expect(
      await count(`SELECT count(*) FROM ${f} WHERE strftime(loan_date, '%m-%d') = '02-29'`),
    ).toBeGreaterThan(0);
    expect(duck.summary.rowsQuarantined).toBeGreaterThan(0);
  });

  it('gives identical feature rows and identical online rows', async () => {
    for (const name of ['features.parquet', 'online.parquet']) {
      const a = table(duck, name);
      const b = table(spark, name);
      expect(await count(`SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b})`)).toBe(0);
      expect(await count(`SELECT count(*) FROM (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a})`)).toBe(0);
      expect(await count(`SELECT count(*) FROM ${b}`)).toBe(await count(`SELECT count(*) FROM ${a}`));
    }
    expect(spark.manifest.files.features.rows).toBe(duck.summary.rowsValid);
  });

  it('writes byte-identical snapshot files with the same schema and the same snapshot id', () => {
    expect(spark.snapshotId).toBe(duck.snapshotId);
    expect(spark.manifest.columns).toEqual(duck.manifest.columns);
    expect(spark.manifest.onlineColumns).toEqual(duck.manifest.onlineColumns);
    for (const name of ['features.parquet', 'online.parquet', 'quarantine.csv']) {
      expect(sha256(join(spark.outDir, name))).toBe(sha256(join(duck.outDir, name)));
    }
    expect(spark.manifest.engine).toBe('spark');
  });
});
