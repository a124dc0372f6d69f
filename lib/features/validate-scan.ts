import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { InputError } from '#lib/errors.ts';

/**
 * The byte passes over a raw CSV that run beside DuckDB's parse (ADR 0110).
 *
 * `scanCsv` (every file, on the main thread while DuckDB parses in its own): the sha256, the
 * physical lines, and where the file's physical lines and its CSV records disagree, so every row can
 * be given the physical line it starts on; and whether any record is over a size bound (more
 * physical lines or bytes than allowed). memchr-fast: Buffer.indexOf finds line breaks and quotes,
 * no JS loop touches every byte.
 *
 * `classifyCsvRecords` (only for a file with structurally broken records): a byte-by-byte CSV state
 * machine that gives every record its field count, quote errors and UTF-8 validity, decides the
 * structural quarantine reasons and which records DuckDB's reader reads as rows, and on request
 * writes the copy DuckDB reads instead of the file, with every broken record reduced to its line
 * break. DuckDB then never stores a broken record (its rejects table stores one error per surplus
 * field, each with the whole line: quadratic).
 *
 * Both number records the way DuckDB's CSV reader does ("record numbers"): the header is record 1,
 * a blank line counts as one record (DuckDB skips it, but counts it), and a record whose quoted fields
 * hold line breaks counts once. Quotes follow DuckDB's strict mode: a quote opens a quoted field only
 * at the start of a field (after at most one space) or right after the quote that closed it, ""
 * inside one is a quote, and elsewhere a quote is an ordinary character
 * (test/integration/features/validate-scan-duckdb.test.ts holds both passes to DuckDB). What the scans find about single records goes to a RecordSink: a small
 * CSV file DuckDB reads back (RecordLogFile), so the JS heap never holds a list as long as the file.
 */

/** A record spanning more physical lines is quarantined as record_spans_lines (ADR 0110: why 10). */
export const DEFAULT_MAX_RECORD_LINES = 10;
/** A record longer than this many bytes is quarantined as record_too_long. */
export const DEFAULT_MAX_RECORD_BYTES = 1 << 20;
/** The raw text kept in the quarantine for a record quarantined for its size or width. */
export const RAW_EXCERPT_BYTES = 1024;
/**
 * A loan record is about 170 bytes and none of its fields is free text: a record longer than this
 * fails some rule whatever it holds, so scanCsv reports it (`suspect`) and the validator stops the
 * first parse early (the classifier decides; this only saves DuckDB the work).
 */
export const SUSPECT_RECORD_BYTES = 4096;
/** The header must end within this many bytes: a longer one is not a loans file (HEADER_TOO_LONG). */
export const MAX_HEADER_BYTES = 1 << 16;

/** The structural reasons the byte scan decides, in the order they are tested. */
export type StructuralReason =
  'record_spans_lines' | 'record_too_long' | 'too_many_fields' | 'invalid_utf8' | 'wrong_column_count';

/** Where the scans report single records. */
export interface RecordSink {
  blank(record: number): void;
  multiLine(record: number, extraLines: number): void;
  /**
   * A broken record. `readByDuckDb`: DuckDB's reader would still read it as a row (its only fault
   * is a bound of ours, e.g. a closed quote spanning too many lines), so it is in a table DuckDB
   * made of the file itself (not of the copy).
   */
  broken(record: number, reason: StructuralReason, detail: number, readByDuckDb: boolean): void;
}

/**
 * A RecordSink appending `kind,record,value,reason` lines to a file in batches: kind b (blank
 * record), m (multi-line record, value = its extra lines), x (broken record, value = the detail:
 * lines, bytes or fields) or k (broken, and read by DuckDB as a row all the same). validate.ts
 * loads it into DuckDB when it is not empty.
 */
export class RecordLogFile implements RecordSink {
  entries = 0;
  /** Broken records logged as read by DuckDB all the same (kind k). */
  readBroken = 0;
  private batch: string[] = [];

  constructor(readonly path: string) {
    writeFileSync(path, '');
  }

  blank(record: number): void {
    this.push(`b,${record},,\n`);
  }

  multiLine(record: number, extraLines: number): void {
    this.push(`m,${record},${extraLines},\n`);
  }

  broken(record: number, reason: StructuralReason, detail: number, readByDuckDb: boolean): void {
    if (readByDuckDb) this.readBroken++;
    this.push(`${readByDuckDb ? 'k' : 'x'},${record},${detail},${reason}\n`);
  }

  /** Empties the file (a second pass reports the same records again). */
  reset(): void {
    writeFileSync(this.path, '');
    this.batch.length = 0;
    this.entries = 0;
    this.readBroken = 0;
  }

