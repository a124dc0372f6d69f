import type { DuckDBConnection } from '@duckdb/node-api';
import { closeSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { isIsoDate } from './calendar.ts';
import { RAW_COLUMNS, RAW_COLUMN_NAMES, type RawColumnName } from './raw-schema.ts';
import {
  classifyCsvRecords,
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_MAX_RECORD_LINES,
  hashFile,
  ID_CHECKSUM_MODULUS,
  RAW_EXCERPT_BYTES,
  readCsvHeader,
  RecordLogFile,
  RecordTextReader,
  scanCsv,
  type Classification,
  type CsvScan,
} from './validate-scan.ts';
import { parsedColumnsSql, reasonColumnSql, typedColumnsSql, validColumnsSql } from './validate-rules.ts';
import { sqlIdentifier, sqlString } from './sql-text.ts';

/**
 * Validation and quarantine: raw loan records (CSV, or Parquet with the same columns) in, a typed
 * DuckDB table of the valid rows out (`raw_valid`, RAW_VALID_COLUMNS), every other row in a
 * quarantine CSV `line,reason,raw` with one reason each (raw-schema.ts, QUARANTINE_REASONS).
 * rowsIn = rowsValid + rowsQuarantined, always, and for a CSV the physical lines add up too:
 * lines.total = header + blank + lines of valid rows + lines of quarantined records.
 *
 * How (ADR 0110 for the structure, docs/DECISIONS.md "Data and validation" for the rules): DuckDB
 * parses the file in parallel with every column as VARCHAR and skips structurally broken records
 * (`ignore_errors`: nothing of them is kept), the rules run as one SQL CASE in the same pass into a
 * hidden table of every parsed row with its reason (NULL when valid), and `raw_valid` is a view of
 * its valid rows. That table is written with insertion order preserved, so its rowid is the
 * record's position among the parsed records: the line number without WITH ORDINALITY, which made
 * DuckDB parse the file on one thread. Meanwhile a streaming pass in JS hashes the bytes, counts
 * records and physical lines, and finds what makes record numbers differ from line numbers (blank
 * lines, line breaks inside quotes) and records over the size bounds. When DuckDB kept every
 * record and none is over a bound (the usual file) that is all. Otherwise a byte-by-byte pass
 * classifies every record (field count, quotes, UTF-8, size) and says which ones DuckDB's reader
 * reads as rows. If DuckDB's table holds exactly those (count and a loan_id checksum), it stands
 * and the broken records are quarantined from the classifier's verdicts; if not (or the first
 * parse was cut short by a record too long to be valid), the classifier writes a copy of the file
 * with the broken records reduced to their line break and DuckDB reads that copy, storing its
 * rejects (none unless the two disagree, and each one record of the header's width). So no record
 * wider than the header, or longer than maxRecordBytes, is ever stored with its fields, and
 * DuckDB's rejects table (one row per surplus field, each with the whole line) never sees one. Duplicates of loan_id are found with one GROUP BY, and the
 * exact original text of quarantined records is read back from the file by line number at the end.
 *
 * Memory does not grow with the file: lists of single records (blank lines, multi-line records,
 * broken records) go to a small file DuckDB reads back, quarantine rows stream from DuckDB to the
 * file, and the checked table lives in DuckDB within its memory limit (spilling beyond it).
 *
 * File-level problems are InputErrors and leave nothing behind: FILE_NOT_FOUND, NOT_A_FILE,
 * EMPTY_FILE (0 bytes, or only whitespace/BOM), HEADER_TOO_LONG, MISSING_COLUMNS (names them),
 * DUPLICATE_COLUMNS, BAD_DATE (asOf), BAD_LIMIT. A header with no rows is NOT an error: it is a
 * valid file with 0 rows (reported through onWarning, as is a file whose every row is quarantined).
 * Header names are matched case-insensitively after trimming, in any order; extra columns are
 * ignored (reported through onWarning) but kept in the quarantined raw text.
 */
export interface ValidationSummary {
  rowsIn: number;
  rowsValid: number;
  rowsQuarantined: number;
  byReason: Record<string, number>;
  inputSha256: string;
  /** CSV input only: where the file's physical lines went (they add up to total). */
  lines?: LineSummary;
}

export interface LineSummary {
  /** Physical lines of the file (a last line without a line break counts). */
  total: number;
  header: number;
  /** Empty lines (DuckDB skips them). */
  blank: number;
  /** Lines of the valid rows (a record with line breaks inside quotes spans several). */
  valid: number;
  /** Lines of the quarantined records: an unterminated quote swallows lines into one record. */
  quarantined: number;
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
  /** Non-fatal remarks about the file (extra columns ignored, no valid rows, runaway records). */
  onWarning?: (message: string) => void;
  /**
   * The canonical columns the view keeps (default: all, RAW_VALID_COLUMNS), for a caller that
   * reads only some: every rule still checks every column, only fewer values are held (at 10M rows
   * the whole typed table is about twice DuckDB's 1 GB memory limit and spills). loan_id and id are always kept.
   */
  columns?: readonly RawColumnName[];
  /** A CSV record spanning more physical lines is quarantined as record_spans_lines (default 10). */
  maxRecordLines?: number;
  /** A CSV record longer than this many bytes is quarantined as record_too_long (default 1 MiB). */
  maxRecordBytes?: number;
  /** Where temporary files go (default: the quarantine file's directory); removed at the end. */
  workDir?: string;
}

/** DuckDB's CSV reader gives up on longer lines (max_line_size 2,000,000 by default). */
const MAX_RECORD_BYTES_LIMIT = 2_000_000;

let scanCounter = 0;

/** The names and settings one validation works with. */
interface Run {
  conn: DuckDBConnection;
  inputPath: string;
  opts: ValidateOptions;
  asOf: string;
  maxRecordLines: number;
  maxRecordBytes: number;
  kept: RawColumnName[];
  /** The checked table (validation database) and the view of its valid rows. */
  stage: string;
  view: string;
  /** Temporary tables: DuckDB's rejects, and the records the byte scans reported. */
  rejectsTable: string;
  rejectsScan: string;
  records: string;
  /** Prefix of the temporary files. */
  tmp: string;
}

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
  const maxRecordLines = opts.maxRecordLines ?? DEFAULT_MAX_RECORD_LINES;
  const maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!Number.isInteger(maxRecordLines) || maxRecordLines < 2)
    throw new InputError(
      'BAD_LIMIT',
      `the most lines a record may span must be a whole number >= 2, got ${maxRecordLines}`,
    );
  if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < 1024 || maxRecordBytes > MAX_RECORD_BYTES_LIMIT)
    throw new InputError(
      'BAD_LIMIT',
      `the longest record must be a whole number of bytes from 1024 to ${MAX_RECORD_BYTES_LIMIT}, got ${maxRecordBytes}`,
    );
  const format = detectFormat(inputPath);
  const id = `${process.pid}_${++scanCounter}`;
  const run: Run = {
    conn,
    inputPath,
    opts,
    asOf,
    maxRecordLines,
    maxRecordBytes,
    kept: RAW_COLUMN_NAMES.filter(
      (c) => c === 'loan_id' || c === 'id' || (opts.columns ?? RAW_COLUMN_NAMES).includes(c),
    ),
    stage: checkedTable(table),
    view: sqlIdentifier(table),
    rejectsTable: `__rejects_${id}`,
    rejectsScan: `__reject_scans_${id}`,
    records: `temp.${sqlIdentifier(`__records_${id}`)}`,
    tmp: join(opts.workDir ?? dirname(opts.quarantinePath), `.validate-${id}`),
  };
  const tmpFiles = ['-records.csv', '-broken.csv', '-copy.csv'].map((s) => `${run.tmp}${s}`);
  await conn.run(`ATTACH IF NOT EXISTS ':memory:' AS ${sqlIdentifier(CHECKED_DATABASE)} (COMPRESS)`);
  await dropRelation(conn, table);
  try {
    return format === 'parquet' ? await validateParquet(run) : await validateCsv(run);
  } catch (e) {
    await dropRelation(conn, table).catch(() => undefined);
    throw e;
  } finally {
    for (const f of tmpFiles) rmSync(f, { force: true });
    await conn.run(
      `DROP TABLE IF EXISTS temp.${sqlIdentifier(run.rejectsTable)}; DROP TABLE IF EXISTS temp.${sqlIdentifier(run.rejectsScan)};
       DROP TABLE IF EXISTS ${run.records}`,
    );
  }
}

