import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCsvHeader, readRecordsAtLines, scanRawFile } from '#lib/features/validate-scan.ts';

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