  flush(): void {
    if (this.batch.length === 0) return;
    appendFileSync(this.path, this.batch.join(''));
    this.batch.length = 0;
  }

  private push(line: string): void {
    this.entries++;
    this.batch.push(line);
    if (this.batch.length >= 65_536) this.flush();
  }
}

export interface CsvScan {
  sha256: string;
  bytes: number;
  /** Number of records including the header and blank lines, excluding a final empty line. */
  records: number;
  /** Blank records (DuckDB skips them), trailing ones included. */
  blankRecords: number;
  /** Physical lines: line breaks, plus a last line that has no line break. */
  physicalLines: number;
  /** Records spanning several lines (line breaks inside quotes), the header included. */
  multiLineRecords: number;
  /** See RawFileScan. */
  loanIdsStrictlyIncrease: boolean;
  /** The first data record over a bound (maxRecordLines or maxRecordBytes), null when none is. */
  oversize: { record: number; lines: number; bytes: number } | null;
  /** Some data record is longer than SUSPECT_RECORD_BYTES or maxRecordBytes. */
  suspect: boolean;
}

export interface CsvScanOptions {
  /** The first column is loan_id: check that the leading ids strictly increase. */
  loanIdFirst?: boolean;
  maxRecordLines?: number;
  maxRecordBytes?: number;
  sink: Pick<RecordSink, 'blank' | 'multiLine'>;
}

const CHUNK = 1 << 22;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;

function hasBom(b: Buffer): boolean {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
}

