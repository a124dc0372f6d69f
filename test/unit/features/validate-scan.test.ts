import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  classifyCsvRecords,
  readCsvHeader,
  readRecordsAtLines,
  RecordTextReader,
  scanCsv,
  scanRawFile,
  type RecordSink,
  type StructuralReason,
} from '#lib/features/validate-scan.ts';

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cr-scan-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(content: string | Buffer): string {
  const path = join(dir, `f${++n}.csv`);
  writeFileSync(path, content);
  return path;
}

describe('scanRawFile', () => {
  it('hashes the bytes and finds nothing to correct in a plain file', () => {
    const content = 'loan_id,x\n1,a\n2,b\n';
    const scan = scanRawFile(file(content), { csv: true, loanIdFirst: true });
    expect(scan).toEqual({
      sha256: createHash('sha256').update(content).digest('hex'),
      bytes: content.length,
      blankRecords: [],
      multiLineRecords: [],
      records: 3,
      loanIdsStrictlyIncrease: true,
    });
  });

  it('numbers records like DuckDB: blank lines count, a record with line breaks inside quotes counts once', () => {
    const scan = scanRawFile(file('h\r\n1,a\r\n\r\n2,"x\r\ny\ny"\r\n3,b\r\n\r\n'), {
      csv: true,
      loanIdFirst: true,
    });
    expect(scan.blankRecords).toEqual([3]);
    expect(scan.multiLineRecords).toEqual([[4, 2]]);
    // a blank line makes the id check give up (it needs a number at each record start)
    expect(scan.loanIdsStrictlyIncrease).toBe(false);
  });

  it('sees repeated or decreasing leading ids, across chunk boundaries too', () => {
    expect(scanRawFile(file('h\n1,a\n1,a\n'), { csv: true, loanIdFirst: true }).loanIdsStrictlyIncrease).toBe(
      false,
    );
    expect(
      scanRawFile(file('h\n2,a\n10,a\n9,a\n'), { csv: true, loanIdFirst: true }).loanIdsStrictlyIncrease,
    ).toBe(false);
    const rows = Array.from({ length: 600_000 }, (_, i) => `${i + 1},payload`).join('\n');
    expect(scanRawFile(file(`h\n${rows}\n`), { csv: true, loanIdFirst: true }).loanIdsStrictlyIncrease).toBe(
      true,
    );
    expect(
      scanRawFile(file(`h\n${rows}\n5,x\n`), { csv: true, loanIdFirst: true }).loanIdsStrictlyIncrease,
    ).toBe(false);
  });
});

describe('readRecordsAtLines', () => {
  it('returns the exact text of records starting at given lines, multi-line ones whole, invalid UTF-8 replaced', () => {
    const path = file(
      Buffer.concat([Buffer.from('h\n1,a\n2,"x\ny"\n3,'), Buffer.from([0xff]), Buffer.from('\r\n')]),
    );
    const texts = readRecordsAtLines(path, [2, 3, 5]);
    expect(texts.get(2)).toBe('1,a');
    expect(texts.get(3)).toBe('2,"x\ny"');
    expect(texts.get(5)).toBe('3,\ufffd');
  });
});

describe('readCsvHeader', () => {
  it('strips a BOM, unquotes and trims names, and calls a file of blanks empty', () => {
    expect(readCsvHeader(file('\ufeff loan_id ,"i""d",x\r\n1,2,3\n'))).toEqual({
      names: ['loan_id', 'i"d', 'x'],
      bom: true,
      empty: false,
    });
    expect(readCsvHeader(file('\n \n')).empty).toBe(true);
  });
});

function recording() {
  const seen = {
    blank: [] as number[],
    multi: [] as Array<[number, number]>,
    broken: [] as Array<[number, StructuralReason, number]>,
  };
  const sink: RecordSink = {
    blank: (r) => seen.blank.push(r),
    multiLine: (r, k) => seen.multi.push([r, k]),
    broken: (r, reason, detail) => seen.broken.push([r, reason, detail]),
  };
  return { seen, sink };
}

