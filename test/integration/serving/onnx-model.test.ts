/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServingModelFromDir, servingCard } from '#lib/serving/model.ts';
import { describeWithPython } from '../../support/python.ts';
import { fixtureProbability, writeFixtureModel } from './fixture-model.ts';

describeWithPython('ONNX serving model (onnxruntime-node)', (python) => {
  const dir = writeFixtureModel(python, 0.5);

  it('is versioned by the sha256 of model.onnx and takes order and threshold from the card', async () => {
    const model = await loadServingModelFromDir(dir);
    expect(model.version).toBe(
      createHash('sha256')
        .update(readFileSync(join(dir, 'model.onnx')))
        .digest('hex'),
    );
    expect(model.featureNames).toEqual([
      'nb_previous_loans',
      'avg_amount_loans_previous',
      'age',
      'years_on_the_job',
      'flag_own_car',
    ]);
    expect(model.threshold).toBe(0.5);
    await model.release();
  });

  it('scores a batch, NaN as missing, equal to the known answer', async () => {
    const model = await loadServingModelFromDir(dir);
    const rows = [
      [0, Number.NaN, 30, Number.NaN, 1],
      [5, 100, 40, 10, 0],
      [3, 90, 50, 2, Number.NaN],
    ];
    const p = await model.scoreRows(new Float32Array(rows.flat()), rows.length);
    expect(Array.from(p)).toHaveLength(3);
    rows.forEach((r, i) => expect(p[i]).toBeCloseTo(fixtureProbability(r[0], r[3]), 6));
    await model.release();
  });

  it('gives concurrent one-row calls (coalesced into one run) exactly the probabilities of a run each', async () => {
    const model = await loadServingModelFromDir(dir);
    const rows = Array.from({ length: 40 }, (_, i) => [
      i % 7,
      i % 5 === 0 ? Number.NaN : 50 + i,
      20 + i,
      i % 4 === 0 ? Number.NaN : i % 9,
      i % 2,
    ]);
    const alone: number[] = [];
    for (const r of rows) alone.push((await model.scoreRows(new Float32Array(r), 1))[0]);
    const together = await Promise.all(rows.map((r) => model.scoreRows(new Float32Array(r), 1)));
    expect(together.map((p) => p.length)).toEqual(rows.map(() => 1));
    expect(together.map((p) => p[0])).toEqual(alone);
    rows.forEach((r, i) => expect(alone[i]).toBeCloseTo(fixtureProbability(r[0], r[3]), 6));
    await model.release();
  });

  it('refuses a card without features or with a threshold outside [0, 1]', () => {
    expect(() => servingCard({ threshold: 0.5 })).toThrow(/feature list/);
    expect(() => servingCard({ features: ['a'], threshold: 2 })).toThrow(/threshold/);
    expect(servingCard({ features: [{ name: 'a' }, { name: 'b' }], threshold: 0.1 })).toEqual({
      features: ['a', 'b'],
      threshold: 0.1,
      typicalValues: [null, null],
    });
    // The reason texts' typical values: the card's training means, by feature name.
    expect(
      servingCard({
        features: ['a', 'b'],
        threshold: 0.1,
        reference: [
          { feature: 'b', mean: 2.5 },
          { feature: 'a', mean: null },
        ],
      }).typicalValues,
    ).toEqual([null, 2.5]);
  });

  it('credit-risk score writes predictions for a features table with a model directory', async () => {
    const work = mkdtempSync(join(tmpdir(), 'cr-score-'));
    const input = join(work, 'features.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(`COPY (SELECT i AS loan_id, CAST(i AS VARCHAR) AS id, i % 6 AS nb_previous_loans, 100.0 AS avg_amount_loans_previous,
                   40 AS age, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 8 END AS years_on_the_job, 1 AS flag_own_car
                 FROM range(1000) t(i)) TO '${input}' (FORMAT parquet)`);
    const out = join(work, 'predictions.parquet');
    const stdout = execFileSync(
      process.execPath,
      ['bin/credit-risk.mjs', 'score', '--input', input, '--out', out, '--model', dir, '--json'],
      {
        env: { ...process.env, CREDIT_RISK_HOME: join(work, 'home') },
      },
    ).toString();
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({
      rows: 1000,
      output: out,
      threshold: 0.5,
      passthrough: ['loan_id', 'id'],
    });
    const rows = (
      await c.runAndReadAll(`SELECT loan_id, probability, prediction FROM '${out}' ORDER BY loan_id`)
    ).getRowObjectsJson();
    for (const r of rows) {
      const i = Number(r.loan_id);
      const expected = fixtureProbability(i % 6, i % 3 === 0 ? null : i % 8);
      expect(r.probability as number).toBeCloseTo(expected, 6);
      expect(r.prediction).toBe(Math.fround(expected) >= 0.5 ? 1 : 0);
    }
    expect(summary.positives).toBe(rows.filter((r) => r.prediction === 1).length);
    c.closeSync();
    db.closeSync();
  });

  it('credit-risk score exits 2 with a clear message when the input is missing', () => {
    let status = 0;
    let stderr = '';
    try {
      execFileSync(
        process.execPath,
        [
          'bin/credit-risk.mjs',
          'score',
          '--input',
          '/nope.parquet',
          '--out',
          '/tmp/x.parquet',
          '--model',
          dir,
        ],
        { stdio: 'pipe' },
      );
    } catch (e) {
      status = (e as { status: number }).status;
      stderr = String((e as { stderr: Buffer }).stderr);
    }
    expect(status).toBe(2);
    expect(stderr).toContain('error [INPUT_NOT_FOUND]: no such file: /nope.parquet');
  });
});
