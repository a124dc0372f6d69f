import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTable, textAt, type Table, type TableColumn } from '#lib/model/table.ts';

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

function texts(column: TableColumn): (string | null)[] {
  if (column.kind !== 'text') throw new Error(`${column.name} is ${column.kind}, not text`);
  return Array.from(column.codes, (_, r) => textAt(column, r));
}

function numbers(column: TableColumn): number[] {
  if (column.kind === 'text') throw new Error(`${column.name} is text`);
  return Array.from(column.values);
}

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
  expect(numbers(n)).toEqual(e.n.map((v) => v ?? Number.NaN));
  expect(numbers(col('x'))).toEqual(e.x);
  expect(numbers(day)).toEqual(e.day.map((v) => v ?? Number.NaN));
  expect(texts(col('short'))).toEqual(e.short);
  expect(texts(col('long'))).toEqual(e.long);
  expect(texts(col('uniq'))).toEqual(e.uniq);
  // Each distinct value is in the dictionary once, after NULL (code 0).
  const short = col('short');
  if (short.kind !== 'text') throw new Error('short is not text');
  expect(short.dictionary[0]).toBeNull();
  expect(new Set(short.dictionary).size).toBe(short.dictionary.length);
  expect([...short.dictionary.slice(1)].sort()).toEqual([...SHORT].sort());
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
    const column = (name: string) => {
      const c = table.columns.get(name);
      if (!c) throw new Error(`no column ${name}`);
      return c;
    };
    expect(texts(column('s'))).toEqual(['', 'x']);
    expect(texts(column('u'))).toEqual([null, 'y']);
  });

  it('reads only the columns asked for', async () => {
    const table = await readTable(parquet, { columns: ['short', 'x'] });
    expect([...table.columns.keys()]).toEqual(['x', 'short']);
    expect(table.numRows).toBe(ROWS);
    const x = table.columns.get('x');
    if (!x) throw new Error('no column x');
    expect(numbers(x)).toEqual(e.x);
  });
});
