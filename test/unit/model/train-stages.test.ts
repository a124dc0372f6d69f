import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import { creditViews } from '#lib/model/credit-views.ts';
import { textColumn, type Table, type TableColumn } from '#lib/model/table.ts';
import {
  ageBand,
  checkTarget,
  fitBaseline,
  measureCreditViews,
  robustThreshold,
  selectFeatures,
  splitRows,
  testSlices,
} from '#lib/model/train-stages.ts';

function table(columns: TableColumn[]): Table {
  return {
    path: 'fixture.parquet',
    numRows: columns[0].kind === 'text' ? columns[0].codes.length : columns[0].values.length,
    schema: columns.map((c) => ({ name: c.name, kind: c.kind, sqlType: c.sqlType })),
    columns: new Map(columns.map((c) => [c.name, c])),
  };
}
const num = (name: string, values: number[]): TableColumn => ({
  kind: 'numeric',
  name,
  sqlType: 'DOUBLE',
  values: Float64Array.from(values),
});
const day = (name: string, values: number[]): TableColumn => ({
  kind: 'date',
  name,
  sqlType: 'DATE',
  values: Float64Array.from(values),
});
const text = (name: string, values: (string | null)[]): TableColumn => textColumn(name, values);

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (e) {
    return e instanceof InputError ? e.code : `not an InputError: ${String(e)}`;
  }
  return undefined;
}

describe('checkTarget', () => {
  it('gives the 0/1 labels of a valid target', () => {
    expect(Array.from(checkTarget(table([num('y', [0, 1, 1, 0])]), 'y', 'f'))).toEqual([0, 1, 1, 0]);
  });
  it.each([
    ['a missing column', table([num('x', [0, 1])]), 'MISSING_TARGET'],
    ['text', table([text('y', ['yes', 'no'])]), 'BAD_TARGET'],
    ['a value other than 0/1', table([num('y', [0, 2])]), 'BAD_TARGET'],
    ['an empty cell', table([num('y', [0, Number.NaN])]), 'BAD_TARGET'],
    ['a single class', table([num('y', [1, 1, 1])]), 'SINGLE_CLASS'],
  ])('refuses %s', (_what, t, code) => {
    expect(codeOf(() => checkTarget(t, 'y', 'f'))).toBe(code);
  });
});

describe('selectFeatures', () => {
  const t = table([
    num('id', [1, 2]),
    day('loan_date', [19000, 19001]),
    num('income', [10, 20]),
    num('age', [30, 40]),
    num('y', [0, 1]),
  ]);
  it('keeps every column but the target, the time column and the ids, in file order', () => {
    const s = selectFeatures(t, {
      target: 'y',
      timeColumn: 'loan_date',
      ignore: [],
      manifestIds: ['id'],
      inputPath: 'f',
    });
    expect(s.featureNames).toEqual(['income', 'age']);
    expect(s.idColumns).toEqual(['id']);
    expect(Array.from(s.featureColumns[1])).toEqual([30, 40]);
  });
  it('says how to fix a non-numeric feature and an unknown column', () => {
    const withText = table([num('y', [0, 1]), text('city', ['a', 'b'])]);
    expect(() =>
      selectFeatures(withText, {
        target: 'y',
        timeColumn: null,
        ignore: [],
        manifestIds: [],
        inputPath: 'f',
      }),
    ).toThrow(/--ignore city/);
    expect(
      codeOf(() =>
        selectFeatures(t, {
          target: 'y',
          timeColumn: null,
          ignore: ['nope'],
          manifestIds: [],
          inputPath: 'f',
        }),
      ),
    ).toBe('UNKNOWN_COLUMN');
    expect(
      codeOf(() =>
        selectFeatures(t, { target: 'y', timeColumn: 'when', ignore: [], manifestIds: [], inputPath: 'f' }),
      ),
    ).toBe('UNKNOWN_COLUMN');
  });
});

describe('splitRows', () => {
  it('splits out of time: train before validation before test, both classes in each', () => {
    const n = 100;
    const days = Array.from({ length: n }, (_, i) => 19000 + ((i * 37) % n));
    const y = days.map((d) => d % 2);
    const t = table([day('loan_date', days), num('x', days), num('y', y)]);
    const s = splitRows(t, {
      label: Uint8Array.from(y),
      featureColumns: [Float64Array.from(days)],
      timeColumn: 'loan_date',
      seed: 1,
      fractions: { train: 0.7, valid: 0.15, test: 0.15 },
    });
    expect(s.split.kind).toBe('out-of-time');
    const max = (c: Float64Array) => Math.max(...c);
    const min = (c: Float64Array) => Math.min(...c);
    expect(max(s.train.columns[0])).toBeLessThan(min(s.valid.columns[0]));
    expect(max(s.valid.columns[0])).toBeLessThan(min(s.test.columns[0]));
    expect(s.parts.train.rows + s.parts.valid.rows + s.parts.test.rows).toBe(n);
    expect(s.parts.test.from! <= s.parts.test.to!).toBe(true);
  });
  it('refuses a part with a single class', () => {
    const y = Array.from({ length: 100 }, (_, i) => (i < 80 ? i % 2 : 1));
    const days = Array.from({ length: 100 }, (_, i) => 19000 + i);
    const t = table([day('loan_date', days), num('y', y)]);
    expect(
      codeOf(() =>
        splitRows(t, {
          label: Uint8Array.from(y),
          featureColumns: [Float64Array.from(days)],
          timeColumn: 'loan_date',
          seed: 1,
          fractions: { train: 0.7, valid: 0.15, test: 0.15 },
        }),
      ),
    ).toBe('SINGLE_CLASS');
  });
});

