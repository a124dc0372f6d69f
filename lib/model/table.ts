import { DuckDBInstance, type DuckDBDataChunk } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
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
  /**
   * Row i holds dictionary[codes[i]] (textAt): each distinct value is one string, and 10M rows
   * are 40 MB of codes the garbage collector never scans, not an array of 10M references that
   * every full collection marks again (~90 ms each at 10M rows, dozens of them in a run).
   */
  codes: Uint32Array;
  /** The distinct values in order of first appearance after null (code 0 is NULL). */
  dictionary: readonly (string | null)[];
}

/** The value of a text column at a row (null for NULL). */
export function textAt(column: TextColumn, row: number): string | null {
  return column.dictionary[column.codes[row]];
}

/** A text column of the given values (the shape readTable gives). */
export function textColumn(
  name: string,
  values: readonly (string | null)[],
  sqlType = 'VARCHAR',
): TextColumn {
  const dictionary = new TextDictionary();
  const codes = Uint32Array.from(values, (v) => (v === null ? 0 : dictionary.codeOfString(v)));
  return { kind: 'text', name, sqlType, codes, dictionary: dictionary.values };
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
    const numeric = read.map(() => new Blocks((n) => new Float64Array(n)));
    const codes = read.map(() => new Blocks((n) => new Uint32Array(n)));
    const dictionaries = read.map(() => new TextDictionary());
    let numRows = 0;
    if (read.length > 0) {
      const result = await conn.stream(`SELECT ${selects.join(', ')} FROM ${from}`);
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const rows = chunk.rowCount;
        for (let j = 0; j < read.length; j++) {
          if (read[j].kind === 'text') readTexts(chunk, j, rows, codes[j], dictionaries[j]);
          else readDoubles(chunk, j, rows, numeric[j]);
        }
        numRows += rows;
      }
    }
    const columns = new Map<string, TableColumn>();
    read.forEach((c, j) => {
      if (c.kind === 'text') {
        const dictionary = dictionaries[j].values;
        if (dictionary.every((v) => v === null || v === '')) {
          // An all-empty CSV column: numeric, all missing.
          columns.set(c.name, {
            kind: 'numeric',
            name: c.name,
            sqlType: c.sqlType,
            values: new Float64Array(numRows).fill(Number.NaN),
          });
        } else {
          columns.set(c.name, {
            kind: 'text',
            name: c.name,
            sqlType: c.sqlType,
            codes: codes[j].join(),
            dictionary,
          });
        }
      } else {
        columns.set(c.name, {
          kind: c.kind,
          name: c.name,
          sqlType: c.sqlType,
          values: numeric[j].join(),
        });
      }
    });
    return { path, numRows, schema, columns };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

// The query casts every column to DOUBLE or VARCHAR, and the chunks of a result are flat: each
// column is read from its vector's memory (8-byte doubles, 16-byte duckdb_string_t) and its
// validity bits. node-api's getItem costs a BigInt test per cell and a decode per string: about
// 1 s of a 777,715-row feature table's 1.1 s.

/** Whether row i is valid in a validity mask (null: all are); bit i of uint64 word i / 64. */
function isValid(validity: Uint8Array | null, i: number): boolean {
  return validity === null || (validity[i >> 3] & (1 << (i & 7))) !== 0;
}

/** out[at + i] = NaN for the rows from + i (i < count) that the validity mask says are NULL. */
function markNulls(validity: Uint8Array, from: number, count: number, out: Float64Array, at: number): void {
  for (let i = 0; i < count;) {
    const row = from + i;
    // A whole byte of valid rows (the common case) is skipped at once.
    if ((row & 7) === 0 && i + 8 <= count && validity[row >> 3] === 255) {
      i += 8;
      continue;
    }
    if (!isValid(validity, row)) out[at + i] = Number.NaN;
    i++;
  }
}

function validityOf(vector: duckdb.Vector, rows: number): Uint8Array | null {
  return duckdb.vector_get_validity(vector, Math.ceil(rows / 64) * 8);
}

/** A column gathered in blocks of BLOCK_ROWS and joined once at the end (no regrowth copies). */
class Blocks<A extends Float64Array | Uint32Array> {
  static readonly BLOCK_ROWS = 1 << 16;
  private readonly blocks: A[] = [];
  private used = Blocks.BLOCK_ROWS;

  constructor(private readonly make: (length: number) => A) {}