/**
 * Starts creating the checked table from `source` (a relation of the raw columns as VARCHAR) and
 * resolves once the statement is running in DuckDB's threads, with the promise of its end: the
 * caller scans the bytes meanwhile.
 */
async function startChecked(r: Run, source: string): Promise<{ done: Promise<void> }> {
  // Insertion order is kept for this one statement: rowid k is then the k-th parsed record.
  const keptOrder = await setting(r.conn, 'preserve_insertion_order');
  await r.conn.run('SET preserve_insertion_order = true');
  const done = r.conn
    .run(
      `CREATE OR REPLACE TABLE ${r.stage} AS
SELECT ${typedColumnsSql(r.kept)},
  reason
FROM (SELECT *, ${reasonColumnSql(r.asOf)}
      FROM (SELECT *, ${parsedColumnsSql()} FROM ${source}))`,
    )
    .then(() => undefined)
    .finally(() => r.conn.run(`SET preserve_insertion_order = ${keptOrder}`));
  return { done };
}

async function validateCsv(r: Run): Promise<ValidationSummary> {
  const { conn, inputPath, opts } = r;
  const header = readCsvHeader(inputPath);
  if (header.empty)
    throw new InputError(
      'EMPTY_FILE',
      `${inputPath} is empty: expected a header line with the columns ${RAW_COLUMN_NAMES.join(',')}`,
    );
  const fileColumns = header.names;
  const mapping = mapHeader(fileColumns, inputPath, opts.onWarning);
  const byPosition = new Map<number, RawColumnName>([...mapping].map(([name, i]) => [i, name]));
  const columns = fileColumns
    .map((_, i) => `${sqlString(byPosition.get(i) ?? `__extra_${i}`)}: 'VARCHAR'`)
    .join(', ');
  const readCsv = (path: string, broken: 'skip' | 'store'): string =>
    `read_csv(${sqlString(path)}, columns = {${columns}}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
      strict_mode = true, hive_partitioning = false, ${
        broken === 'skip'
          ? 'ignore_errors = true'
          : `store_rejects = true, rejects_table = ${sqlString(r.rejectsTable)}, rejects_scan = ${sqlString(r.rejectsScan)}`
      })`;

  // The parse and the rules run in DuckDB's threads while this thread hashes and scans the bytes.
  const recordLog = new RecordLogFile(`${r.tmp}-records.csv`);
  const first = (await startChecked(r, readCsv(inputPath, 'skip'))).done;
  let scan: CsvScan;
  try {
    scan = scanCsv(inputPath, {
      loanIdFirst: fileColumns[0]?.trim().toLowerCase() === 'loan_id',
      maxRecordLines: r.maxRecordLines,
      maxRecordBytes: r.maxRecordBytes,
      sink: recordLog,
    });
    recordLog.flush();
  } catch (e) {
    await first.catch(() => undefined);
    throw e;
  }
  // A record too long to be valid: the file is read again from a copy, so stop this parse now.
  if (scan.suspect) conn.interrupt();
  const firstError = await first.then(
    () => null,
    (e: unknown) => e,
  );
  // A file DuckDB cannot read may still be readable once its broken records are left out.
  if (firstError !== null && !isReadError(firstError) && !(scan.suspect && isInterrupt(firstError)))
    throw firstError;
  const dataRecords = scan.records - 1 - scan.blankRecords;
  const clean =
    firstError === null &&
    scan.oversize === null &&
    !scan.suspect &&
    (await countRows(conn, r.stage)) === dataRecords;
  let log = recordLog;
  let rejectsStored = false;
  if (!clean) {
    // Some record is structurally broken: classify every record.
    const broken = new RecordLogFile(`${r.tmp}-broken.csv`);
    const classify = (copyPath?: string) => {
      const classified = classifyCsvRecords(inputPath, {
        headerFields: fileColumns.length,
        checkedFields: [...mapping.values()],
        maxRecordLines: r.maxRecordLines,
        maxRecordBytes: r.maxRecordBytes,
        copyPath,
        idField: mapping.get('loan_id'),
        sink: broken,
      });
      broken.flush();
      if (classified.records !== scan.records)
        throw new Error(
          `${inputPath}: the two byte scans disagree on the number of records (${scan.records} and ${classified.records}): a bug, please report it`,
        );
      return classified;
    };
    // When DuckDB's first parse read the whole file and holds exactly the rows the classifier says
    // it reads (same count, same loan_ids), its table stands. Otherwise DuckDB reads a copy without
    // the broken records, storing its rejects.
    let trusted = false;
    if (firstError === null && !scan.suspect) {
      const classified = classify();
      trusted = await sameRows(r, classified);
    }
    if (!trusted) {
      broken.reset();
      const copyPath = `${r.tmp}-copy.csv`;
      classify(copyPath);
      try {
        await (
          await startChecked(r, readCsv(copyPath, 'store'))
        ).done;
      } catch (e) {
        throw translateDuckDbError(e, inputPath);
      }
      rmSync(copyPath, { force: true });
      rejectsStored = true;
    }
    log = broken;
  }
  await loadRecords(r, log, rejectsStored);
  const summary = await finish(r, {
    sha256: scan.sha256,
    first: 2,
    dataRecords,
    physicalLines: scan.physicalLines,
    readBroken: log.readBroken,
    headerFields: fileColumns.length,
    loanIdsStrictlyIncrease: scan.loanIdsStrictlyIncrease,
    texts: csvTexts(inputPath),
  });
  return summary;
}

