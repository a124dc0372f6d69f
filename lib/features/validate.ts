import type { DuckDBConnection } from '@duckdb/node-api';
import {
  closeSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { InputError } from '#lib/errors.ts';
import { isIsoDate } from './calendar.ts';
import { RAW_COLUMNS, RAW_COLUMN_NAMES, type QuarantineReason, type RawColumnName } from './raw-schema.ts';
import { readCsvHeader, readRecordsAtLines, scanRawFile, type RawFileScan } from './validate-scan.ts';
import {
  parsedColumnsSql,
  reasonColumnSql,
  sqlIdentifier,
  sqlString,
  typedColumnsSql,
  validColumnsSql,
} from './validate-rules.ts';

/**
 * Validation and quarantine: raw loan records (CSV, or Parquet with the same columns) in, a typed
 * DuckDB table of the valid rows out (`raw_valid`, RAW_VALID_COLUMNS), every other row in a
 * quarantine CSV `line,reason,raw` with one reason each (raw-schema.ts, QUARANTINE_REASONS).
 * rowsIn = rowsValid + rowsQuarantined, always: nothing is silently dropped.
 *
 * How: DuckDB parses the file in parallel with every column as VARCHAR (store_rejects captures
 * structurally broken records: wrong field count, bad quoting, invalid UTF-8), the rules run as one
 * SQL CASE in the same pass into a hidden table of every parsed row with its reason (NULL when
 * valid), and `raw_valid` is a view of its valid rows. That table is written with insertion order
 * preserved, so its rowid is the record's position among the parsed records: the line number
 * without WITH ORDINALITY, which made DuckDB parse the file on one thread (about 1.6x the CPU
 * and twice the wall time on 2 cores). Duplicates of loan_id are found with one GROUP BY, and a streaming
 * pass in JS hashes the bytes meanwhile and finds what makes record numbers differ from physical
 * line numbers (blank lines, line breaks inside quotes). The exact original text of quarantined
 * records is read back from the file by line number at the end.
 *
 * File-level problems are InputErrors and leave nothing behind: FILE_NOT_FOUND, NOT_A_FILE,
 * EMPTY_FILE (0 bytes, or only whitespace/BOM), MISSING_COLUMNS (names them), DUPLICATE_COLUMNS,
 * BAD_DATE (asOf). A header with no rows is NOT an error: it is a valid file with 0 rows.
 * Header names are matched case-insensitively after trimming, in any order; extra columns are
 * ignored (reported through onWarning) but kept in the quarantined raw text.
 */
export interface ValidationSummary {
  rowsIn: number;
  rowsValid: number;
  rowsQuarantined: number;
  byReason: Record<string, number>;
  inputSha256: string;
}

export interface ValidateOptions {
  quarantinePath: string;
  /** YYYY-MM-DD; a loan_date after it is 'future_loan_date'. Default: today (UTC). */
  asOf?: string;
  /**
   * Name of the (temporary) view of valid rows (default 'raw_valid'); replaced if it exists. It
   * reads the table `<table>__checked` of the in-memory database CHECKED_DATABASE, which lives
   * as long as the connection's database.
   */
  table?: string;
  /** Non-fatal remarks about the file (extra columns ignored). */
  onWarning?: (message: string) => void;
  /**
   * The canonical columns the view keeps (default: all, RAW_VALID_COLUMNS), for a caller that
   * reads only some: every rule still checks every column, only fewer values are held (at 10M rows
   * the whole typed table is about twice DuckDB's 1 GB memory limit and spills). loan_id and id are always kept.
   */
  columns?: readonly RawColumnName[];
}

let scanCounter = 0;

export async function validateRawInto(
  conn: DuckDBConnection,
  inputPath: string,
  opts: ValidateOptions,
): Promise<ValidationSummary> {
  const table = opts.table ?? 'raw_valid';
  const asOf = opts.asOf ?? new Date().toISOString().slice(0, 10);
  if (!isIsoDate(asOf))
    throw new InputError(
      'BAD_DATE',
      `as-of date must be a real date YYYY-MM-DD, got ${JSON.stringify(asOf)}`,
    );
  const format = detectFormat(inputPath);
  const id = `${process.pid}_${++scanCounter}`;
  const rejectsTable = `__rejects_${id}`;
  const rejectsScan = `__reject_scans_${id}`;
  const kept = RAW_COLUMN_NAMES.filter(
    (c) => c === 'loan_id' || c === 'id' || (opts.columns ?? RAW_COLUMN_NAMES).includes(c),
  );
  const view = sqlIdentifier(table);
  const stage = checkedTable(table);
  const run = async (sql: string): Promise<void> => {
    await conn.run(sql);
  };
  const cleanup = async (): Promise<void> => {
    await run(
      `DROP TABLE IF EXISTS temp.${sqlIdentifier(rejectsTable)}; DROP TABLE IF EXISTS temp.${sqlIdentifier(rejectsScan)}`,
    );
  };

  let source: string;
  let fileColumns: string[];
  if (format === 'parquet') {
    fileColumns = await parquetColumns(conn, inputPath);
    const mapping = mapHeader(fileColumns, inputPath, opts.onWarning);
    source = `(SELECT ${RAW_COLUMN_NAMES.map((c) => `CAST(${sqlIdentifier(fileColumns[mapping.get(c) as number])} AS VARCHAR) AS ${sqlIdentifier(c)}`).join(', ')}
      FROM read_parquet(${sqlString(inputPath)}, hive_partitioning = false))`;
  } else {
    const header = readCsvHeader(inputPath);
    if (header.empty)
      throw new InputError(
        'EMPTY_FILE',
        `${inputPath} is empty: expected a header line with the columns ${RAW_COLUMN_NAMES.join(',')}`,
      );
    fileColumns = header.names;
    const mapping = mapHeader(fileColumns, inputPath, opts.onWarning);
    const byPosition = new Map<number, RawColumnName>([...mapping].map(([name, i]) => [i, name]));
    const columns = fileColumns
      .map((_, i) => `${sqlString(byPosition.get(i) ?? `__extra_${i}`)}: 'VARCHAR'`)
      .join(', ');
    source = `read_csv(${sqlString(inputPath)}, columns = {${columns}}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
      strict_mode = true, hive_partitioning = false, store_rejects = true, rejects_table = ${sqlString(rejectsTable)}, rejects_scan = ${sqlString(rejectsScan)})`;
  }

  await run(`ATTACH IF NOT EXISTS ':memory:' AS ${sqlIdentifier(CHECKED_DATABASE)} (COMPRESS)`);
  await dropRelation(conn, table);
  // The parse and the rules run in DuckDB's threads while this thread hashes and scans the bytes.
  // Insertion order is kept for this one statement: rowid k is then the k-th parsed record.
  const keptOrder = await setting(conn, 'preserve_insertion_order');
  await run('SET preserve_insertion_order = true');
  const checked = run(`CREATE OR REPLACE TABLE ${stage} AS
SELECT ${typedColumnsSql(kept)},
  reason
FROM (SELECT *, ${reasonColumnSql(asOf)}
      FROM (SELECT *, ${parsedColumnsSql()} FROM ${source}))`).finally(() =>
    run(`SET preserve_insertion_order = ${keptOrder}`),
  );
  let scan: RawFileScan;
  try {
    scan = scanRawFile(inputPath, {
      csv: format === 'csv',
      loanIdFirst: fileColumns[0]?.trim().toLowerCase() === 'loan_id',
    });
  } finally {
    await checked.catch(async (e: unknown) => {
      await cleanup().catch(() => undefined);
      throw translateDuckDbError(e, inputPath);
    });
  }

  try {
    const rejects = format === 'csv' ? await readRejects(conn, rejectsTable) : [];
    // Line of parsed record k (rowid k - 1): k + 1 in a CSV (the header is line 1), k in Parquet.
    const line = await lineNumbers(conn, stage, format === 'csv' ? 2 : 1, scan, rejects);
    // Duplicates: among rows that pass every other rule, the first occurrence (lowest line) stays.
    // Skipped when the scan proved the loan_ids strictly increase (then none can repeat).
    if (!scan.loanIdsStrictlyIncrease)
      await run(`UPDATE ${stage} SET reason = 'duplicate_loan_id'
      FROM (SELECT loan_id, min(${line}) AS first_line FROM ${stage} WHERE reason IS NULL GROUP BY loan_id HAVING count(*) > 1) d
      WHERE ${stage}.reason IS NULL AND ${stage}.loan_id = d.loan_id AND ${line} <> d.first_line`);
    const quarantined = await readQuarantined(conn, stage, line);
    for (const r of rejects) quarantined.push({ line: physicalLine(r.record, scan), reason: r.reason });
    quarantined.sort((a, b) => a.line - b.line);
    const counts = await conn.runAndReadAll(
      `SELECT count(*) FILTER (WHERE reason IS NULL) AS valid, count(*) AS total FROM ${stage}`,
    );
    const [validText, totalText] = counts.getRows()[0] as [bigint, bigint];
    const rowsValid = Number(validText);
    const rowsIn = Number(totalText) + rejects.length;

    const texts =
      format === 'csv'
        ? readRecordsAtLines(inputPath, uniqueSorted(quarantined.map((r) => r.line)))
        : await parquetRowsAsCsv(
            conn,
            inputPath,
            fileColumns,
            quarantined.map((r) => r.line),
          );
    writeQuarantine(opts.quarantinePath, quarantined, texts);
    // Compresses the checked table (in-memory tables are stored uncompressed until a checkpoint):
    // at 10M rows ~0.8 GB of the 1 GB memory limit became a few tens of MB, so the feature SQL
    // that follows does not spill.
    await run(`CHECKPOINT ${sqlIdentifier(CHECKED_DATABASE)}`);
    await run(`CREATE OR REPLACE TEMP VIEW ${view} AS
      SELECT ${validColumnsSql(kept)}, ${line} AS line FROM ${stage} WHERE reason IS NULL`);

    const byReason: Record<string, number> = {};
    for (const r of quarantined) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
    const summary: ValidationSummary = {
      rowsIn,
      rowsValid,
      rowsQuarantined: quarantined.length,
      byReason,
      inputSha256: scan.sha256,
    };
    if (summary.rowsValid + summary.rowsQuarantined !== summary.rowsIn) {
      throw new Error(`validation counts do not reconcile: ${JSON.stringify(summary)}`);
    }
    return summary;
  } catch (e) {
    await dropRelation(conn, table).catch(() => undefined);
    throw e;
  } finally {
    await cleanup();
  }
}

/** Drops `name` and its checked table, whichever kind of relation `name` is (an earlier run's view, or a table). */
async function dropRelation(conn: DuckDBConnection, name: string): Promise<void> {
  const kinds = await conn.runAndReadAll(
    `SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ${sqlString(name)} AND temporary
     UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ${sqlString(name)} AND temporary`,
  );
  for (const [kind] of kinds.getRows())
    await conn.run(`DROP ${String(kind)} IF EXISTS temp.${sqlIdentifier(name)}`);
  await conn.run(`DROP TABLE IF EXISTS ${checkedTable(name)}`);
}

/**
 * The in-memory database holding the checked tables, attached with COMPRESS: a temporary table
 * would stay uncompressed (84 bytes a row for the feature columns of the generated file, under 5 once compressed).
 */
export const CHECKED_DATABASE = 'validation';

function checkedTable(name: string): string {
  return `${sqlIdentifier(CHECKED_DATABASE)}.main.${sqlIdentifier(`${name}__checked`)}`;
}

async function setting(conn: DuckDBConnection, name: string): Promise<string> {
  const r = await conn.runAndReadAll(`SELECT current_setting(${sqlString(name)})`);
  return String(r.getRows()[0][0]);
}

function detectFormat(path: string): 'csv' | 'parquet' {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new InputError('NOT_A_FILE', `${path} is not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError('FILE_NOT_FOUND', `input file not found: ${path}`);
  }
  if (size === 0)
    throw new InputError(
      'EMPTY_FILE',
      `${path} is empty (0 bytes): expected a header line with the columns ${RAW_COLUMN_NAMES.join(',')}`,
    );
  const fd = openSync(path, 'r');
  try {
    const magic = Buffer.alloc(4);
    readSync(fd, magic, 0, 4, 0);
    return magic.toString('latin1') === 'PAR1' ? 'parquet' : 'csv';
  } finally {
    closeSync(fd);
  }
}

/** Canonical column -> position in the file. Throws MISSING_COLUMNS / DUPLICATE_COLUMNS. */
export function mapHeader(
  names: readonly string[],
  path: string,
  onWarning?: (message: string) => void,
): Map<RawColumnName, number> {
  const byName = new Map<string, number>();
  const duplicates: string[] = [];
  names.forEach((raw, i) => {
    const name = raw.trim().toLowerCase();
    if (byName.has(name)) duplicates.push(raw);
    else byName.set(name, i);
  });
  const mapping = new Map<RawColumnName, number>();
  const missing: string[] = [];
  for (const c of RAW_COLUMN_NAMES) {
    const i = byName.get(c);
    if (i === undefined) missing.push(c);
    else mapping.set(c, i);
  }
  if (missing.length > 0) {
    throw new InputError(
      'MISSING_COLUMNS',
      `${path}: the header lacks ${missing.length === 1 ? 'the required column' : 'the required columns'} ${missing.join(', ')} ` +
        `(found: ${names.slice(0, 30).join(',')}${names.length > 30 ? ',...' : ''})`,
      { missing },
    );
  }
  const canonical = new Set<string>(RAW_COLUMN_NAMES);
  const dupRequired = duplicates.filter((n) => canonical.has(n.trim().toLowerCase()));
  if (dupRequired.length > 0) {
    throw new InputError(
      'DUPLICATE_COLUMNS',
      `${path}: the header names ${dupRequired.join(', ')} more than once`,
      { duplicates: dupRequired },
    );
  }
  const extra = names.filter((n) => !canonical.has(n.trim().toLowerCase()));
  if (extra.length > 0) onWarning?.(`${path}: ignoring ${extra.length} extra column(s): ${extra.join(', ')}`);
  return mapping;
}

async function parquetColumns(conn: DuckDBConnection, path: string): Promise<string[]> {
  try {
    const r = await conn.runAndReadAll(
      `SELECT name FROM parquet_schema(${sqlString(path)}) WHERE num_children IS NULL OR num_children = 0`,
    );
    return r.getRows().map((row) => String(row[0]));
  } catch (e) {
    throw translateDuckDbError(e, path);
  }
}

interface RejectedRecord {
  /** DuckDB's record number (header = 1, blank lines counted, multi-line records count once). */
  record: number;
  reason: QuarantineReason;
}

async function readRejects(conn: DuckDBConnection, rejectsTable: string): Promise<RejectedRecord[]> {
  // One row per error: a record can have several. Invalid UTF-8 wins (its fields cannot be read at all).
  const r =
    await conn.runAndReadAll(`SELECT CAST(line AS BIGINT) AS line, bool_or(error_type = 'INVALID ENCODING') AS encoding
    FROM temp.${sqlIdentifier(rejectsTable)} GROUP BY line ORDER BY line`);
  return r.getRows().map(([line, encoding]) => ({
    record: Number(line),
    reason: encoding ? 'invalid_utf8' : 'wrong_column_count',
  }));
}

/**
 * The SQL expression of the physical line of each row of the checked table. `rowid + first` is
 * right for a Parquet file, and for a CSV where every record is one line and none was rejected
 * (the usual case: nothing is stored). Otherwise a `line` column is added and shifted: first to
 * DuckDB's record number (skipping the record numbers of rejected records and blank lines), then to
 * the physical line (adding the line breaks inside quotes of the records before). Both shifts are
 * step functions of few breakpoints: ASOF joins.
 */
async function lineNumbers(
  conn: DuckDBConnection,
  stage: string,
  first: number,
  scan: RawFileScan,
  rejects: RejectedRecord[],
): Promise<string> {
  const plain = `(${stage}.rowid + ${first})`;
  const skipped = [...new Set([...rejects.map((r) => r.record), ...scan.blankRecords])].sort((a, b) => a - b);
  if (skipped.length === 0 && scan.multiLineRecords.length === 0) return plain;
  await conn.run(`ALTER TABLE ${stage} ADD COLUMN line BIGINT; UPDATE ${stage} SET line = ${plain}`);
  // Ordinal k (1-based among emitted rows) is record k + 1 + (number of skipped records before it).
  // Skipped record s (rank i, 0-based) comes before ordinal k iff s - 1 - i <= k - 1.
  const skipSteps = skipped.map((s, i) => [s - 1 - i, i + 1] as const);
  let extra = 0;
  const lineSteps = scan.multiLineRecords.map(([record, lines]) => [record + 1, (extra += lines)] as const);
  const values = (rows: ReadonlyArray<readonly [number, number]>): string =>
    rows.length === 0
      ? '(SELECT NULL::BIGINT AS a, NULL::BIGINT AS b WHERE false)'
      : `(VALUES ${rows.map(([a, b]) => `(${a}, ${b})`).join(', ')})`;
  await conn.run(`UPDATE ${stage} SET line = fixed.line FROM (
    SELECT r.line AS old_line, r.record + coalesce(l.b, 0) AS line FROM (
      SELECT o.line, o.line + coalesce(s.b, 0) AS record
      FROM (SELECT line FROM ${stage}) o ASOF LEFT JOIN ${values(skipSteps)} s(a, b) ON o.line - 1 >= s.a
    ) r ASOF LEFT JOIN ${values(lineSteps)} l(a, b) ON r.record >= l.a
  ) fixed WHERE ${stage}.line = fixed.old_line`);
  return `${stage}.line`;
}

/** Physical line of a DuckDB record number. */
function physicalLine(record: number, scan: RawFileScan): number {
  let extra = 0;
  for (const [r, lines] of scan.multiLineRecords) {
    if (r < record) extra += lines;
    else break;
  }
  return record + extra;
}

interface QuarantinedRow {
  line: number;
  reason: string;
}

async function readQuarantined(
  conn: DuckDBConnection,
  stage: string,
  line: string,
): Promise<QuarantinedRow[]> {
  const r = await conn.runAndReadAll(
    `SELECT ${line} AS line, CAST(reason AS VARCHAR) AS reason FROM ${stage} WHERE reason IS NOT NULL ORDER BY line`,
  );
  return r.getRows().map(([line, reason]) => ({ line: Number(line), reason: String(reason) }));
}

/** The quarantine CSV, written under a temp name and renamed: a reader never sees half of it. */
function writeQuarantine(path: string, rows: QuarantinedRow[], texts: Map<number, string>): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, 'line,reason,raw\n');
    const batch: string[] = [];
    const flush = (): void => {
      appendFileSync(tmp, batch.join(''));
      batch.length = 0;
    };
    for (const r of rows) {
      batch.push(`${r.line},${r.reason},${csvQuote(texts.get(r.line) ?? '')}\n`);
      if (batch.length >= 10_000) flush();
    }
    flush();
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function uniqueSorted(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Parquet has no original text: the quarantined rows' fields, as one CSV record in file column order. */
async function parquetRowsAsCsv(
  conn: DuckDBConnection,
  path: string,
  columns: string[],
  rowNumbers: number[],
): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (let i = 0; i < rowNumbers.length; i += 10_000) {
    const chunk = rowNumbers.slice(i, i + 10_000);
    const r = await conn.runAndReadAll(
      `SELECT ordinality, ${columns.map((c) => `CAST(${sqlIdentifier(c)} AS VARCHAR)`).join(', ')}
       FROM read_parquet(${sqlString(path)}, hive_partitioning = false) WITH ORDINALITY WHERE ordinality IN (${chunk.join(', ')})`,
    );
    for (const [n, ...fields] of r.getRows()) {
      out.set(Number(n), fields.map((f) => (f === null ? '' : csvField(String(f)))).join(','));
    }
  }
  return out;
}

/** A CSV field, quoted only when needed. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvQuote(value: string): string {
  return /[",\r\n]/.test(value) || value === '' ? `"${value.replace(/"/g, '""')}"` : value;
}

function translateDuckDbError(e: unknown, path: string): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (/Invalid Input Error|Conversion Error|Invalid unicode|No magic bytes|Parquet/i.test(message)) {
    return new InputError(
      'UNREADABLE_INPUT',
      `${path} cannot be read as raw loans: ${message.split('\n')[0]}`,
    );
  }
  return e;
}

/** For the summary's readers: the columns of the valid table, in order. */
export const VALID_TABLE_COLUMNS = [...RAW_COLUMNS.map((c) => c.name), 'line'] as const;
