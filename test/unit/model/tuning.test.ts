import { describe, expect, it } from '@jest/globals';
import type { Table, TableColumn } from '#lib/model/table.ts';
import { trainModel } from '#lib/model/train.ts';
import { splitRows } from '#lib/model/train-stages.ts';
import { inProcessTrials, prepareTrialData, rungRows, runTrial, tune } from '#lib/model/tuning.ts';
import type { TrialSpec } from '#lib/model/tuning-plan.ts';
import { syntheticTable } from './synthetic-data.ts';

const synthetic = syntheticTable(12_000, 5);

/** The synthetic table as the trainer reads a file: features, a 0/1 status and a loan_date. */
function asTable(): Table {
  const columns: TableColumn[] = [
    ...synthetic.featureNames.map((name, j): TableColumn => ({
      kind: 'numeric',
      name,
      sqlType: 'DOUBLE',
      values: synthetic.columns[j],
    })),
    { kind: 'numeric', name: 'status', sqlType: 'INTEGER', values: Float64Array.from(synthetic.label) },
    // Days since 1970: 2020-01-01 is day 18262.
    { kind: 'date', name: 'loan_date', sqlType: 'DATE', values: synthetic.day.map((d) => 18262 + d) },
  ];
  return {
    path: '/nonexistent/fixture.parquet',
    numRows: synthetic.numRows,
    schema: columns.map((c) => ({ name: c.name, kind: c.kind, sqlType: c.sqlType })),
    columns: new Map(columns.map((c) => [c.name, c])),
  };
}

const base = { numThreads: 1, earlyStoppingRounds: 10 };
const spec = (over: Partial<TrialSpec> = {}): TrialSpec => ({
  id: 1,
  rung: 0,
  fraction: 1 / 3,
  sampleSeed: 7,
  minTrialRows: 100,
  params: { ...base, numLeaves: 8, learningRate: 0.2, numTrees: 60 },
  ...over,
});

describe('rungRows', () => {
  it("draws about the fraction, each rung's rows holding the smaller rung's, the same for the same seed", () => {
    const third = rungRows(9000, 1 / 3, 7, 10);
    const ninth = rungRows(9000, 1 / 9, 7, 10);
    expect(third.length).toBeGreaterThan(2800);
    expect(third.length).toBeLessThan(3200);
    const inThird = new Set(third);
    expect([...ninth].every((r) => inThird.has(r))).toBe(true);
    expect(rungRows(9000, 1 / 3, 7, 10)).toEqual(third);
    expect(rungRows(9000, 1 / 3, 8, 10)).not.toEqual(third);
  });

  it('never trains on fewer than minRows, nor on more than all rows', () => {
    expect(rungRows(9000, 1 / 81, 7, 3000).length).toBeGreaterThan(2700);
    expect(rungRows(500, 1 / 9, 7, 5000)).toEqual(Uint32Array.from({ length: 500 }, (_, i) => i));
  });
});

describe('trials', () => {
  it('split the table exactly as the final training does (out of time by the date column)', async () => {
    const table = asTable();
    const data = await prepareTrialData({ input: table, target: 'status', timeColumn: 'loan_date' });
    const reference = splitRows(table, {
      label: Uint8Array.from(synthetic.label),
      featureColumns: synthetic.columns,
      timeColumn: 'loan_date',
      seed: 42,
      fractions: { train: 0.7, valid: 0.15, test: 0.15 },
    });
    expect(data.train.label).toEqual(reference.train.label);
    expect(data.valid.columns).toEqual(reference.valid.columns);
    expect(data.featureNames).toEqual(synthetic.featureNames);
  });

  it('answer validation metrics and trees, the same for the same trial', async () => {
    const data = await prepareTrialData({ input: asTable(), target: 'status', timeColumn: 'loan_date' });
    const a = await runTrial(data, spec());
    const b = await runTrial(data, spec());
    expect(a).toMatchObject({ id: 1, rung: 0, fraction: 1 / 3 });
    expect(a.trainRows).toBe(rungRows(data.train.numRows, 1 / 3, 7, 100).length);
    expect(a.validAuc).toBeGreaterThan(0.6);
    expect(a.trees).toBeGreaterThan(0);
    expect(a.trees).toBeLessThanOrEqual(a.treesBuilt);
    expect({ ...b, seconds: 0 }).toEqual({ ...a, seconds: 0 });
    // More rows, another answer: the rung's share is what the trial trains on.
    const full = await runTrial(data, spec({ fraction: 1 }));
    expect(full.trainRows).toBe(data.train.numRows);
    expect(full.validAuc).not.toBe(a.validAuc);
  });
});

describe('tune (in process) and the card', () => {
  it('runs every rung, chooses a configuration, and the card and the report keep the trials', async () => {
    const table = asTable();
    const data = await prepareTrialData({ input: table, target: 'status', timeColumn: 'loan_date' });
    const request = { tune: { trials: 6, seed: 3, minTrialRows: 500 }, base };
    const plan = await tune(request, inProcessTrials(data));
    expect(plan.done).toBe(true);
    const record = plan.record;
    if (!record || !plan.chosen) throw new Error('no record');
    expect(record.trials.map((t) => t.rung)).toEqual([0, 0, 0, 0, 0, 0, 1, 1]);
    expect(plan.chosen.params).toMatchObject(base);
    // The chosen configuration is the best of the last rung, by validation AUC.
    const last = record.trials.filter((t) => t.rung === 1);
    expect(plan.chosen.validAuc).toBe(Math.max(...last.map((t) => t.validAuc)));
    // Deterministic for a seed: the same trials again (times aside).
    const again = await tune(request, inProcessTrials(data));
    const strip = (r: typeof record) => r.trials.map((t) => ({ ...t, seconds: 0 }));
    expect(strip(again.record as typeof record)).toEqual(strip(record));

    const trained = await trainModel({
      input: table,
      target: 'status',
      timeColumn: 'loan_date',
      params: plan.chosen.params,
      tuning: record,
    });
    expect(trained.card.tuning).toEqual(record);
    expect(trained.card.params).toMatchObject({ numLeaves: record.configs[plan.chosen.id].numLeaves });
    expect(trained.reportHtml).toContain('<section id="tuning">');
    expect(trained.reportHtml).toContain(`data-chosen="${plan.chosen.id}"`);
    // The out-of-time test split's months, each scored on its own.
    const staleness = trained.card.staleness;
    expect(staleness?.timeColumn).toBe('loan_date');
    expect(staleness?.months.reduce((s, m) => s + m.rows, 0)).toBe(trained.card.split.test.rows);
    // Counted from the month the training data ends in (0 when the test split starts in it).
    expect([0, 1]).toContain(staleness?.months[0].monthsAfter);
    expect(staleness?.months.map((m, i) => m.monthsAfter - i)).toEqual(
      staleness?.months.map(() => staleness.months[0].monthsAfter),
    );
    expect(trained.reportHtml).toContain('<section id="staleness">');
  });

  it('a model trained without tuning has no tuning record, and a random split no staleness', async () => {
    const trained = await trainModel({
      input: asTable(),
      target: 'status',
      timeColumn: null,
      ignore: ['loan_date'],
      params: { ...base, numTrees: 20 },
    });
    expect(trained.card.tuning).toBeUndefined();
    expect(trained.card.staleness).toBeUndefined();
    expect(trained.reportHtml).not.toContain('<section id="tuning">');
  });
});