async function validateParquet(r: Run): Promise<ValidationSummary> {
  const { conn, inputPath, opts } = r;
  const fileColumns = await parquetColumns(conn, inputPath);
  const mapping = mapHeader(fileColumns, inputPath, opts.onWarning);
  const source = `(SELECT ${RAW_COLUMN_NAMES.map((c) => `CAST(${sqlIdentifier(fileColumns[mapping.get(c) as number])} AS VARCHAR) AS ${sqlIdentifier(c)}`).join(', ')}
      FROM read_parquet(${sqlString(inputPath)}, hive_partitioning = false))`;
  const checked = (await startChecked(r, source)).done;
  let hashed: { sha256: string; bytes: number };
  try {
    hashed = hashFile(inputPath);
  } finally {
    await checked.catch((e: unknown) => {
      throw translateDuckDbError(e, inputPath);
    });
  }
  await loadRecords(r, null, false);
  return finish(r, {
    sha256: hashed.sha256,
    first: 1,
    dataRecords: null,
    physicalLines: null,
    readBroken: 0,
    headerFields: fileColumns.length,
    loanIdsStrictlyIncrease: false,
    texts: parquetTexts(conn, inputPath, fileColumns),
  });
}

/** DuckDB could not read the file at all (not a failure of ours). */
function isReadError(e: unknown): boolean {
  const message = e instanceof Error ? e.message : String(e);
  return /Invalid Input Error|Conversion Error|Invalid unicode/i.test(message);
}

