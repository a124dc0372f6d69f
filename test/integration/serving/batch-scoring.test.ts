import { describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoreFeatureTable } from '#lib/serving/batch-scoring.ts';
import type { ServingModel } from '#lib/serving/predictor.ts';
import { stumpModel } from '../../unit/serving/fake-ports.ts';

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

  describe('with explain (TreeSHAP of every row: reason_1..reason_4, contrib_<feature>)', () => {
    // The stumps' contributions depend on one value each (test/unit/serving/fake-ports.ts).
    const expected = (i: number) => {
      const nb = i % 10;
      const years = i % 5 === 0 ? Number.NaN : i % 20;
      return {
        contrib_nb_previous_loans: nb < 2.5 ? 1.2 : -0.8,
        contrib_years_on_the_job: Number.isNaN(years) || years < 3.5 ? 0.7 : -0.3,
        // age is 30..69 in this table: always the older leaf.
        contrib_age: -0.25,
        contrib_flag_own_car: 0,
      };
    };

    for (const [rows, how] of [
      [3_000, 'on the calling thread'],
      [20_000, 'on a pool of 2 threads'],
    ] as const) {
      it(`writes each row's reasons and contributions, ${how}`, async () => {
        const input = await writeFeatures(dir, rows);
        const output = join(dir, `explained-${rows}.parquet`);
        const result = await scoreFeatureTable({
          input,
          output,
          model: stumpModel(),
          explain: true,
          shapThreads: 2,
        });
        expect(result.explained).toEqual([
          'reason_1',
          'reason_2',
          'reason_3',
          'reason_4',
          'contrib_nb_previous_loans',
          'contrib_years_on_the_job',
          'contrib_age',
          'contrib_flag_own_car',
        ]);
        const back = await readBack(output);
        expect(back).toHaveLength(rows);
        expect(Object.keys(back[0])).toEqual([
          'loan_id',
          'id',
          'loan_date',
          'status',
          'avg_amount_loans_previous',
          'probability',
          'prediction',
          'model_version',
          ...result.explained,
        ]);
        // Differences collected and compared once: one expect per value would dominate the run.
        const wrong: unknown[] = [];
        let withReasons = 0;
        for (const row of back) {
          const i = Number(row.loan_id);
          const e = expected(i);
          for (const [k, v] of Object.entries(e))
            if (Math.abs((row[k] as number) - v) > 1e-12) wrong.push({ i, k, got: row[k], v });
          const positive = Object.entries(e)
            .filter(([, c]) => c > 0)
            .sort((a, b) => b[1] - a[1])
            .map(([k]) => k.slice('contrib_'.length));
          const reasons = [row.reason_1, row.reason_2, row.reason_3, row.reason_4];
          if (JSON.stringify(reasons) !== JSON.stringify([0, 1, 2, 3].map((k) => positive[k] ?? null)))
            wrong.push({ i, reasons, positive });
          if (positive.length > 0) withReasons++;
          // bias (-1.4) + sum of contributions = the margin the probability came from.
          const margin = -1.4 + Object.values(e).reduce((a, b) => a + b, 0);
          if (Math.abs((row.probability as number) - 1 / (1 + Math.exp(-margin))) > 1e-6)
            wrong.push({ i, probability: row.probability, margin });
        }
        expect(wrong.slice(0, 5)).toEqual([]);
        expect(withReasons).toBeGreaterThan(0);
        expect(withReasons).toBeLessThan(rows);
      });
    }

    it('refuses to explain with a model that has no explainer, saying why', async () => {
      const input = await writeFeatures(dir, 5);
      const model = { ...formulaModel, explainerWarning: 'model.onnx names no explainer.json' };
      await expect(
        scoreFeatureTable({ input, output: join(dir, 'no.parquet'), model, explain: true }),
      ).rejects.toMatchObject({
        code: 'NO_EXPLAINER',
        message: expect.stringMatching(/v-batch cannot explain: model.onnx names no explainer.json/),
      });
    });

    it('an input that already has explanation columns gets them replaced, not duplicated', async () => {
      const features = await writeFeatures(dir, 20);
      const input = join(dir, 'with-old-reasons.parquet');
      const db = await DuckDBInstance.create(':memory:');
      const c = await db.connect();
      await c.run(
        `COPY (SELECT *, 'age' AS reason_1, 1.5 AS contrib_age, 0.5 AS probability FROM '${features}') TO '${input}' (FORMAT parquet)`,
      );
      c.closeSync();
      db.closeSync();
      const again = join(dir, 'explained-again.csv');
      const result = await scoreFeatureTable({
        input,
        output: again,
        model: stumpModel(),
        explain: true,
      });
      expect(result.passthrough).toEqual([
        'loan_id',
        'id',
        'loan_date',
        'status',
        'avg_amount_loans_previous',
      ]);
      const header = readFileSync(again, 'utf8').split('\n')[0].split(',');
      expect(new Set(header).size).toBe(header.length);
    });
  });
});