export function scanCsv(path: string, options: CsvScanOptions): CsvScan {
  const maxLines = options.maxRecordLines ?? Infinity;
  const maxBytes = options.maxRecordBytes ?? Infinity;
  const suspectBytes = Math.min(SUSPECT_RECORD_BYTES, maxBytes);
  const sink = options.sink;
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  let bytes = 0;
  let record = 1; // the record being read (the header is record 1)
  let inQuotes = false;
  // A quote inside quotes was the last byte of a chunk: the next byte says whether it closed the
  // field or was the first of an escaped "".
  let quoteAtChunkEnd = false;
  let extraLines = 0; // line breaks inside quotes in the current record
  let recordLength = 0; // bytes of the current record seen so far (excluding CR before LF)
  let lastByteWasCr = false;
  // The last byte before the current chunk that is not a space, and its offset: whether a quote at
  // the start of a chunk opens a field. LF stands for "a record starts here".
  let beforeChunk = LF;
  let beforeChunkAt = -1;
  // Offset of the last quote that closed a quoted field: a quote after it and spaces reopens the
  // field (DuckDB reads `"a" "b"` as `a b`).
  let closedAt = -2;
  let totalExtraLines = 0;
  let lastByte = -1;
  let blankRecords = 0;
  let multiLineRecords = 0;
  let oversize: CsvScan['oversize'] = null;
  let suspect = false;
  // Leading loan_id of each data record, parsed across chunk boundaries.
  let idsIncrease = options.loanIdFirst === true;
  let parsingId = false;
  let idValue = 0;
  let idDigits = 0;
  let lastId = -1;
  /** Parses digits from `from` until the comma; returns where it stopped (n when the chunk ran out). */
  const parseId = (b: Buffer, from: number, n: number): number => {
    let i = from;
    while (i < n) {
      const c = b[i];
      if (c >= 0x30 && c <= 0x39) {
        idValue = idValue * 10 + (c - 0x30);
        idDigits++;
        i++;
        continue;
      }
      if (c !== COMMA || idDigits === 0 || idDigits > 15 || idValue <= lastId) idsIncrease = false;
      lastId = idValue;
      parsingId = false;
      return i;
    }
    return n;
  };
  const endRecord = (length: number): void => {
    if (length <= 0 && extraLines === 0) {
      sink.blank(record);
      blankRecords++;
    }
    if (extraLines > 0) {
      sink.multiLine(record, extraLines);
      multiLineRecords++;
      totalExtraLines += extraLines;
    }
    if (record > 1) {
      if (length > suspectBytes) suspect = true;
      if (oversize === null && (extraLines + 1 > maxLines || length > maxBytes))
        oversize = { record, lines: extraLines + 1, bytes: length };
    }
    record++;
    extraLines = 0;
    recordLength = 0;
    lastByteWasCr = false;
  };
  try {
    for (let first = true; ; first = false) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      const b = n === CHUNK ? buf : buf.subarray(0, n);
      hash.update(b);
      bytes += n;
      // A quote right after the byte-order mark starts the header's first field.
      const floor = first && hasBom(b) ? 3 : 0;
      let pos = 0;
      if (quoteAtChunkEnd) {
        quoteAtChunkEnd = false;
        if (b[0] === QUOTE) {
          recordLength++;
          pos = 1;
        } else {
          inQuotes = false;
          closedAt = bytes - n - 1;
        }
      }
      if (parsingId && idsIncrease) parseId(b, pos, n);
      // Next quote at or after pos (-1: none left in this chunk); searched again only once passed,
      // so a chunk without quotes costs one memchr for them.
      let nextQuote = b.indexOf(QUOTE, pos);
      while (pos < n) {
        if (nextQuote !== -1 && nextQuote < pos) nextQuote = b.indexOf(QUOTE, pos);
        if (inQuotes) {
          const q = nextQuote;
          const end = q === -1 ? n : q;
          for (let p = b.indexOf(LF, pos); p !== -1 && p < end; p = b.indexOf(LF, p + 1)) extraLines++;
          recordLength += end - pos;
          if (q === -1) {
            pos = n;
            break;
          }
          recordLength++;
          if (q + 1 === n) {
            quoteAtChunkEnd = true;
            pos = n;
            break;
          }
          if (b[q + 1] === QUOTE) {
            recordLength++;
            pos = q + 2;
            continue;
          }
          inQuotes = false;
          closedAt = bytes - n + q;
          pos = q + 1;
          lastByteWasCr = false;
          continue;
        }
        const lf = b.indexOf(LF, pos);
        const q = nextQuote;
        if (q !== -1 && (lf === -1 || q < lf)) {
          if (opensField(b, q, floor, beforeChunk, bytes - n, beforeChunkAt, closedAt)) inQuotes = true;
          recordLength += q + 1 - pos;
          pos = q + 1;
          lastByteWasCr = false;
          continue;
        }
        if (lf === -1) {
          recordLength += n - pos;
          lastByteWasCr = b[n - 1] === CR;
          pos = n;
          break;
        }
        // End of a record at lf. Its length without a trailing CR tells a blank line.
        let len = recordLength + (lf - pos);
        if (lf > pos ? b[lf - 1] === CR : lastByteWasCr) len--;
        endRecord(len);
        pos = lf + 1;
        if (idsIncrease && record >= 2) {
          parsingId = true;
          idValue = 0;
          idDigits = 0;
          parseId(b, pos, n);
        }
      }
      let i = n - 1;
      while (i >= 0 && b[i] === SPACE) i--;
      if (i >= 0) {
        beforeChunk = b[i];
        beforeChunkAt = bytes - n + i;
      }
      lastByte = b[n - 1];
    }
  } finally {
    closeSync(fd);
  }
  // A quote that was the file's last byte closed its field.
  if (quoteAtChunkEnd) inQuotes = false;
  // A last record without a line break still counts; an empty tail after the last LF does not.
  const tail = recordLength > 0 || inQuotes;
  // A quote left open at the end: the file's final line break is inside it but starts no line.
  if (tail && inQuotes && lastByte === LF) extraLines--;
  // A record cut by the end of the file in the middle of its id: the id was not followed by a comma.
  if (parsingId && recordLength > 0) idsIncrease = false;
  if (tail) endRecord(recordLength - (lastByteWasCr ? 1 : 0));
  return {
    sha256: hash.digest('hex'),
    bytes,
    records: record - 1,
    blankRecords,
    // Each record spans its first line and its extra lines.
    physicalLines: record - 1 + totalExtraLines,
    multiLineRecords,
    loanIdsStrictlyIncrease: idsIncrease,
    oversize,
    suspect,
  };
}

/**
 * Whether the quote at q (chunk offset `base`) opens a quoted field: at a field's start after at
 * most one space (DuckDB reads `,  "` with two as text), or after the quote that closed the field
 * and any spaces.
 */
function opensField(
  b: Buffer,
  q: number,
  floor: number,
  beforeChunk: number,
  base: number,
  beforeChunkAt: number,
  closedAt: number,
): boolean {
  let i = q - 1;
  while (i >= floor && b[i] === SPACE) i--;
  const spaces = q - 1 - i;
  if (i < floor && floor > 0) return spaces <= 1;
  // Spaces running back over the chunk's start are not counted: a record is never that spaced.
  const [c, at] = i >= floor ? [b[i], base + i] : [beforeChunk, beforeChunkAt];
  return ((c === COMMA || c === LF) && spaces <= 1) || (c === QUOTE && at === closedAt);
}

