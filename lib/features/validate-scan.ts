import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

/**
 * One streaming pass over the raw bytes, next to DuckDB's parse: the sha256 of the input (for the
 * manifest) and where the file's physical lines and its CSV records disagree, so every row can be
 * given the physical line it starts on.
 *
 * Records are counted the way DuckDB's CSV reader numbers them in its rejects table ("record
 * numbers"): the header is record 1, a blank line counts as one record (DuckDB skips it, but
 * counts it), and a record whose quoted fields hold line breaks counts once. Quotes toggle the
 * "inside a quoted field" state (an escaped "" toggles twice, so that works too). Line-counting
 * uses Buffer.indexOf (memchr), so a clean file costs little more than reading it.
 */
export interface RawFileScan {
  sha256: string;
  bytes: number;
  /** Record numbers (header = 1) of blank lines: DuckDB skips them but counts them. */
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

const CHUNK = 1 << 22;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

export function scanRawFile(path: string, options: { csv: boolean; loanIdFirst?: boolean }): RawFileScan {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  const blankRecords: number[] = [];
  const multiLineRecords: Array<[number, number]> = [];
  let bytes = 0;
  let record = 1; // the record being read (the header is record 1)
  let inQuotes = false;
  let extraLines = 0; // line breaks inside quotes in the current record
  let recordLength = 0; // bytes of the current record seen so far (excluding CR before LF)
  let lastByteWasCr = false;
  // Leading loan_id of each data record, parsed across chunk boundaries.
  let idsIncrease = options.csv && options.loanIdFirst === true;
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
      if (c !== 0x2c || idDigits === 0 || idDigits > 15 || idValue <= lastId) idsIncrease = false;
      lastId = idValue;
      parsingId = false;
      return i;
    }
    return n;
  };
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      const b = n === CHUNK ? buf : buf.subarray(0, n);
      hash.update(b);
      bytes += n;
      if (!options.csv) continue;
      let pos = 0;
      if (parsingId && idsIncrease) parseId(b, 0, n);
      // Next quote at or after pos (-1: none left in this chunk); searched again only once passed,
      // so a chunk without quotes costs one memchr for them.
      let nextQuote = b.indexOf(QUOTE, 0);
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
          inQuotes = false;
          recordLength++;
          pos = q + 1;
          lastByteWasCr = false;
          continue;
        }
        const lf = b.indexOf(LF, pos);
        const q = nextQuote;
        if (q !== -1 && (lf === -1 || q < lf)) {
          inQuotes = true;
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
        if (len <= 0) blankRecords.push(record);
        if (extraLines > 0) multiLineRecords.push([record, extraLines]);
        record++;
        extraLines = 0;
        recordLength = 0;
        lastByteWasCr = false;
        pos = lf + 1;
        if (idsIncrease && record >= 2) {
          parsingId = true;
          idValue = 0;
          idDigits = 0;
          parseId(b, pos, n);
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  // A last record without a line break still counts; an empty tail after the last LF does not.
  const records = options.csv ? record - (recordLength === 0 && !inQuotes ? 1 : 0) : 0;
  if (options.csv && (recordLength > 0 || inQuotes) && extraLines > 0)
    multiLineRecords.push([record, extraLines]);
  // Trailing blank lines do not shift anything after them: keep only blanks before the last record.
  while (blankRecords.length > 0 && blankRecords[blankRecords.length - 1] >= records) blankRecords.pop();
  // A record cut by the end of the file in the middle of its id: the id was not followed by a comma.
  if (parsingId && recordLength > 0) idsIncrease = false;
  return {
    sha256: hash.digest('hex'),
    bytes,
    blankRecords,
    multiLineRecords,
    records,
    loanIdsStrictlyIncrease: idsIncrease,
  };
}

/**
 * The exact text of the records starting at the given physical lines (1-based, sorted ascending,
 * unique), read back from the file for the quarantine. A record ends at the first line break
 * outside quotes; invalid UTF-8 bytes become U+FFFD (the quarantine file is UTF-8); a record longer
 * than maxRecordBytes is cut there.
 */
export function readRecordsAtLines(
  path: string,
  lines: readonly number[],
  maxRecordBytes = 1 << 20,
): Map<number, string> {
  const out = new Map<number, string>();
  if (lines.length === 0) return out;
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  let target = 0;
  let line = 1;
  let chunkStart = 0;
  try {
    const take = (offset: number): void => {
      out.set(lines[target], readRecordAt(fd, offset, maxRecordBytes));
      target++;
    };
    // line 1 starts at byte 0
    while (target < lines.length && lines[target] <= 1) take(0);
    outer: for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, chunkStart);
      if (n === 0) break;
      const b = n === CHUNK ? buf : buf.subarray(0, n);
      for (let p = b.indexOf(LF); p !== -1; p = b.indexOf(LF, p + 1)) {
        line++;
        while (target < lines.length && lines[target] === line) take(chunkStart + p + 1);
        if (target >= lines.length) break outer;
      }
      chunkStart += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function readRecordAt(fd: number, offset: number, maxBytes: number): string {
  const parts: Buffer[] = [];
  let total = 0;
  let inQuotes = false;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, offset + total);
    if (n === 0) break;
    let end = -1;
    for (let i = 0; i < n; i++) {
      const c = buf[i];
      if (c === QUOTE) inQuotes = !inQuotes;
      else if (c === LF && !inQuotes) {
        end = i;
        break;
      }
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
  if (offset === 0 && record[0] === 0xef && record[1] === 0xbb && record[2] === 0xbf)
    record = record.subarray(3);
  return record.toString('utf8');
}

/** The header line's column names (CSV-unquoted, trimmed) and whether it starts with a BOM. */
export function readCsvHeader(path: string): { names: string[]; bom: boolean; empty: boolean } {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 16);
    const n = readSync(fd, buf, 0, buf.length, 0);
    let b = buf.subarray(0, n);
    const bom = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
    if (bom) b = b.subarray(3);
    const text = b.toString('utf8');
    if (text.trim() === '') return { names: [], bom, empty: true };
    const names: string[] = [];
    let field = '';
    let inQuotes = false;
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
      } else if (ch === '\n') break;
      else if (ch !== '\r') field += ch;
    }
    names.push(field.trim());
    return { names, bom, empty: false };
  } finally {
    closeSync(fd);
  }
}
