import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCustomerField } from '#lib/privacy/customer-id.ts';
import { csvRecords, filterCsvFile, headerNames, parseCsvFields } from '#lib/privacy/csv-records.ts';

const dir = mkdtempSync(join(tmpdir(), 'cr-csv-records-'));

function dropCustomer(file: string, out: string, id: string) {
  let column = -1;
  return filterCsvFile(file, out, (r) => {
    if (r.index === 0) {
      column = headerNames(r).indexOf('id');
      return false;
    }
    return isCustomerField(r.fields()[column] ?? '', id);
  });
}

describe('CSV records (erasure of raw and quarantine files)', () => {
  it('splits fields: quoted commas, doubled quotes, line breaks inside quotes, CRLF', () => {
    expect(parseCsvFields('1,"a, b","say ""hi""","two\nlines",\r\n')).toEqual([
      '1',
      'a, b',
      'say "hi"',
      'two\nlines',
      '',
    ]);
  });

  it("drops only the customer's records and keeps every other byte: BOM, CRLF, quoted line breaks, no final newline", () => {
    const file = join(dir, 'raw.csv');
    const body =
      '\uFEFFloan_id,ID,note\r\n' +
      '1,5008827,"x,y"\r\n' +
      '2,5008828,"two\r\nlines, 5008827 inside"\r\n' + // another customer mentioning the id: kept
      '3,"05008827",z\r\n' + // the same customer, quoted with a leading zero
      '4,5008829,last';
    writeFileSync(file, body, 'utf8');
    const out = join(dir, 'raw-out.csv');
    expect(dropCustomer(file, out, '5008827')).toEqual({ records: 5, removed: 2, bytes: expect.any(Number) });
    expect(readFileSync(out, 'utf8')).toBe(
      '\uFEFFloan_id,ID,note\r\n2,5008828,"two\r\nlines, 5008827 inside"\r\n4,5008829,last',
    );
  });

  it('records that cross the 1 MiB read chunks come out whole, in order', () => {
    const file = join(dir, 'big.csv');
    const rows = ['loan_id,id,text'];
    for (let i = 0; i < 30_000; i++) rows.push(`${i},${5_000_000 + (i % 7)},"${'q'.repeat(i % 90)}\n${i}"`);
    writeFileSync(file, rows.join('\n') + '\n');
    const records = [...csvRecords(file)];
    expect(records).toHaveLength(30_001);
    expect(records[12_345].fields()).toEqual([
      '12344',
      String(5_000_000 + (12344 % 7)),
      `${'q'.repeat(12344 % 90)}\n12344`,
    ]);
    const out = join(dir, 'big-out.csv');
    const r = dropCustomer(file, out, '5000003');
    expect(r.removed).toBe(Math.floor((30_000 - 3 - 1) / 7) + 1);
    expect(
      readFileSync(out, 'utf8')
        .split('\n')
        .filter((l) => /^\d+,5000003,/.test(l)),
    ).toEqual([]);
    expect([...csvRecords(out)]).toHaveLength(30_001 - r.removed);
  });

  it('may rewrite a file in place', () => {
    const file = join(dir, 'inplace.csv');
    writeFileSync(file, 'id\n1\n2\n1\n');
    expect(dropCustomer(file, file, '1').removed).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe('id\n2\n');
  });
});