/** The sha256 and size of any file (Parquet input: no CSV structure to scan). */
export function hashFile(path: string): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  let bytes = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(n === CHUNK ? buf : buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** What scanRawFile returns: the scan with its lists in memory (for tests and small files). */
export interface RawFileScan {
  sha256: string;
  bytes: number;
  /** Record numbers (header = 1) of blank lines before the last record: DuckDB skips them but counts them. */
  blankRecords: number[];
  /** [record number, extra physical lines] of records spanning several lines (line breaks inside quotes). */
  multiLineRecords: Array<[number, number]>;
  /** Number of records including the header and blank lines, excluding a final empty line. */
  records: number;
  /**
   * True when every data record starts with a plain whole number (the loan_id, when it is the
   * first column) greater than the previous record's: then no loan_id can repeat and the
   * duplicate search (a GROUP BY over every row) is skipped. The real file and the generator's are
   * in loan_id order.
   */
  loanIdsStrictlyIncrease: boolean;
}

/** scanCsv with its record lists kept in memory; `csv: false` only hashes (Parquet). */
export function scanRawFile(path: string, options: { csv: boolean; loanIdFirst?: boolean }): RawFileScan {
  if (!options.csv)
    return {
      ...hashFile(path),
      blankRecords: [],
      multiLineRecords: [],
      records: 0,
      loanIdsStrictlyIncrease: false,
    };
  const blankRecords: number[] = [];
  const multiLineRecords: Array<[number, number]> = [];
  const scan = scanCsv(path, {
    loanIdFirst: options.loanIdFirst,
    sink: {
      blank: (r) => blankRecords.push(r),
      multiLine: (r, k) => multiLineRecords.push([r, k]),
    },
  });
  return {
    sha256: scan.sha256,
    bytes: scan.bytes,
    // Trailing blank lines do not shift anything after them: only blanks before the last record.
    blankRecords: blankRecords.filter((r) => r < scan.records),
    multiLineRecords,
    records: scan.records,
    loanIdsStrictlyIncrease: scan.loanIdsStrictlyIncrease,
  };
}

export interface ClassifyOptions {
  /** Fields in the header. */
  headerFields: number;
  /**
   * Field positions DuckDB reads (the mapped columns): only their bytes are checked for UTF-8, as
   * DuckDB checks only the values it reads.
   */
  checkedFields: readonly number[];
  maxRecordLines: number;
  maxRecordBytes: number;
  /**
   * The file DuckDB reads instead of the input: every broken record reduced to its line break.
   * None written when absent (the caller only needs the verdicts).
   */
  copyPath?: string;
  /** Position of the loan_id field, for `idChecksum`. */
  idField?: number;
  sink: RecordSink;
}

export interface Classification {
  /** Records as numbered above (must equal scanCsv's). */
  records: number;
  /** Broken data records, reported to the sink. */
  broken: number;
  /** Data records DuckDB's reader reads as rows from the file: not blank, not broken, or broken with readByDuckDb. */
  rowsRead: number;
  /**
   * Sum modulo ID_CHECKSUM_MODULUS of the loan_ids of those records, where written as canonical
   * digits (plain or in quotes): the validator compares it with DuckDB's rows.
   */
  idChecksum: number;
}

export const ID_CHECKSUM_MODULUS = 2147483647;
const BIGINT_MAX = '9223372036854775807';

// Byte classes and states of the classifier's state machine.
const K_PLAIN = 0;
const K_LF = 1;
const K_CR = 2;
const K_SPACE = 3;
const K_QUOTE = 4;
const K_COMMA = 5;
const K_HIGH = 6;
const BYTE_CLASS = new Uint8Array(256);
BYTE_CLASS[LF] = K_LF;
BYTE_CLASS[CR] = K_CR;
BYTE_CLASS[SPACE] = K_SPACE;
BYTE_CLASS[QUOTE] = K_QUOTE;
BYTE_CLASS[COMMA] = K_COMMA;
BYTE_CLASS.fill(K_HIGH, 0x80);

const S_FIELD_START = 0; // nothing of the field read yet
const S_SPACES = 1; // only spaces read: a quote still opens a quoted field
const S_UNQUOTED = 2;
const S_QUOTED = 3;
const S_QUOTE_SEEN = 4; // a quote inside a quoted field: closes it, or is the first of ""
const S_AFTER_CLOSE = 5; // spaces after a closing quote

/**
 * Classifies every data record of a CSV (see the file comment) and writes the copy for DuckDB.
 * The first failing test names a broken record: more physical lines than maxRecordLines
 * (record_spans_lines), more bytes than maxRecordBytes (record_too_long), more than twice the
 * header's fields (too_many_fields), invalid UTF-8 in a field DuckDB reads (invalid_utf8), any
 * other field count or a quote error (wrong_column_count). Surplus fields that are all empty do not
 * count: DuckDB's strict mode ignores them too (`1,2,3,,` reads as `1,2,3`).
 */
export function classifyCsvRecords(path: string, options: ClassifyOptions): Classification {
  const H = options.headerFields;
  const checked = new Uint8Array(H);
  for (const i of options.checkedFields) if (i < H) checked[i] = 1;
  const fd = openSync(path, 'r');
  const judge = new RecordJudge(options, fd);
  const buf = Buffer.allocUnsafe(CHUNK);
  // Byte ranges [start, end) of checked fields holding bytes >= 0x80, validated at the record's end.
  const utf8Ranges: number[] = [];
  // The hot state lives in locals (no closure captures them, so V8 keeps them in registers).
  let base = 0; // absolute offset of buf[0]
  let n: number;
  let state = S_FIELD_START;
  let recordStart = 0;
  let fields = 1;
  let fieldStart = 0;
  let fieldFilled = false;
  let fieldHigh = false;
  let lastFilled = -1;
  let quoteError = false;
  let extraLines = 0;
  let lastByte = -1;
  let crBeforeLf = false;
  const idField = options.idField ?? -1;
  let idStart = -1;
  let idEnd = -1;
  try {
    for (;;) {
      n = readSync(fd, buf, 0, CHUNK, base);
      if (n === 0) break;
      judge.chunk(buf, base, n);
      let i = 0;
      if (base === 0 && hasBom(buf.subarray(0, n))) {
        i = 3;
        recordStart = fieldStart = 3;
      }
      for (; i < n; i++) {
        const k = BYTE_CLASS[buf[i]];
        if (k === K_PLAIN) {
          if (state === S_UNQUOTED) continue;
          if (state === S_QUOTED) fieldFilled = true;
          else if (state <= S_SPACES) {
            state = S_UNQUOTED;
            fieldFilled = true;
          } else {
            // A character after a closing quote: DuckDB's "unquoted value"; it reads on unquoted.
            quoteError = true;
            state = S_UNQUOTED;
            fieldFilled = true;
          }
          continue;
        }
        const at = base + i;
        switch (k) {
          case K_HIGH:
            fieldHigh = true;
            fieldFilled = true;
            if (state <= S_SPACES) state = S_UNQUOTED;
            else if (state >= S_QUOTE_SEEN) {
              quoteError = true;
              state = S_UNQUOTED;
            }
            break;
          case K_COMMA:
            if (state === S_QUOTED) {
              fieldFilled = true;
              break;
            }
            if (fieldFilled || state === S_SPACES) lastFilled = fields - 1;
            if (fieldHigh && fields <= H && checked[fields - 1] === 1) utf8Ranges.push(fieldStart, at);
            if (fields - 1 === idField) {
              idStart = fieldStart;
              idEnd = at;
            }
            fields++;
            fieldStart = at + 1;
            fieldFilled = false;
            fieldHigh = false;
            state = S_FIELD_START;
            break;
          case K_QUOTE:
            if (state <= S_SPACES) state = S_QUOTED;
            else if (state === S_QUOTED) state = S_QUOTE_SEEN;
            else if (state === S_QUOTE_SEEN) {
              // "" inside quotes: one quote character
              state = S_QUOTED;
              fieldFilled = true;
            } else if (state === S_AFTER_CLOSE) {
              // Reopened: DuckDB reads `"a" "b"` as `a b`.
              state = S_QUOTED;
              fieldFilled = true;
            } // in an unquoted field a quote is an ordinary character
            break;
          case K_SPACE:
            // One space may precede an opening quote (and is then no content); a second makes the
            // field unquoted text.
            if (state === S_FIELD_START) state = S_SPACES;
            else if (state === S_SPACES) {
              state = S_UNQUOTED;
              fieldFilled = true;
            } else if (state === S_QUOTE_SEEN) state = S_AFTER_CLOSE;
            else if (state === S_QUOTED) fieldFilled = true;
            break;
          case K_CR: {
            // Part of the line break when a LF follows (CRLF files); otherwise an ordinary byte.
            const next = i + 1 < n ? buf[i + 1] : peekByte(fd, at + 1);
            if (next === LF && state !== S_QUOTED) {
              crBeforeLf = true;
              break;
            }
            fieldFilled = true;
            if (state <= S_SPACES) state = S_UNQUOTED;
            else if (state >= S_QUOTE_SEEN) {
              quoteError = true;
              state = S_UNQUOTED;
            }
            break;
          }
          case K_LF: {
            if (state === S_QUOTED) {
              extraLines++;
              fieldFilled = true;
              break;
            }
            const end = crBeforeLf ? at - 1 : at;
            if (fieldFilled || state === S_SPACES) lastFilled = fields - 1;
            if (fieldHigh && fields <= H && checked[fields - 1] === 1) utf8Ranges.push(fieldStart, end);
            if (fields - 1 === idField) {
              idStart = fieldStart;
              idEnd = end;
            }
            judge.end(
              recordStart,
              end,
              fields,
              lastFilled,
              quoteError,
              extraLines,
              utf8Ranges,
              idStart,
              idEnd,
            );
            idStart = idEnd = -1;
            recordStart = fieldStart = at + 1;
            fields = 1;
            fieldFilled = fieldHigh = quoteError = crBeforeLf = false;
            lastFilled = -1;
            extraLines = 0;
            utf8Ranges.length = 0;
            state = S_FIELD_START;
            break;
          }
        }
      }
      lastByte = buf[n - 1];
      base += n;
      judge.flushBefore(recordStart);
    }
    // The last record without a line break; an empty tail after the last LF is no record.
    if (base > recordStart || state === S_QUOTED) {
      if (state === S_QUOTED) {
        quoteError = true;
        // The file's final line break is inside the open quote but starts no line.
        if (lastByte === LF) extraLines--;
      }
      if (fieldFilled || state === S_SPACES) lastFilled = fields - 1;
      if (fieldHigh && fields <= H && checked[fields - 1] === 1) utf8Ranges.push(fieldStart, base);
      if (fields - 1 === idField) {
        idStart = fieldStart;
        idEnd = base;
      }
      judge.end(recordStart, base, fields, lastFilled, quoteError, extraLines, utf8Ranges, idStart, idEnd);
    }
    judge.finish(base);
  } catch (e) {
    judge.abort();
    throw e;
  } finally {
    closeSync(fd);
  }
  return {
    records: judge.record - 1,
    broken: judge.broken,
    rowsRead: judge.rowsRead,
    idChecksum: judge.idChecksum,
  };
}

/**
 * The classifier's verdict on each record it has read (its first failing test), reported to the
 * sink, and the copy without the broken records.
 */
class RecordJudge {
  /** The record being read (the header is record 1). */
  record = 1;
  broken = 0;
  rowsRead = 0;
  idChecksum = 0;
  private readonly copy: CopyWriter | null;
  private buf: Buffer = Buffer.alloc(0);
  private base = 0;
  private n = 0;

  constructor(
    private readonly options: ClassifyOptions,
    private readonly fd: number,
  ) {
    this.copy = options.copyPath === undefined ? null : new CopyWriter(fd, options.copyPath);
  }

  chunk(buf: Buffer, base: number, n: number): void {
    this.buf = buf;
    this.base = base;
    this.n = n;
    this.copy?.chunk(buf, base, n);
  }

  /** The record [start, end) ended (end: where its line break starts, or the end of the file). */
  end(
    start: number,
    end: number,
    fields: number,
    lastFilled: number,
    quoteError: boolean,
    extraLines: number,
    utf8Ranges: readonly number[],
    idStart: number,
    idEnd: number,
  ): void {
    const { headerFields: H, maxRecordLines, maxRecordBytes, sink } = this.options;
    const record = this.record++;
    if (extraLines > 0) sink.multiLine(record, extraLines);
    if (record === 1) return;
    const length = end - start;
    if (length === 0 && extraLines === 0) {
      sink.blank(record);
      return;
    }
    const effective = fields > H && lastFilled < H ? H : fields;
    // UTF-8 is checked only within the length bound (a longer record is record_too_long anyway).
    const fits = length <= maxRecordBytes;
    const utf8Ok = !fits || utf8Ranges.length === 0 || this.validUtf8(utf8Ranges);
    // What DuckDB's reader makes of it: a row, or a record it skips (its own structural errors).
    const readByDuckDb = fits && effective === H && !quoteError && utf8Ok;
    let reason: StructuralReason | null = null;
    let detail = 0;
    if (extraLines + 1 > maxRecordLines) [reason, detail] = ['record_spans_lines', extraLines + 1];
    else if (!fits) [reason, detail] = ['record_too_long', length];
    else if (effective > 2 * H) [reason, detail] = ['too_many_fields', fields];
    else if (!utf8Ok) reason = 'invalid_utf8';
    else if (effective !== H || quoteError) reason = 'wrong_column_count';
    // Without a copy DuckDB reads the file itself, so it holds the rows of readByDuckDb records.
    const inDuckDb = readByDuckDb && this.copy === null;
    if (reason === null || inDuckDb) {
      this.rowsRead++;
      if (idStart >= 0) this.addId(idStart, idEnd);
    }
    if (reason === null) return;
    sink.broken(record, reason, detail, inDuckDb);
    this.copy?.drop(start, end);
    this.broken++;
  }

  flushBefore(offset: number): void {
    this.copy?.flushBefore(offset);
  }

  finish(end: number): void {
    this.copy?.finish(end);
  }

  abort(): void {
    this.copy?.abort();
  }

  /** Adds the loan_id in [start, end) to the checksum when it is canonical digits, bare or quoted. */
  private addId(start: number, end: number): void {
    if (end - start > 64) return;
    let b =
      start >= this.base && end <= this.base + this.n
        ? this.buf.subarray(start - this.base, end - this.base)
        : readRange(this.fd, start, end);
    if (b.length >= 2 && b[0] === QUOTE && b[b.length - 1] === QUOTE) b = b.subarray(1, b.length - 1);
    const digits = b.length;
    if (digits === 0 || digits > 19 || (b[0] === 0x30 && digits > 1)) return;
    let value = 0;
    for (let i = 0; i < digits; i++) {
      const d = b[i] - 0x30;
      if (d < 0 || d > 9) return;
      value = (value * 10 + d) % ID_CHECKSUM_MODULUS;
    }
    if (digits === 19 && b.toString('latin1') > BIGINT_MAX) return;
    this.idChecksum = (this.idChecksum + value) % ID_CHECKSUM_MODULUS;
  }

  private validUtf8(ranges: readonly number[]): boolean {
    for (let r = 0; r < ranges.length; r += 2) {
      const [start, end] = [ranges[r], ranges[r + 1]];
      const inChunk = start >= this.base && end <= this.base + this.n;
      const bytes = inChunk
        ? this.buf.subarray(start - this.base, end - this.base)
        : readRange(this.fd, start, end);
      if (!isUtf8(bytes)) return false;
    }
    return true;
  }
}

function peekByte(fd: number, offset: number): number {
  const one = Buffer.alloc(1);
  return readSync(fd, one, 0, 1, offset) === 1 ? one[0] : -1;
}

function readRange(fd: number, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let got = 0;
  while (got < out.length) {
    const n = readSync(fd, out, got, out.length - got, start + got);
    if (n === 0) break;
    got += n;
  }
  return out.subarray(0, got);
}

/**
 * Writes the input with some byte ranges left out. Bytes are written lazily: up to the start of
 * the record in progress at each chunk's end (it may still turn out broken), the rest re-read from
 * the input when a record crossing chunks is kept. Memory: the chunk the caller already holds.
 */
class CopyWriter {
  private out: number;
  /** Absolute offset of the first input byte not yet written or dropped. */
  private from = 0;
  private chunkBuf: Buffer | null = null;
  private chunkBase = 0;
  private chunkLength = 0;

  constructor(
    private readonly input: number,
    private readonly path: string,
  ) {
    this.out = openSync(path, 'w');
  }

  chunk(buf: Buffer, base: number, n: number): void {
    this.chunkBuf = buf;
    this.chunkBase = base;
    this.chunkLength = n;
  }

  /** Leaves out [start, end): a broken record's bytes; its line break stays (a blank line for DuckDB). */
  drop(start: number, end: number): void {
    this.write(this.from, start);
    this.from = end;
  }

  flushBefore(offset: number): void {
    if (offset > this.from) {
      this.write(this.from, offset);
      this.from = offset;
    }
  }

  finish(end: number): void {
    this.write(this.from, end);
    closeSync(this.out);
  }

  abort(): void {
    closeSync(this.out);
  }

  private write(start: number, end: number): void {
    if (end <= start) return;
    const b = this.chunkBuf;
    if (b !== null && start >= this.chunkBase && end <= this.chunkBase + this.chunkLength) {
      writeSync(this.out, b, start - this.chunkBase, end - start);
      return;
    }
    const tmp = Buffer.allocUnsafe(Math.min(CHUNK, end - start));
    for (let at = start; at < end;) {
      const n = readSync(this.input, tmp, 0, Math.min(tmp.length, end - at), at);
      if (n === 0) throw new Error(`${this.path}: the input ended at byte ${at} while copying`);
      writeSync(this.out, tmp, 0, n);
      at += n;
    }
  }
}

/**
 * Reads the text of records starting at given physical lines, in ascending order, in one forward
 * pass: a record ends at the first line break outside quotes (quotes as DuckDB reads them);
 * invalid UTF-8 bytes become U+FFFD (the quarantine file is UTF-8); a record longer than the limit
 * of the call is cut there. Memory: one chunk and one record.
 */
export class RecordTextReader {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private chunkStart = 0;
  private chunkLength = 0;
  private scanned = 0; // bytes of the chunk whose line breaks are counted
  private line = 1; // the physical line starting at offset `lineStart`
  private lineStart = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
  }

  /** The record starting at physical line `line` (not before the previous call's), at most maxBytes long. */
  textAt(line: number, maxBytes: number): string {
    while (this.line < line) {
      if (this.scanned >= this.chunkLength) {
        this.chunkStart += this.chunkLength;
        this.chunkLength = readSync(this.fd, this.buf, 0, CHUNK, this.chunkStart);
        this.scanned = 0;
        if (this.chunkLength === 0) return '';
      }
      const p = this.buf.subarray(0, this.chunkLength).indexOf(LF, this.scanned);
      if (p === -1) {
        this.scanned = this.chunkLength;
        continue;
      }
      this.line++;
      this.lineStart = this.chunkStart + p + 1;
      this.scanned = p + 1;
    }
    return readRecordAt(this.fd, this.lineStart, maxBytes);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * The exact text of the records starting at the given physical lines (1-based, sorted ascending,
 * unique), read back from the file for the quarantine (see RecordTextReader).
 */
export function readRecordsAtLines(
  path: string,
  lines: readonly number[],
  maxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
): Map<number, string> {
  const out = new Map<number, string>();
  if (lines.length === 0) return out;
  const reader = new RecordTextReader(path);
  try {
    for (const line of lines) out.set(line, reader.textAt(line, maxRecordBytes));
  } finally {
    reader.close();
  }
  return out;
}

function readRecordAt(fd: number, offset: number, maxBytes: number): string {
  const parts: Buffer[] = [];
  let total = 0;
  let state = S_FIELD_START;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, maxBytes + 1 - total), offset + total);
    if (n === 0) break;
    let end = -1;
    for (let i = 0; i < n; i++) {
      const c = buf[i];
      if (c === QUOTE) {
        if (state <= S_SPACES) state = S_QUOTED;
        else if (state === S_QUOTED) state = S_QUOTE_SEEN;
        else if (state === S_QUOTE_SEEN) state = S_QUOTED;
        else if (state === S_AFTER_CLOSE) state = S_QUOTED;
      } else if (c === LF) {
        if (state !== S_QUOTED) {
          end = i;
          break;
        }
      } else if (c === COMMA) {
        if (state !== S_QUOTED) state = S_FIELD_START;
      } else if (c === SPACE) {
        if (state === S_FIELD_START) state = S_SPACES;
        else if (state === S_SPACES) state = S_UNQUOTED;
        else if (state === S_QUOTE_SEEN) state = S_AFTER_CLOSE;
      } else if (c !== CR && state !== S_QUOTED) state = S_UNQUOTED;
    }
    const piece = Buffer.from(buf.subarray(0, end === -1 ? n : end));
    parts.push(piece);
    total += piece.length;
    if (end !== -1 || total >= maxBytes) break;
  }
  let record = Buffer.concat(parts);
  if (record.length > maxBytes) record = record.subarray(0, maxBytes);
  if (record.length > 0 && record[record.length - 1] === CR) record = record.subarray(0, record.length - 1);
  // Strip a byte-order mark if the record is the first of the file.
  if (offset === 0 && hasBom(record)) record = record.subarray(3);
  return record.toString('utf8');
}

/**
 * The header line's column names (CSV-unquoted, trimmed) and whether it starts with a BOM.
 * HEADER_TOO_LONG when the header does not end within MAX_HEADER_BYTES.
 */
export function readCsvHeader(path: string): { names: string[]; bom: boolean; empty: boolean } {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(MAX_HEADER_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    let b = buf.subarray(0, n);
    const bom = hasBom(b);
    if (bom) b = b.subarray(3);
    const text = b.toString('utf8');
    if (text.trim() === '') return { names: [], bom, empty: true };
    const names: string[] = [];
    let field = '';
    let inQuotes = false;
    let ended = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inQuotes) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i++;
          } else inQuotes = false;
        } else field += ch;
      } else if (ch === '"') inQuotes = true;
      else if (ch === ',') {
        names.push(field.trim());
        field = '';
      } else if (ch === '\n') {
        ended = true;
        break;
      } else if (ch !== '\r') field += ch;
    }
    if (!ended && n === buf.length)
      throw new InputError(
        'HEADER_TOO_LONG',
        `${path}: the header line does not end within ${MAX_HEADER_BYTES} bytes: not a file of loan records`,
      );
    names.push(field.trim());
    return { names, bom, empty: false };
  } finally {
    closeSync(fd);
  }
}