describe('robustThreshold', () => {
  it('moves the threshold halfway down to the next lower score, as a float32 number', () => {
    const t = robustThreshold(0.5, [0.1, 0.3, 0.5, 0.7]);
    expect(t).toBe(Math.fround(t));
    expect(t).toBeGreaterThan(0.3);
    expect(t).toBeLessThanOrEqual(0.5);
    expect(t).toBeCloseTo(0.4, 6);
  });
});

describe('fitBaseline', () => {
  it('fits the logistic baseline on the same parts and reports its metrics', () => {
    const n = 400;
    const x = Float64Array.from({ length: n }, (_, i) => (i % 20) - 10);
    const y = Uint8Array.from(x, (v, i) => (v + ((i * 7) % 5) - 2 > 0 ? 1 : 0));
    const part = (from: number, to: number) => ({
      numRows: to - from,
      columns: [x.slice(from, to)],
      label: y.slice(from, to),
    });
    const b = fitBaseline(part(0, 280), part(280, 340), part(340, 400), { kind: 'max-f1' }, 1);
    expect(b.pTest.length).toBe(60);
    expect(b.metrics.test.auc).toBeGreaterThan(0.8);
    expect(b.threshold).toBeGreaterThan(0);
  });
});

describe('ageBand', () => {
  it('bands ages and names the missing ones', () => {
    expect([24, 25, 44, 64, 65, Number.NaN].map(ageBand)).toEqual([
      '<25',
      '25-34',
      '35-44',
      '55-64',
      '65+',
      'missing',
    ]);
  });
});

describe('testSlices', () => {
  const t = table([
    num('age', [30, Number.NaN, 70, 20]),
    text('code_gender', ['F', null, 'M', 'F']),
    num('flag_own_car', [1, 0, Number.NaN, 1]),
  ]);
  const rows = Uint32Array.of(3, 0, 1);

  it('names the group of each test row per default slice column the table has, ages as bands', () => {
    expect(testSlices(t, rows, undefined, 'fixture.parquet')).toEqual({
      ageBand: ['<25', '25-34', 'missing'],
      code_gender: ['F', 'F', 'missing'],
      flag_own_car: ['1', '1', '0'],
    });
  });

  it('takes the columns asked for, and refuses one the table lacks', () => {
    expect(testSlices(t, Uint32Array.of(2), ['flag_own_car'], 'fixture.parquet')).toEqual({
      flag_own_car: ['missing'],
    });
    expect(codeOf(() => testSlices(t, rows, ['income_type'], 'fixture.parquet'))).toBe('UNKNOWN_COLUMN');
  });
});

describe('measureCreditViews', () => {
  it("takes the test rows' amounts from the named column for the losses, and refuses a text column", () => {
    const n = 400;
    const amount = Float64Array.from({ length: n }, (_, i) => 100 + i);
    const t = table([
      num('loan_amount', Array.from(amount)),
      text(
        'name',
        Array.from({ length: n }, () => 'x'),
      ),
    ]);
    const rows = Uint32Array.from({ length: 200 }, (_, i) => 2 * i);
    const y = Uint8Array.from(rows, (r) => (r % 10 === 0 ? 1 : 0));
    const p = Float64Array.from(rows, (r) => ((r * 37) % 100) / 100);
    const views = measureCreditViews(t, rows, y, p, 0.5, 'loan_amount');
    expect(views.amountColumn).toBe('loan_amount');
    const gathered = Float64Array.from(rows, (r) => amount[r]);
    const direct = creditViews(y, p, 0.5, { amounts: gathered, amountColumn: 'loan_amount' });
    expect(views).toEqual(direct);
    expect(measureCreditViews(t, rows, y, p, 0.5).amountColumn).toBeUndefined();
    expect(codeOf(() => measureCreditViews(t, rows, y, p, 0.5, 'name'))).toBe('UNKNOWN_COLUMN');
  });
});
