import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTable, type Table } from '#lib/model/table.ts';

// readTable reads each result chunk's vectors directly (doubles, validity bits, duckdb_string_t)
// and gathers numeric columns in blocks of 65,536 rows: these tables cross both boundaries, hold
// NULLs in every kind of column, short strings of every inline length (0..12 bytes, some equal
// but for their length), long and non-ASCII ones, and more distinct short strings than the
// string cache keeps (65,536).
const ROWS = 140_003;
const SHORT = [
  'a',
  'aa',
  'aaa',
  'aaaa',
  'aaaaa',
  'abcdefgh',
  'abcdefghi',
  'abcdefghijkl',
  'F',
  'M',
  'ñ',
  'é€',
];
const LONG = ['abcdefghijklm', 'a much longer string than twelve bytes', 'Añejo, ñandú, éèê: 13+ bytes'];

interface Expected {
  n: (number | null)[];
  x: number[];
  day: (number | null)[];
  short: (string | null)[];
  long: (string | null)[];
  uniq: string[];
}

function expected(): Expected {
  const e: Expected = { n: [], x: [], day: [], short: [], long: [], uniq: [] };
  for (let i = 0; i < ROWS; i++) {
    e.n.push(i % 7 === 3 ? null : i - 50_000);
    e.x.push(i * 0.25 - 3.5);
    e.day.push(i % 11 === 5 ? null : 18_000 + (i % 900));
    // Every 17th short value is NULL (an empty CSV cell; read_csv reads "" as NULL too).
    e.short.push(i % 17 === 0 ? null : SHORT[i % SHORT.length]);
    e.long.push(i % 5 === 0 ? null : LONG[i % LONG.length]);
    e.uniq.push(`u${i % 80_000}`);
  }
  return e;
}

const isoDay = (day: number) => new Date(day * 86_400_000).toISOString().slice(0, 10);
const csvText = (v: string | null) => (v === null ? '' : `"${v}"`);

function checkTable(table: Table, e: Expected): void {
  expect(table.numRows).toBe(ROWS);
  const col = (name: string) => {
    const c = table.columns.get(name);
    if (!c) throw new Error(`no column ${name}`);
    return c;
  };
  const n = col('n');
  const day = col('day');
  expect(n.kind).toBe('numeric');
  expect(day.kind).toBe('date');
  expect(Array.from(n.values as Float64Array)).toEqual(e.n.map((v) => v ?? Number.NaN));
  expect(Array.from(col('x').values as Float64Array)).toEqual(e.x);
  expect(Array.from(day.values as Float64Array)).toEqual(e.day.map((v) => v ?? Number.NaN));
  expect(col('short').values).toEqual(e.short);
  expect(col('long').values).toEqual(e.long);
  expect(col('uniq').values).toEqual(e.uniq);
  // Rows of one short value share one string.
  const shorts = col('short').values as (string | null)[];
  expect(shorts.filter((v) => v === 'abcdefghijkl').length).toBeGreaterThan(10_000);
}

describe('readTable reads chunks straight from their vectors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cr-table-'));
  const e = expected();
  const csv = join(dir, 'table.csv');
  const parquet = join(dir, 'table.parquet');

  beforeAll(async () => {
    const lines = ['n,x,day,short,long,uniq'];
    for (let i = 0; i < ROWS; i++) {
      lines.push(
        [
          e.n[i] ?? '',
          e.x[i],
          e.day[i] === null ? '' : isoDay(e.day[i] as number),
          csvText(e.short[i]),
          csvText(e.long[i]),
          e.uniq[i],
        ].join(','),
      );
    }
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const conn = await (await DuckDBInstance.create(':memory:')).connect();
    await conn.run(
      `COPY (SELECT * FROM read_csv('${csv}', header = true, sample_size = -1, ` +
        `types = {'n': 'BIGINT', 'x': 'DOUBLE', 'day': 'DATE', 'short': 'VARCHAR', 'long': 'VARCHAR', 'uniq': 'VARCHAR'})) ` +
        `TO '${parquet}' (FORMAT parquet)`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a Parquet file: numbers, dates, NULLs, short, long and non-ASCII strings', async () => {
    checkTable(await readTable(parquet), e);
  });

  it('reads the same table from CSV', async () => {
    const table = await readTable(csv);
    expect(table.schema.find((c) => c.name === 'day')?.kind).toBe('date');
    checkTable(table, e);
  });

  it('tells an empty string from NULL', async () => {
    const file = join(dir, 'empty.parquet');
    const conn = await (await DuckDBInstance.create(':memory:')).connect();
    await conn.run(
      `COPY (SELECT * FROM (VALUES (1, '', NULL), (2, 'x', 'y')) t(k, s, u) ORDER BY k) TO '${file}' (FORMAT parquet)`,
    );
    const table = await readTable(file);
    expect(table.columns.get('s')?.values).toEqual(['', 'x']);
    expect(table.columns.get('u')?.values).toEqual([null, 'y']);
  });

  it('reads only the columns asked for', async () => {
    const table = await readTable(parquet, { columns: ['short', 'x'] });
    expect([...table.columns.keys()]).toEqual(['x', 'short']);
    expect(table.numRows).toBe(ROWS);
    expect(Array.from(table.columns.get('x')?.values as Float64Array)).toEqual(e.x);
  });
});