  /** Room for `rows` more values: the block and offset to write them at, up to the block's end. */
  room(rows: number): { block: A; at: number; count: number } {
    if (this.used === Blocks.BLOCK_ROWS) {
      this.blocks.push(this.make(Blocks.BLOCK_ROWS));
      this.used = 0;
    }
    const at = this.used;
    const count = Math.min(rows, Blocks.BLOCK_ROWS - at);
    this.used += count;
    return { block: this.blocks[this.blocks.length - 1], at, count };
  }

  join(): A {
    const last = this.blocks.length - 1;
    const out = this.make(Math.max(0, last) * Blocks.BLOCK_ROWS + (last < 0 ? 0 : this.used));
    this.blocks.forEach((b, k) => out.set(k === last ? b.subarray(0, this.used) : b, k * Blocks.BLOCK_ROWS));
    return out;
  }
}

/** Column j of the chunk (DOUBLE) appended to out; NULL -> NaN. */
function readDoubles(chunk: DuckDBDataChunk, j: number, rows: number, out: Blocks<Float64Array>): void {
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, j);
  const bytes = duckdb.vector_get_data(vector, rows * 8);
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const values = new Float64Array(aligned.buffer, aligned.byteOffset, rows);
  const validity = validityOf(vector, rows);
  for (let done = 0; done < rows;) {
    const { block, at, count } = out.room(rows - done);
    block.set(values.subarray(done, done + count), at);
    if (validity !== null) markNulls(validity, done, count, block, at);
    done += count;
  }
}

const utf8 = new TextDecoder();

/**
 * The distinct values of a text column and their codes (0 is NULL). A short value (inlined in
 * its duckdb_string_t, <= 12 bytes) is found by its bytes, so that it is decoded once however
 * many rows hold it; a long one is decoded and found by its text.
 */
class TextDictionary {
  readonly values: (string | null)[] = [null];
  /** [len, w1, w2, w3, code] of the short values, by a hash of their bytes. */
  private readonly short = new Map<number, number[][]>();
  private readonly byText = new Map<string, number>();

  codeOfInline(view: DataView, o: number, len: number): number {
    // The 12 inline bytes as three little-endian words, the bytes past len masked off.
    const w1 = view.getUint32(o + 4, true) & mask(len, 0);
    const w2 = view.getUint32(o + 8, true) & mask(len, 4);
    const w3 = view.getUint32(o + 12, true) & mask(len, 8);
    const hash = Math.imul(len ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b), 0xc2b2ae35) ^ w3;
    let bucket = this.short.get(hash);
    if (bucket) {
      for (const e of bucket) if (e[0] === len && e[1] === w1 && e[2] === w2 && e[3] === w3) return e[4];
    } else this.short.set(hash, (bucket = []));
    const code = this.codeOfString(utf8.decode(new Uint8Array(view.buffer, view.byteOffset + o + 4, len)));
    bucket.push([len, w1, w2, w3, code]);
    return code;
  }

  codeOfString(value: string): number {
    let code = this.byText.get(value);
    if (code === undefined) {
      code = this.values.length;
      this.values.push(value);
      this.byText.set(value, code);
    }
    return code;
  }
}

/** The mask of the inline bytes from `from` (one word) that a string of len bytes uses. */
function mask(len: number, from: number): number {
  const n = len - from;
  return n >= 4 ? -1 : n <= 0 ? 0 : (1 << (8 * n)) - 1;
}

/** Column j of the chunk (VARCHAR) appended to out as codes of the dictionary; NULL -> 0. */
function readTexts(
  chunk: DuckDBDataChunk,
  j: number,
  rows: number,
  out: Blocks<Uint32Array>,
  dictionary: TextDictionary,
): void {
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, j);
  const bytes = duckdb.vector_get_data(vector, rows * 16);
  const view = new DataView(bytes.buffer, bytes.byteOffset, rows * 16);
  const validity = validityOf(vector, rows);
  for (let done = 0; done < rows;) {
    const { block, at, count } = out.room(rows - done);
    for (let k = 0; k < count; k++) {
      const i = done + k;
      if (!isValid(validity, i)) {
        block[at + k] = 0;
        continue;
      }
      const o = i * 16;
      const len = view.getUint32(o, true);
      block[at + k] =
        len <= 12
          ? dictionary.codeOfInline(view, o, len)
          : dictionary.codeOfString(
              utf8.decode(
                duckdb.get_data_from_pointer(bytes.buffer as ArrayBuffer, bytes.byteOffset + o + 8, len),
              ),
            );
    }
    done += count;
  }
}

/** ISO date (YYYY-MM-DD) of a day number from a date column. */
export function isoDay(day: number): string {
  return new Date(Math.floor(day) * 86_400_000).toISOString().slice(0, 10);
}