function isInterrupt(e: unknown): boolean {
  return /INTERRUPT/.test(e instanceof Error ? e.message : String(e));
}

/** The checked table holds exactly the rows the classifier says DuckDB reads: their count and loan_id checksum. */
async function sameRows(r: Run, classified: Classification): Promise<boolean> {
  const m = ID_CHECKSUM_MODULUS;
  const [rows, checksum] = (
    await r.conn.runAndReadAll(`SELECT count(*),
      coalesce(sum(loan_id % ${m}) FILTER (WHERE reason IS NULL OR reason NOT IN ('missing_loan_id', 'non_numeric_loan_id')) % ${m}, 0)
      FROM ${r.stage}`)
  )
    .getRows()[0]
    .map(Number);
  return rows === classified.rowsRead && checksum === classified.idChecksum;
}

async function countRows(conn: DuckDBConnection, table: string): Promise<number> {
  const r = await conn.runAndReadAll(`SELECT count(*) FROM ${table}`);
  return Number(r.getRows()[0][0]);
}

/**
 * The records table: kind b (blank), m (multi-line, value = extra lines), x (broken, value = the
 * detail), k (broken but a row of the checked table all the same), r (rejected by DuckDB's
 * reader), one row each, by DuckDB record number.
 */
async function loadRecords(r: Run, log: RecordLogFile | null, rejectsStored: boolean): Promise<void> {
  await r.conn.run(
    `CREATE OR REPLACE TEMP TABLE ${r.records.slice('temp.'.length)} (kind VARCHAR, record BIGINT, value BIGINT, reason VARCHAR)`,
  );
  if (log !== null && log.entries > 0)
    await r.conn.run(`INSERT INTO ${r.records} SELECT * FROM read_csv(${sqlString(log.path)},
      columns = {'kind': 'VARCHAR', 'record': 'BIGINT', 'value': 'BIGINT', 'reason': 'VARCHAR'},
      header = false, auto_detect = false, delim = ',', quote = '"')`);
  // One row per error in DuckDB's table: a record can have several. Invalid UTF-8 wins.
  if (rejectsStored)
    await r.conn.run(`INSERT INTO ${r.records}
      SELECT 'r', CAST(line AS BIGINT), NULL,
        CASE WHEN bool_or(error_type = 'INVALID ENCODING') THEN 'invalid_utf8' ELSE 'wrong_column_count' END
      FROM temp.${sqlIdentifier(r.rejectsTable)} GROUP BY line`);
}

