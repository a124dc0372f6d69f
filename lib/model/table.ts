import { DuckDBInstance } from '@duckdb/node-api';
import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { sqlIdentifier as quoteIdent, sqlString as quoteString } from '#lib/features/sql-text.ts';

/**
 * A table file (.parquet or .csv) read into typed columns with DuckDB, in file order:
 * - numeric columns (integers, decimals, floats, booleans) as Float64Array, NULL/empty -> NaN;
 * - date and timestamp columns as Float64Array of days since 1970-01-01 (fractional for
 *   timestamps), plus their ISO text for reports;
 * - anything else as text (string | null). A text column whose cells are all empty counts as
 *   numeric (all missing): a CSV cannot say otherwise.
 * Infinity and NaN in numeric cells stay as they are (the trainer bins them; see binning.ts).
 */
export type ColumnKind = 'numeric' | 'date' | 'text';

export interface NumericColumn {
  kind: 'numeric' | 'date';
  name: string;
  /** The DuckDB type name, e.g. DOUBLE, BIGINT, DATE. */
  sqlType: string;
  values: Float64Array;
}

export interface TextColumn {
  kind: 'text';
  name: string;
  sqlType: string;
  values: (string | null)[];
}

export type TableColumn = NumericColumn | TextColumn;

export interface Table {
  path: string;
  numRows: number;
  /** Every column of the file, in file order, with its kind (also those not read). */
  schema: { name: string; kind: ColumnKind; sqlType: string }[];
  /** The columns that were read. */
  columns: Map<string, TableColumn>;
}

export interface ReadTableOptions {
  /** Read only these columns (default: all). Unknown names are an InputError. */
  columns?: readonly string[];
}

const NUMERIC_TYPES =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?|BOOLEAN)$/;
const DATE_TYPES = /^(DATE|TIMESTAMP.*)$/;

function kindOf(sqlType: string): ColumnKind {
  if (NUMERIC_TYPES.test(sqlType)) return 'numeric';
  if (DATE_TYPES.test(sqlType)) return 'date';
  return 'text';
}

/** The DuckDB table function that reads the file. */
function source(path: string): string {
  const ext = extname(path).toLowerCase();
  if (ext === '.parquet') return `read_parquet(${quoteString(path)}, hive_partitioning = false)`;
  if (ext === '.csv')
    return `read_csv(${quoteString(path)}, header = true, sample_size = -1, hive_partitioning = false)`;
  throw new InputError('BAD_TABLE', `${path}: expected a .parquet or .csv file`);
}

export async function readTable(path: string, options: ReadTableOptions = {}): Promise<Table> {
  if (!existsSync(path) || !statSync(path).isFile())
    throw new InputError('NO_SUCH_FILE', `${path} does not exist or is not a file`);
  const from = source(path);
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    let described;
    try {
      described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`);
    } catch (e) {
      throw new InputError(
        'BAD_TABLE',
        `${path}: cannot read it as a table: ${(e as Error).message.split('\n')[0]}`,
      );
    }
    const schema = described.getRowObjects().map((r) => {
      const sqlType = String(r.column_type);
      return { name: String(r.column_name), kind: kindOf(sqlType), sqlType };
    });
    const wanted = options.columns ?? schema.map((c) => c.name);
    const known = new Set(schema.map((c) => c.name));
    for (const name of wanted) {
      if (!known.has(name))
        throw new InputError(
          'UNKNOWN_COLUMN',
          `${path} has no column "${name}" (it has: ${[...known].join(', ')})`,
        );
    }
    const read = schema.filter((c) => wanted.includes(c.name));
    const selects = read.map((c) => {
      const q = quoteIdent(c.name);
      if (c.kind === 'numeric') return `CAST(${q} AS DOUBLE)`;
      if (c.kind === 'date') return `CAST(epoch_ms(CAST(${q} AS TIMESTAMP)) AS DOUBLE) / 86400000.0`;
      return `CAST(${q} AS VARCHAR)`;
    });
    const numeric: Float64Array[] = [];
    const text: (string | null)[][] = [];
    let capacity = 1 << 16;
    let numRows = 0;
    const grow = (a: Float64Array, size: number) => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    read.forEach((c, j) => {
      numeric[j] = c.kind === 'text' ? new Float64Array(0) : new Float64Array(capacity);
      text[j] = [];
    });
    if (read.length > 0) {
      const result = await conn.stream(`SELECT ${selects.join(', ')} FROM ${from}`);
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const rows = chunk.rowCount;
        if (numRows + rows > capacity) {
          while (numRows + rows > capacity) capacity *= 2;
          read.forEach((c, j) => {
            if (c.kind !== 'text') numeric[j] = grow(numeric[j], capacity);
          });
        }
        for (let j = 0; j < read.length; j++) {
          const vector = chunk.getColumnVector(j);
          if (read[j].kind === 'text') {
            const out = text[j];
            for (let i = 0; i < rows; i++) out.push(vector.getItem(i) as string | null);
          } else {
            const out = numeric[j];
            for (let i = 0; i < rows; i++) {
              const v = vector.getItem(i) as number | null;
              out[numRows + i] = v === null ? Number.NaN : v;
            }
          }
        }
        numRows += rows;
      }
    }
    const columns = new Map<string, TableColumn>();
    read.forEach((c, j) => {
      if (c.kind === 'text') {
        const values = text[j];
        if (values.every((v) => v === null || v === '')) {
          // An all-empty CSV column: numeric, all missing.
          columns.set(c.name, {
            kind: 'numeric',
            name: c.name,
            sqlType: c.sqlType,
            values: new Float64Array(numRows).fill(Number.NaN),
          });
        } else columns.set(c.name, { kind: 'text', name: c.name, sqlType: c.sqlType, values });
      } else {
        columns.set(c.name, {
          kind: c.kind,
          name: c.name,
          sqlType: c.sqlType,
          values: numeric[j].slice(0, numRows),
        });
      }
    });
    return { path, numRows, schema, columns };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** ISO date (YYYY-MM-DD) of a day number from a date column. */
export function isoDay(day: number): string {
  return new Date(Math.floor(day) * 86_400_000).toISOString().slice(0, 10);
}
