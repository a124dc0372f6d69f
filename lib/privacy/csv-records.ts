import { closeSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';

/**
 * CSV files rewritten record by record without some records: the raw zone's loan files, the
 * generated copies under the local home, quarantine files. The bytes of every record kept are
 * copied as they were (encoding, quoting, line endings, a byte-order mark): only whole records
 * go. A record ends at a line break outside quotes, so a quoted field may hold commas and line
 * breaks (RFC 4180; the dirty classes of docs/DATA.md have both). Read in 1 MiB chunks: the
 * 777,715-row file is never in memory at once.
 */

const QUOTE = 0x22;
const NEWLINE = 0x0a;
const CHUNK = 1024 * 1024;

export interface CsvRecord {
  /** 0 for the first record (the header, when the file has one). */
  index: number;
  /** The record's bytes, its line break included. */
  bytes: Buffer;
  /** Its fields, unquoted (UTF-8; invalid bytes become U+FFFD, which no digit matches). */
  fields(): string[];
}

export interface CsvFilterResult {
  records: number;
  removed: number;
  /** Bytes written. */
  bytes: number;
}

/** Splits one record's text into fields: commas outside quotes; `""` inside quotes is a quote. */
export function parseCsvFields(text: string): string[] {
  const line = text.replace(/\r?\n$/, '');
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** Every record of a file, in order. */
export function* csvRecords(file: string): Generator<CsvRecord> {
  const fd = openSync(file, 'r');
  try {
    let carry = Buffer.alloc(0);
    let inQuotes = false;
    let index = 0;
    const chunk = Buffer.allocUnsafe(CHUNK);
    const make = (bytes: Buffer): CsvRecord => {
      let parsed: string[] | undefined;
      const i = index++;
      return { index: i, bytes, fields: () => (parsed ??= parseCsvFields(bytes.toString('utf8'))) };
    };
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      const buf =
        carry.length === 0 ? Buffer.from(chunk.subarray(0, n)) : Buffer.concat([carry, chunk.subarray(0, n)]);
      let start = 0;
      // Quote state carries over from the bytes already scanned (carry was scanned last round).
      for (let i = carry.length; i < buf.length; i++) {
        const b = buf[i];
        if (b === QUOTE) inQuotes = !inQuotes;
        else if (b === NEWLINE && !inQuotes) {
          yield make(buf.subarray(start, i + 1));
          start = i + 1;
        }
      }
      carry = Buffer.from(buf.subarray(start));
    }
    if (carry.length > 0) yield make(carry);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `output` with the records of `input` that `drop` does not select (the header is offered
 * too: return false for it). Written under a temporary name and renamed: a reader never sees half
 * a file. Returns the counts; `output` may be `input`.
 */
export function filterCsvFile(
  input: string,
  output: string,
  drop: (record: CsvRecord) => boolean,
): CsvFilterResult {
  const tmp = `${output}.tmp-erase-${process.pid}`;
  const out = openSync(tmp, 'w');
  let records = 0;
  let removed = 0;
  let bytes = 0;
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = (): void => {
      if (pendingBytes === 0) return;
      writeSync(out, Buffer.concat(pending, pendingBytes));
      bytes += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    for (const record of csvRecords(input)) {
      records++;
      if (drop(record)) {
        removed++;
        continue;
      }
      pending.push(record.bytes);
      pendingBytes += record.bytes.length;
      if (pendingBytes >= CHUNK) flush();
    }
    flush();
    closeSync(out);
  } catch (e) {
    closeSync(out);
    rmSync(tmp, { force: true });
    throw e;
  }
  renameSync(tmp, output);
  return { records, removed, bytes };
}

/** The header's column names (a UTF-8 byte-order mark and blanks removed, lower case). */
export function headerNames(header: CsvRecord): string[] {
  return header.fields().map((f, i) => (i === 0 ? f.replace(/^\uFEFF/, '') : f).trim().toLowerCase());
}