interface FinishInput {
  sha256: string;
  /** Line of parsed record k (rowid k - 1) is k - 1 + first when nothing shifts it: 2 in a CSV, 1 in Parquet. */
  first: number;
  /** Data records of a CSV (not blank), which every count must account for; null for Parquet. */
  dataRecords: number | null;
  physicalLines: number | null;
  /** Broken records that are rows of the checked table all the same (kind k). */
  readBroken: number;
  headerFields: number;
  loanIdsStrictlyIncrease: boolean;
  texts: TextSource;
}

/**
 * The raw text of quarantined rows, asked for in ascending line order: `prepare` once per batch
 * (Parquet looks the batch up), then `text` row by row (a CSV reads each record as it is written,
 * so no more than one record's text is held).
 */
interface TextSource {
  prepare(lines: readonly number[]): Promise<void>;
  text(line: number, maxBytes: number): string;
  close(): void;
}

/** Line numbers, duplicates, the quarantine file, the summary, the view. */
async function finish(r: Run, input: FinishInput): Promise<ValidationSummary> {
  const { conn, stage } = r;
  const records = r.records;
  const multi = `(SELECT record + coalesce(sum(value) OVER (ORDER BY record ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS line,
      value AS extra FROM ${records} WHERE kind = 'm')`;
  const steps = `(SELECT record + 1 AS a, sum(value) OVER (ORDER BY record) AS b FROM ${records} WHERE kind = 'm')`;
  const line = await lineNumbers(conn, stage, input.first, records, steps);
  // Broken records DuckDB read as rows all the same (a closed quote over the line bound): their
  // quarantine row comes from the records table.
  if (input.readBroken > 0)
    await conn.run(`DELETE FROM ${stage} WHERE ${line} IN (
      SELECT k.record + coalesce(l.b, 0) FROM (SELECT record FROM ${records} WHERE kind = 'k') k
      ASOF LEFT JOIN ${steps} l ON k.record >= l.a)`);
  // Duplicates: among rows that pass every other rule, the first occurrence (lowest line) stays.
  // Skipped when the scan proved the loan_ids strictly increase (then none can repeat).
  if (!input.loanIdsStrictlyIncrease)
    await conn.run(`UPDATE ${stage} SET reason = 'duplicate_loan_id'
      FROM (SELECT loan_id, min(${line}) AS first_line FROM ${stage} WHERE reason IS NULL GROUP BY loan_id HAVING count(*) > 1) d
      WHERE ${stage}.reason IS NULL AND ${stage}.loan_id = d.loan_id AND ${line} <> d.first_line`);

  const quarantine = await writeQuarantine(r, {
    sql: `SELECT q.line, q.reason, q.detail, 1 + coalesce(m.extra, 0) AS lines FROM (
        SELECT ${line} AS line, CAST(reason AS VARCHAR) AS reason, CAST(NULL AS BIGINT) AS detail FROM ${stage} WHERE reason IS NOT NULL
        UNION ALL
        SELECT x.record + coalesce(l.b, 0), x.reason, x.value
        FROM (SELECT * FROM ${records} WHERE kind IN ('x', 'k', 'r')) x ASOF LEFT JOIN ${steps} l ON x.record >= l.a
      ) q LEFT JOIN ${multi} m ON m.line = q.line ORDER BY q.line`,
    headerFields: input.headerFields,
    texts: input.texts,
  });

  const [parsed, valid, validExtra, header, blank] = (
    await conn.runAndReadAll(`SELECT
      (SELECT count(*) FROM ${stage}),
      (SELECT count(*) FROM ${stage} WHERE reason IS NULL),
      (SELECT coalesce(sum(m.extra), 0) FROM ${multi} m JOIN ${stage} ON ${line} = m.line WHERE ${stage}.reason IS NULL),
      1 + (SELECT coalesce(sum(value), 0) FROM ${records} WHERE kind = 'm' AND record = 1),
      (SELECT count(*) FROM ${records} WHERE kind = 'b')`)
  )
    .getRows()[0]
    .map(Number);
  const structural = quarantine.rows - (parsed - valid);
  const summary: ValidationSummary = {
    rowsIn: parsed + structural,
    rowsValid: valid,
    rowsQuarantined: quarantine.rows,
    byReason: quarantine.byReason,
    inputSha256: input.sha256,
  };
  if (input.physicalLines !== null)
    summary.lines = {
      total: input.physicalLines,
      header,
      blank,
      valid: valid + validExtra,
      quarantined: quarantine.lines,
    };
  checkCounts(r.inputPath, summary, input.dataRecords);
  warn(r, summary, quarantine.firstOf);

  // Compresses the checked table (in-memory tables are stored uncompressed until a checkpoint):
  // at 10M rows ~0.8 GB of the 1 GB memory limit became a few tens of MB, so the feature SQL
  // that follows does not spill.
  await conn.run(`CHECKPOINT ${sqlIdentifier(CHECKED_DATABASE)}`);
  await conn.run(`CREATE OR REPLACE TEMP VIEW ${r.view} AS
      SELECT ${validColumnsSql(r.kept)}, ${line} AS line FROM ${stage} WHERE reason IS NULL`);
  return summary;
}