describe('scanCsv', () => {
  it('counts physical lines, and reports the first record over a bound of lines or bytes', () => {
    const { seen, sink } = recording();
    const path = file('a,b\n1,2\n"x\ny\nz",2\n\n' + `${'w'.repeat(50)},2\n`);
    const scan = scanCsv(path, { sink, maxRecordLines: 2, maxRecordBytes: 40 });
    expect(scan).toMatchObject({ records: 5, blankRecords: 1, physicalLines: 7, multiLineRecords: 1 });
    expect(scan.oversize).toEqual({ record: 3, lines: 3, bytes: 9 });
    expect(seen.multi).toEqual([[3, 2]]);
    expect(seen.blank).toEqual([4]);
    expect(scanCsv(path, { sink, maxRecordLines: 3, maxRecordBytes: 40 }).oversize).toEqual({
      record: 5,
      lines: 1,
      bytes: 52,
    });
  });

  it('an unterminated quote runs to the end of the file: its lines counted once, the final line break starts none', () => {
    const { seen, sink } = recording();
    const scan = scanCsv(file('a,b\n1,2\n3,"open\n4,5\n6,7\n'), { sink });
    expect(scan).toMatchObject({ records: 3, physicalLines: 5 });
    expect(seen.multi).toEqual([[3, 2]]);
  });

  it('reads quotes as DuckDB does: mid-field ones are text, two spaces make text, a closed field may reopen', () => {
    const { seen, sink } = recording();
    // O"Brien: text; ,  "x: text (two spaces); , "y\nz": quoted (one space); "a" "b\nc": reopened
    const scan = scanCsv(file('a,b\nO"Brien,1\n2,  "x\n3, "y\nz"\n"a" "b\nc",4\n5,6\n'), { sink });
    expect(scan.records).toBe(6);
    expect(seen.multi).toEqual([
      [4, 1],
      [5, 1],
    ]);
  });
});

describe('classifyCsvRecords', () => {
  it('names the first failing structural test of each record and leaves broken records out of the copy', () => {
    const rows = [
      'a,b,c',
      '1,2,3', // 2 fine
      '1,2', // 3 too few
      '1,2,3,4', // 4 a field too many
      '1,2,3,,', // 5 surplus empty fields: fine (DuckDB ignores them)
      `1,2,3${',x'.repeat(4)}`, // 6 over twice the header's fields
      '1,"2\n\n\n",3', // 7 spans 4 lines
      `1,2,${'z'.repeat(80)}`, // 8 too long
      '"a"b,2,3', // 9 a character after a closing quote
      '',
      '7,8,9', // 11 fine
    ];
    const input = Buffer.concat([
      Buffer.from(rows.join('\n') + '\n'),
      Buffer.from([0x31, 0x2c, 0xff, 0x2c, 0x33, 0x0a]), // 12: invalid UTF-8 in a checked field
      Buffer.from([0x31, 0x2c, 0x32, 0x2c, 0x33, 0x2c, 0xff, 0x0a]), // 13: in a surplus one: a count problem
    ]);
    const path = file(input);
    const { seen, sink } = recording();
    const copyPath = `${path}.copy`;
    const result = classifyCsvRecords(path, {
      headerFields: 3,
      checkedFields: [0, 1, 2],
      maxRecordLines: 3,
      maxRecordBytes: 60,
      copyPath,
      idField: 0,
      sink,
    });
    // kept: records 2, 5 and 11, whose loan_ids (first field) sum to 9
    expect(result).toEqual({ records: 13, broken: 8, rowsRead: 3, idChecksum: 9 });
    expect(seen.broken).toEqual([
      [3, 'wrong_column_count', 0],
      [4, 'wrong_column_count', 0],
      [6, 'too_many_fields', 7],
      [7, 'record_spans_lines', 4],
      [8, 'record_too_long', 84],
      [9, 'wrong_column_count', 0],
      [12, 'invalid_utf8', 0],
      [13, 'wrong_column_count', 0],
    ]);
    expect(seen.blank).toEqual([10]);
    expect(seen.multi).toEqual([[7, 3]]);
    // The copy: same records, broken ones as empty lines (DuckDB skips and counts them).
    expect(readFileSync(copyPath, 'utf8')).toBe('a,b,c\n1,2,3\n\n\n1,2,3,,\n\n\n\n\n\n7,8,9\n\n\n');
  });
});

describe('RecordTextReader', () => {
  it('reads records at ascending lines in one pass, cut at the given length', () => {
    const path = file('h\n1,a\n2,"x\ny"\n3,' + 'b'.repeat(100) + '\n4,c');
    const reader = new RecordTextReader(path);
    try {
      expect(reader.textAt(2, 100)).toBe('1,a');
      expect(reader.textAt(3, 100)).toBe('2,"x\ny"');
      expect(reader.textAt(5, 10)).toBe('3,bbbbbbbb');
      expect(reader.textAt(6, 10)).toBe('4,c');
    } finally {
      reader.close();
    }
  });
});

describe('readCsvHeader on a header that never ends', () => {
  it('is HEADER_TOO_LONG', () => {
    expect(() => readCsvHeader(file(`a${',b'.repeat(40_000)}\n1\n`))).toThrow(
      expect.objectContaining({ code: 'HEADER_TOO_LONG' }),
    );
  });
});
