import { describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoreFeatureTable } from '#lib/serving/batch-scoring.ts';
import type { ServingModel } from '#lib/serving/predictor.ts';

const FEATURES = [
  'nb_previous_loans',
  'avg_amount_loans_previous',
  'age',
  'years_on_the_job',
  'flag_own_car',
];

/** probability = nb / 10, or 0.99 when avg is missing: every row's answer is predictable. */
const formulaModel: ServingModel = {
  version: 'v-batch',
  featureNames: FEATURES,
  threshold: 0.5,
  async scoreRows(features, rows) {
    const out = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const nb = features[r * 5];
      const avg = features[r * 5 + 1];
      out[r] = Number.isNaN(avg) ? 0.99 : nb / 10;
    }
    return out;
  },
};

async function writeFeatures(dir: string, rows: number): Promise<string> {
  const file = join(dir, 'features.parquet');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  await c.run(`
    COPY (
      SELECT i AS loan_id, CAST(5000000 + i % 97 AS VARCHAR) AS id, DATE '2024-01-01' + (i % 300)::INTEGER AS loan_date,
             (i % 13 = 0)::INTEGER AS status,
             i % 10 AS nb_previous_loans,
             CASE WHEN i % 10 = 0 THEN NULL ELSE 100.0 + i % 7 END AS avg_amount_loans_previous,
             30 + i % 40 AS age, CASE WHEN i % 5 = 0 THEN NULL ELSE i % 20 END AS years_on_the_job,
             i % 2 AS flag_own_car
      FROM range(${rows}) t(i)
    ) TO '${file}' (FORMAT parquet)`);
  c.closeSync();
  db.closeSync();
  return file;
}

async function readBack(file: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const reader = await c.runAndReadAll(`SELECT * FROM '${file}'`);
  const rows = reader.getRowObjectsJson() as Record<string, unknown>[];
  c.closeSync();
  db.closeSync();
  return rows;
}

describe('batch scoring', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cr-batch-'));

  it('scores every row in input order (across many DuckDB chunks) with the API rule, and keeps the id columns', async () => {
    const input = await writeFeatures(dir, 10_000);
    const output = join(dir, 'predictions.parquet');
    const result = await scoreFeatureTable({ input, output, model: formulaModel });
    expect(result.rows).toBe(10_000);
    expect(result.passthrough).toEqual(['loan_id', 'id', 'loan_date', 'status']);
    const rows = await readBack(output);
    expect(rows).toHaveLength(10_000);
    let positives = 0;
    for (const row of rows) {
      const i = Number(row.loan_id);
      const expected = i % 10 === 0 ? 0.99 : (i % 10) / 10;
      expect(row.probability as number).toBeCloseTo(expected, 6);
      expect(row.prediction).toBe(Math.fround(expected) >= 0.5 ? 1 : 0);
      expect(row.model_version).toBe('v-batch');
      expect(row.id).toBe(String(5000000 + (i % 97)));
      positives += row.prediction as number;
    }
    expect(result.positives).toBe(positives);
  });

  it('writes CSV when the output ends in .csv', async () => {
    const input = await writeFeatures(dir, 50);
    const output = join(dir, 'predictions.csv');
    await scoreFeatureTable({ input, output, model: formulaModel });
    const lines = readFileSync(output, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('loan_id,id,loan_date,status,probability,prediction,model_version');
    expect(lines).toHaveLength(51);
  });

  it('reads a CSV features table too', async () => {
    const input = await writeFeatures(dir, 30);
    const csv = join(dir, 'features.csv');
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(`COPY (SELECT * FROM '${input}') TO '${csv}' (FORMAT csv, HEADER true)`);
    c.closeSync();
    db.closeSync();
    const result = await scoreFeatureTable({
      input: csv,
      output: join(dir, 'from-csv.parquet'),
      model: formulaModel,
    });
    expect(result.rows).toBe(30);
  });

  it('names the missing feature column and the file', async () => {
    const input = await writeFeatures(dir, 5);
    const model = { ...formulaModel, featureNames: [...FEATURES, 'income_per_child'] };
    await expect(scoreFeatureTable({ input, output: join(dir, 'x.parquet'), model })).rejects.toMatchObject({
      code: 'MISSING_FEATURE_COLUMN',
      message: expect.stringMatching(/features\.parquet lacks .*income_per_child/),
    });
  });

  it('refuses an unknown output format and an unreadable input with InputErrors', async () => {
    const input = await writeFeatures(dir, 5);
    await expect(
      scoreFeatureTable({ input, output: join(dir, 'x.json'), model: formulaModel }),
    ).rejects.toMatchObject({ code: 'BAD_TABLE_FORMAT' });
    await expect(
      scoreFeatureTable({
        input: join(dir, 'nope.parquet'),
        output: join(dir, 'x.parquet'),
        model: formulaModel,
      }),
    ).rejects.toMatchObject({
      code: 'UNREADABLE_TABLE',
    });
  });
});