/** Every count must add up; a difference is a bug (or DuckDB reading records the scans did not see). */
function checkCounts(path: string, s: ValidationSummary, dataRecords: number | null): void {
  const problems: string[] = [];
  if (s.rowsValid + s.rowsQuarantined !== s.rowsIn) problems.push('valid + quarantined <> rows in');
  if (dataRecords !== null && s.rowsIn !== dataRecords)
    problems.push(`the file has ${dataRecords} data records, DuckDB and the scans account for ${s.rowsIn}`);
  const l = s.lines;
  if (l && l.header + l.blank + l.valid + l.quarantined !== l.total)
    problems.push('header + blank + valid + quarantined lines <> lines');
  if (problems.length > 0)
    throw new Error(
      `${path}: validation counts do not reconcile (${problems.join('; ')}): ${JSON.stringify(s)}; a bug, please report it`,
    );
}

/** Non-fatal remarks a person should see: no valid rows, records cut for their size or width. */
function warn(r: Run, s: ValidationSummary, firstOf: Map<string, { line: number; detail: string }>): void {
  const onWarning = r.opts.onWarning;
  if (!onWarning) return;
  if (s.rowsIn === 0) onWarning(`${r.inputPath} has a header and no rows: 0 valid rows`);
  else if (s.rowsValid === 0)
    onWarning(`${r.inputPath}: all ${s.rowsIn} rows were quarantined: 0 valid rows`);
  const explain: Record<string, string> = {
    record_spans_lines: `span more than ${r.maxRecordLines} lines (an unterminated quote?)`,
    record_too_long: `are longer than ${r.maxRecordBytes} bytes`,
    too_many_fields: 'have more than twice as many fields as the header',
  };
  for (const [reason, text] of Object.entries(explain)) {
    const first = firstOf.get(reason);
    if (!first) continue;
    onWarning(
      `${r.inputPath}: ${s.byReason[reason]} record(s) ${text}, quarantined as ${reason} without their fields; the first at line ${first.line} (${first.detail})`,
    );
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
  if (extra.length > 0)
    onWarning?.(
      `${path}: ignoring ${extra.length} extra column(s): ${extra.slice(0, 30).join(', ')}${extra.length > 30 ? ', ...' : ''}`,
    );
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

/**
 * The SQL expression of the physical line of each row of the checked table. `rowid + first` is
 * right for a Parquet file, and for a CSV where every record is one line and none was skipped
 * (the usual case: the records table is empty). Otherwise a `line` column is added and shifted:
 * first to DuckDB's record number (skipping the record numbers of blank lines and of records
 * DuckDB did not parse), then to the physical line (adding the line breaks inside quotes of the
 * records before). Both shifts are step functions of few breakpoints: ASOF joins.
 */
async function lineNumbers(
  conn: DuckDBConnection,
  stage: string,
  first: number,
  records: string,
  steps: string,
): Promise<string> {
  const plain = `(${stage}.rowid + ${first})`;
  if ((await countRows(conn, records)) === 0) return plain;
  await conn.run(`ALTER TABLE ${stage} ADD COLUMN line BIGINT; UPDATE ${stage} SET line = ${plain}`);
  // Ordinal k (1-based among emitted rows) is record k + 1 + (number of skipped records before it).
  // Skipped record s (rank i, 0-based) comes before ordinal k iff s - 1 - i <= k - 1.
  // Consecutive skipped records share their a: the step is the last of them (max b).
  const skips = `(SELECT a, max(b) AS b FROM (
      SELECT record - row_number() OVER (ORDER BY record) AS a, row_number() OVER (ORDER BY record) AS b
      FROM ${records} WHERE kind IN ('b', 'x', 'r')) GROUP BY a)`;
  await conn.run(`UPDATE ${stage} SET line = fixed.line FROM (
    SELECT r.line AS old_line, r.record + coalesce(l.b, 0) AS line FROM (
      SELECT o.line, o.line + coalesce(s.b, 0) AS record
      FROM (SELECT line FROM ${stage}) o ASOF LEFT JOIN ${skips} s ON o.line - 1 >= s.a
    ) r ASOF LEFT JOIN ${steps} l ON r.record >= l.a
  ) fixed WHERE ${stage}.line = fixed.old_line`);
  return `${stage}.line`;
}

/** Reasons whose records are quarantined for their size or width: only an excerpt of their text is kept. */
const EXCERPT_REASONS = new Set(['record_spans_lines', 'record_too_long', 'too_many_fields']);

interface QuarantineWritten {
  rows: number;
  /** Physical lines of the quarantined records. */
  lines: number;
  byReason: Record<string, number>;
  /** The first quarantined record of each excerpt reason: its line and the detail. */
  firstOf: Map<string, { line: number; detail: string }>;
}

/**
 * The quarantine CSV, streamed from DuckDB in line order and written under a temp name, then
 * renamed: a reader never sees half of it. Rows `line,reason,raw`; an excerpt reason carries its
 * detail after the code.
 */
async function writeQuarantine(
  r: Run,
  q: { sql: string; headerFields: number; texts: TextSource },
): Promise<QuarantineWritten> {
  const path = r.opts.quarantinePath;
  const tmp = `${path}.tmp-${process.pid}`;
  const out: QuarantineWritten = { rows: 0, lines: 0, byReason: {}, firstOf: new Map() };
  const describe = (reason: string, detail: number): string => {
    if (reason === 'record_spans_lines') return `${detail} lines`;
    if (reason === 'record_too_long') return `${detail} bytes, the limit is ${r.maxRecordBytes}`;
    return `${detail} fields, header has ${q.headerFields}`;
  };
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, 'line,reason,raw\n');
    const result = await r.conn.stream(q.sql);
    for await (const rows of result.yieldRows()) {
      const batch = rows.map(([line, reason, detail, lines]) => ({
        line: Number(line),
        reason: String(reason),
        detail: detail === null ? null : Number(detail),
        lines: Number(lines),
      }));
      await q.texts.prepare(batch.map((b) => b.line));
      let pending: string[] = [];
      let pendingLength = 0;
      for (const b of batch) {
        out.rows++;
        out.lines += b.lines;
        out.byReason[b.reason] = (out.byReason[b.reason] ?? 0) + 1;
        const excerpt = EXCERPT_REASONS.has(b.reason);
        let reason = b.reason;
        if (excerpt && b.detail !== null) {
          const detail = describe(b.reason, b.detail);
          reason = `${b.reason}: ${detail}`;
          if (!out.firstOf.has(b.reason)) out.firstOf.set(b.reason, { line: b.line, detail });
        }
        const raw = q.texts.text(b.line, excerpt ? RAW_EXCERPT_BYTES : r.maxRecordBytes);
        const row = `${b.line},${csvQuote(reason)},${csvQuote(raw)}\n`;
        pending.push(row);
        pendingLength += row.length;
        if (pendingLength >= 1 << 20) {
          writeSync(fd, pending.join(''));
          pending = [];
          pendingLength = 0;
        }
      }
      writeSync(fd, pending.join(''));
    }
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    q.texts.close();
  }
  return out;
}

function csvTexts(path: string): TextSource {
  let reader: RecordTextReader | null = null;
  return {
    prepare: () => Promise.resolve(),
    text: (line, maxBytes) => (reader ??= new RecordTextReader(path)).textAt(line, maxBytes),
    close: () => reader?.close(),
  };
}

/** Parquet has no original text: the quarantined rows' fields, as one CSV record in file column order. */
function parquetTexts(conn: DuckDBConnection, path: string, columns: string[]): TextSource {
  let batch = new Map<number, string>();
  return {
    prepare: async (lines) => {
      batch = new Map();
      const r = await conn.runAndReadAll(
        `SELECT ordinality, ${columns.map((c) => `CAST(${sqlIdentifier(c)} AS VARCHAR)`).join(', ')}
         FROM read_parquet(${sqlString(path)}, hive_partitioning = false) WITH ORDINALITY WHERE ordinality IN (${lines.join(', ')})`,
      );
      for (const [n, ...fields] of r.getRows())
        batch.set(Number(n), fields.map((f) => (f === null ? '' : csvField(String(f)))).join(','));
    },
    text: (line) => batch.get(line) ?? '',
    close: () => undefined,
  };
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
