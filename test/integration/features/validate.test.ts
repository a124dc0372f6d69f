import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateLoans } from '#lib/data/generate.ts';
import { isInputError } from '#lib/errors.ts';
import { RAW_COLUMN_NAMES, RAW_VALID_COLUMNS } from '#lib/features/raw-schema.ts';
import { validateRawInto, type ValidationSummary } from '#lib/features/validate.ts';

let dir: string;
let instance: DuckDBInstance;
let conn: DuckDBConnection;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cr-validate-'));
  // The settings `features build` uses: insertion order not preserved, bounded memory.
  instance = await DuckDBInstance.create(':memory:', {
    threads: '2',
    memory_limit: '1GB',
    preserve_insertion_order: 'false',
  });
  conn = await instance.connect();
});
afterAll(() => {
  conn.closeSync();
  instance.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

const HEADER = RAW_COLUMN_NAMES.join(',');
const GOOD = [
  '1,5008804,M,Y,Y,0,427500.0,Working,Higher education,Civil marriage,Rented apartment,-12005,-4542,1,1,0,0,,2.0,0,1989-06-09,2007-05-20,2018-07-21,106.0',
  '2,5008804,M,Y,Y,0,427500.0,Working,Higher education,Civil marriage,Rented apartment,-12005,-4542,1,1,0,0,,2.0,1,1989-06-09,2007-05-20,2018-08-21,98.5',
  '3,5008806,F,N,Y,1,112500.0,Pensioner,Secondary / secondary special,Married,House / apartment,-21474,365243,1,0,0,0,,3.0,0,1963-03-11,3022-03-31,2019-01-05,120.0',
];

let n = 0;
async function validate(
  content: string | Buffer,
  asOf = '2022-06-01',
  extra: { onWarning?: (m: string) => void } = {},
) {
  const input = join(dir, `in-${++n}.csv`);
  writeFileSync(input, content);
  const quarantinePath = join(dir, `q-${n}.csv`);
  const summary = await validateRawInto(conn, input, { quarantinePath, asOf, ...extra });
  const quarantine = await readQuarantine(quarantinePath);
  const valid = (await conn.runAndReadAll('SELECT * FROM raw_valid ORDER BY line')).getRowObjectsJson();
  return { summary, quarantine, valid, input, quarantinePath };
}

async function readQuarantine(path: string): Promise<Array<{ line: number; reason: string; raw: string }>> {
  const r = await conn.runAndReadAll(
    `SELECT line, reason, raw FROM read_csv('${path}', header = true, auto_detect = false, ` +
      `columns = {'line': 'BIGINT', 'reason': 'VARCHAR', 'raw': 'VARCHAR'}, quote = '"', escape = '"') ORDER BY line`,
  );
  return r
    .getRows()
    .map(([line, reason, raw]) => ({ line: Number(line), reason: String(reason), raw: String(raw ?? '') }));
}

function reconciles(s: ValidationSummary): void {
  expect(s.rowsValid + s.rowsQuarantined).toBe(s.rowsIn);
  expect(Object.values(s.byReason).reduce((a, b) => a + b, 0)).toBe(s.rowsQuarantined);
}

const csv = (...lines: string[]) => [HEADER, ...lines].join('\n') + '\n';
const withField = (line: string, column: string, value: string) => {
  const fields = line.split(',');
  fields[RAW_COLUMN_NAMES.indexOf(column as (typeof RAW_COLUMN_NAMES)[number])] = value;
  return fields.join(',');
};

describe('validateRawInto', () => {
  it('accepts a clean generated file completely, with the canonical typed columns and physical line numbers', async () => {
    const input = join(dir, 'clean.csv');
    generateLoans({ rows: 5000, seed: 21, out: input });
    const quarantinePath = join(dir, 'clean-q.csv');
    const summary = await validateRawInto(conn, input, { quarantinePath, asOf: '2022-06-01' });
    expect(summary).toEqual({
      rowsIn: 5000,
      rowsValid: 5000,
      rowsQuarantined: 0,
      byReason: {},
      inputSha256: createHash('sha256').update(readFileSync(input)).digest('hex'),
      lines: { total: 5001, header: 1, blank: 0, valid: 5000, quarantined: 0 },
    });
    expect(readFileSync(quarantinePath, 'utf8')).toBe('line,reason,raw\n');
    const described = (await conn.runAndReadAll('DESCRIBE raw_valid')).getRowObjects();
    expect(described.map((r) => [r.column_name, r.column_type])).toEqual(
      RAW_VALID_COLUMNS.map((c) => [c.name, c.type]),
    );
    const check = await conn.runAndReadAll(
      "SELECT count(*) FILTER (WHERE line <> loan_id + 1), count(*) FILTER (WHERE occupation_type = ''), " +
        'count(*) FILTER (WHERE occupation_type IS NULL), min(job_start_date) FILTER (WHERE days_employed = 365243) FROM raw_valid',
    );
    const [misnumbered, emptyStrings, nullOccupations, sentinelStart] = check.getRows()[0];
    expect(misnumbered).toBe(0n);
    expect(emptyStrings).toBe(0n);
    expect(Number(nullOccupations)).toBeGreaterThan(500);
    expect(String(sentinelStart) > '2990').toBe(true);
  });

  it('gives every dirty class of the generator the reason it expects, each pointing at its physical line with its original text', async () => {
    const input = join(dir, 'dirty.csv');
    const generated = generateLoans({ rows: 6000, seed: 22, out: input, dirtyRate: 0.05 });
    const quarantinePath = join(dir, 'dirty-q.csv');
    const summary = await validateRawInto(conn, input, { quarantinePath, asOf: '2022-06-01' });
    reconciles(summary);
    expect(summary.byReason).toEqual(generated.expectedQuarantineByReason);
    expect(summary.rowsValid).toBe(6000 - generated.dirtyRows);
    const physical = readFileSync(input).toString('utf8').split('\n');
    const quarantine = await readQuarantine(quarantinePath);
    expect(quarantine).toHaveLength(generated.dirtyRows);
    const mismatched = quarantine.filter((q) => physical[q.line - 1] !== q.raw.split('\n')[0]);
    expect(mismatched).toEqual([]);
    // valid rows (some written fully quoted) keep their physical line too
    const valid = (await conn.runAndReadAll('SELECT line, loan_id FROM raw_valid')).getRows();
    const wrongLines = valid.filter(
      ([line, loanId]) => !physical[Number(line) - 1].replace(/^"/, '').startsWith(`${loanId}`),
    );
    expect(wrongLines).toEqual([]);
  });

  it('quarantines each rule violation with its own reason code', async () => {
    const base = GOOD[0];
    const cases: Array<[string, string]> = [
      [withField(base, 'loan_id', ''), 'missing_loan_id'],
      [withField(base, 'loan_id', '1e3'), 'non_numeric_loan_id'],
      [withField(base, 'id', ''), 'missing_id'],
      [withField(base, 'id', '50O8804'), 'non_numeric_id'],
      [withField(base, 'code_gender', ''), 'missing_value'],
      [withField(base, 'loan_amount', 'NaN'), 'non_finite_number'],
      [withField(base, 'amt_income_total', '-Infinity'), 'non_finite_number'],
      [withField(base, 'cnt_children', '1.5'), 'invalid_number'],
      [withField(base, 'cnt_children', '-1'), 'invalid_number'],
      [withField(base, 'loan_amount', 'abc'), 'invalid_number'],
      [withField(base, 'flag_own_car', 'y'), 'invalid_flag'],
      [withField(base, 'flag_email', '2'), 'invalid_flag'],
      [withField(base, 'status', '0.5'), 'invalid_status'],
      [withField(base, 'name_family_status', 'married'), 'unknown_category'],
      [withField(base, 'occupation_type', 'Astronaut'), 'unknown_category'],
      [withField(base, 'loan_date', '2018/07/21'), 'invalid_date'],
      [withField(base, 'birthday', '1989-6-9'), 'invalid_date'],
      [withField(base, 'loan_date', '2023-01-1 '), 'invalid_date'],
      [withField(base, 'job_start_date', '2015-03-0\t'), 'invalid_date'],
      [withField(base, 'birthday', ' 989-06-09'), 'invalid_date'],
      [withField(base, 'id', '05008804'), 'non_numeric_id'],
      [withField(base, 'id', '+5008804'), 'non_numeric_id'],
      [withField(base, 'loan_date', '2023-02-30'), 'impossible_date'],
      [withField(base, 'job_start_date', '0001-01-01'), 'impossible_date'],
      [withField(base, 'loan_date', '2022-06-02'), 'future_loan_date'],
      [withField(base, 'birthday', '2018-07-22'), 'birthday_after_loan_date'],
      [withField(base, 'loan_amount', '0'), 'non_positive_amount'],
      [withField(base, 'amt_income_total', '-1.0'), 'non_positive_income'],
      [base.split(',').slice(0, 23).join(','), 'wrong_column_count'],
      [base + ',extra', 'wrong_column_count'],
    ];
    const lines = cases.map(([line], i) =>
      withField(line, 'loan_id', line.split(',')[0] === '' || i === 1 ? line.split(',')[0] : String(100 + i)),
    );
    const { summary, quarantine, valid } = await validate(csv(...lines, GOOD[1]));
    reconciles(summary);
    expect(summary.rowsIn).toBe(cases.length + 1);
    expect(valid).toHaveLength(1);
    expect(quarantine.map((q) => [q.line, q.reason])).toEqual(cases.map(([, reason], i) => [i + 2, reason]));
    expect(quarantine.map((q) => q.raw)).toEqual(lines);
  });

  it('keeps the first of duplicate loan_ids and quarantines the later ones, even when the first copy is broken', async () => {
    const broken = withField(GOOD[1], 'loan_id', '1');
    const { summary, quarantine, valid } = await validate(
      csv(withField(broken, 'loan_amount', '-5'), GOOD[0], GOOD[0], GOOD[1], GOOD[0]),
    );
    reconciles(summary);
    expect(quarantine.map((q) => [q.line, q.reason])).toEqual([
      [2, 'non_positive_amount'],
      [4, 'duplicate_loan_id'],
      [6, 'duplicate_loan_id'],
    ]);
    expect(valid.map((r) => [r.line, r.loan_id])).toEqual([
      ['3', '1'],
      ['5', '2'],
    ]);
  });

  it('reads a BOM, CRLF line endings, quoted fields with commas and line breaks, and blank lines, with the right line numbers', async () => {
    const quoted = GOOD[1]
      .split(',')
      .map((f) => `"${f}"`)
      .join(',');
    const commaInQuotes = withField(GOOD[2], 'occupation_type', '"Laborers, night"');
    const breakInQuotes = withField(
      withField(GOOD[0], 'loan_id', '7'),
      'name_housing_type',
      '"House /\r\napartment"',
    );
    const content =
      '\ufeff' +
      [HEADER, GOOD[0], '', quoted, breakInQuotes, commaInQuotes, '', GOOD[2].replace(/^3,/, '9,')].join(
        '\r\n',
      ) +
      '\r\n';
    const { summary, quarantine, valid } = await validate(content);
    reconciles(summary);
    expect(summary.rowsIn).toBe(5);
    // lines: header 1, record 2, blank 3, quoted 4, line break inside quotes 5-6, comma 7, blank 8, record 9
    expect(valid.map((r) => [r.line, r.loan_id])).toEqual([
      ['2', '1'],
      ['4', '2'],
      ['9', '9'],
    ]);
    expect(quarantine).toEqual([
      { line: 5, reason: 'unknown_category', raw: breakInQuotes },
      { line: 7, reason: 'unknown_category', raw: commaInQuotes },
    ]);
  });

  it('accepts a last record without a line break and a header in another order, ignoring extra columns with a warning', async () => {
    const order = [...RAW_COLUMN_NAMES].reverse();
    const header = ['note', ...order.map((c) => c.toUpperCase())].join(',');
    const toOrder = (line: string) => {
      const f = line.split(',');
      return ['x', ...order.map((c) => f[RAW_COLUMN_NAMES.indexOf(c)])].join(',');
    };
    const warnings: string[] = [];
    const { summary, valid } = await validate(
      `${header}\n${toOrder(GOOD[0])}\n${toOrder(GOOD[2])}`,
      '2022-06-01',
      {
        onWarning: (m) => warnings.push(m),
      },
    );
    expect(summary.rowsValid).toBe(2);
    expect(valid.map((r) => [r.loan_id, r.id, r.loan_amount, r.job_start_date])).toEqual([
      ['1', '5008804', 106, '2007-05-20'],
      ['3', '5008806', 120, '3022-03-31'],
    ]);
    expect(warnings.join()).toContain('note');
  });

  it('quarantines non-UTF-8 bytes as invalid_utf8 and keeps counting lines after them', async () => {
    const [before, after] = withField(GOOD[1], 'occupation_type', '@').split('@');
    const bad = Buffer.concat([
      Buffer.from(before + 'Labor'),
      Buffer.from([0xe9, 0xff]),
      Buffer.from('ers' + after),
    ]);
    const content = Buffer.concat([
      Buffer.from(`${HEADER}\n${GOOD[0]}\n`),
      bad,
      Buffer.from(`\n${GOOD[2]}\n`),
    ]);
    const { summary, quarantine, valid } = await validate(content);
    reconciles(summary);
    expect(quarantine.map((q) => [q.line, q.reason])).toEqual([[3, 'invalid_utf8']]);
    expect(quarantine[0].raw).toContain('Labor\ufffd');
    expect(valid.map((r) => r.line)).toEqual(['2', '4']);
  });

  it('treats a header without rows as a valid empty file', async () => {
    const { summary, valid, quarantine } = await validate(HEADER + '\n');
    expect(summary).toMatchObject({ rowsIn: 0, rowsValid: 0, rowsQuarantined: 0, byReason: {} });
    expect(valid).toEqual([]);
    expect(quarantine).toEqual([]);
  });

  it('uses today as the as-of date by default (a loan dated tomorrow is in the future)', async () => {
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const input = join(dir, 'tomorrow.csv');
    writeFileSync(input, csv(GOOD[0], withField(GOOD[1], 'loan_date', tomorrow)));
    const s = await validateRawInto(conn, input, { quarantinePath: join(dir, 'tomorrow-q.csv') });
    expect(s.byReason).toEqual({ future_loan_date: 1 });
  });

  it('keeps only the requested columns (and the ids) but still checks every column, with the same line numbers and category values', async () => {
    const input = join(dir, 'some-columns.csv');
    writeFileSync(input, csv(GOOD[0], withField(GOOD[1], 'name_housing_type', 'Castle'), GOOD[2]));
    const summary = await validateRawInto(conn, input, {
      quarantinePath: join(dir, 'some-columns-q.csv'),
      asOf: '2022-06-01',
      columns: ['loan_date', 'flag_own_car', 'code_gender'],
    });
    expect(summary.byReason).toEqual({ unknown_category: 1 });
    const described = (await conn.runAndReadAll('DESCRIBE raw_valid'))
      .getRows()
      .map(([name, type]) => [name, type]);
    expect(described).toEqual([
      ['loan_id', 'BIGINT'],
      ['id', 'BIGINT'],
      ['code_gender', 'VARCHAR'],
      ['flag_own_car', 'VARCHAR'],
      ['loan_date', 'DATE'],
      ['line', 'BIGINT'],
    ]);
    const rows = (await conn.runAndReadAll('SELECT * FROM raw_valid ORDER BY line')).getRowObjectsJson();
    expect(rows).toEqual([
      {
        loan_id: '1',
        id: '5008804',
        code_gender: 'M',
        flag_own_car: 'Y',
        loan_date: '2018-07-21',
        line: '2',
      },
      {
        loan_id: '3',
        id: '5008806',
        code_gender: 'F',
        flag_own_car: 'N',
        loan_date: '2019-01-05',
        line: '4',
      },
    ]);
  });

  it('reads Parquet with the same columns', async () => {
    const source = join(dir, 'for-parquet.csv');
    writeFileSync(source, csv(GOOD[0], GOOD[2], withField(GOOD[1], 'loan_amount', '0')));
    const parquet = join(dir, 'loans.parquet');
    await conn.run(
      `COPY (SELECT * FROM read_csv('${source}', all_varchar = true)) TO '${parquet}' (FORMAT parquet)`,
    );
    const summary = await validateRawInto(conn, parquet, {
      quarantinePath: join(dir, 'pq-q.csv'),
      asOf: '2022-06-01',
    });
    expect(summary).toMatchObject({
      rowsIn: 3,
      rowsValid: 2,
      rowsQuarantined: 1,
      byReason: { non_positive_amount: 1 },
    });
    const q = await readQuarantine(join(dir, 'pq-q.csv'));
    expect(q).toEqual([
      { line: 3, reason: 'non_positive_amount', raw: withField(GOOD[1], 'loan_amount', '0') },
    ]);
  });

  describe('file-level problems throw one InputError and write nothing', () => {
    const codeOf = async (content: string | null, name: string) => {
      const input = join(dir, name);
      if (content !== null) writeFileSync(input, content);
      const quarantinePath = join(dir, `${name}.quarantine.csv`);
      try {
        await validateRawInto(conn, input, { quarantinePath, asOf: '2022-06-01' });
        return 'accepted';
      } catch (e) {
        expect(existsSync(quarantinePath)).toBe(false);
        expect(readdirSync(dir).filter((f) => f.startsWith(`${name}.quarantine.csv`))).toEqual([]);
        return isInputError(e) ? `${e.code}: ${e.message}` : String(e);
      }
    };

    it('a missing file is FILE_NOT_FOUND', async () => {
      expect(await codeOf(null, 'absent.csv')).toMatch(/^FILE_NOT_FOUND: .*absent\.csv/);
    });

    it('an empty file, or one holding only a BOM and blank lines, is EMPTY_FILE', async () => {
      expect(await codeOf('', 'empty.csv')).toMatch(/^EMPTY_FILE/);
      expect(await codeOf('\ufeff\n\r\n', 'blank.csv')).toMatch(/^EMPTY_FILE/);
    });

    it('a header lacking required columns is MISSING_COLUMNS naming them', async () => {
      const header = RAW_COLUMN_NAMES.filter((c) => c !== 'loan_date' && c !== 'status').join(',');
      expect(await codeOf(header + '\n', 'missing.csv')).toMatch(/^MISSING_COLUMNS: .*status, loan_date/);
    });

    it('a header naming a column twice is DUPLICATE_COLUMNS', async () => {
      expect(await codeOf(`${HEADER},id\n`, 'dup-header.csv')).toMatch(/^DUPLICATE_COLUMNS: .*id/);
    });

    it('a bad as-of date is BAD_DATE', async () => {
      const input = join(dir, 'asof.csv');
      writeFileSync(input, csv(GOOD[0]));
      await expect(
        validateRawInto(conn, input, { quarantinePath: join(dir, 'asof-q.csv'), asOf: '2022-02-30' }),
      ).rejects.toMatchObject({
        code: 'BAD_DATE',
      });
    });
  });
});

describe('validateRawInto on records over its bounds (ADR 0110)', () => {
  const lineCounts = (s: ValidationSummary) => {
    const l = s.lines;
    expect(l).toBeDefined();
    if (l) expect(l.header + l.blank + l.valid + l.quarantined).toBe(l.total);
  };

  it('quarantines a record over twice the header width as too_many_fields, with its count and a 1 KiB excerpt', async () => {
    const wide = GOOD[1] + ',x'.repeat(600);
    const { summary, quarantine, valid } = await validate(csv(GOOD[0], wide, GOOD[2]));
    reconciles(summary);
    lineCounts(summary);
    expect(summary.byReason).toEqual({ too_many_fields: 1 });
    expect(quarantine).toEqual([
      { line: 3, reason: 'too_many_fields: 624 fields, header has 24', raw: wide.slice(0, 1024) },
    ]);
    expect(valid.map((r) => r.line)).toEqual(['2', '4']);
  });

  it('a few fields too many stay wrong_column_count with their whole text; surplus empty fields are read as DuckDB reads them', async () => {
    const plusOne = withField(GOOD[1], 'loan_id', '5') + ',extra';
    // the file needs the classifier (a broken record) and the same rows read in a clean file
    const emptyTail = withField(GOOD[1], 'loan_id', '6') + ',,,';
    const dirty = await validate(csv(GOOD[0], plusOne, emptyTail));
    expect(dirty.quarantine).toEqual([{ line: 3, reason: 'wrong_column_count', raw: plusOne }]);
    expect(dirty.valid.map((r) => [r.line, r.loan_id])).toEqual([
      ['2', '1'],
      ['4', '6'],
    ]);
    const clean = await validate(csv(GOOD[0], emptyTail));
    expect(clean.summary).toMatchObject({ rowsIn: 2, rowsValid: 2 });
  });

  it('quarantines a record longer than maxRecordBytes as record_too_long', async () => {
    const long = withField(GOOD[1], 'occupation_type', 'L'.repeat(3000));
    const input = join(dir, 'long.csv');
    writeFileSync(input, csv(GOOD[0], long, GOOD[2]));
    const quarantinePath = join(dir, 'long-q.csv');
    const summary = await validateRawInto(conn, input, {
      quarantinePath,
      asOf: '2022-06-01',
      maxRecordBytes: 2048,
    });
    reconciles(summary);
    const quarantine = await readQuarantine(quarantinePath);
    expect(quarantine).toEqual([
      {
        line: 3,
        reason: `record_too_long: ${long.length} bytes, the limit is 2048`,
        raw: long.slice(0, 1024),
      },
    ]);
  });

  it('quarantines a record spanning more than maxRecordLines lines, and the rows after a closed one keep their lines', async () => {
    const tall = withField(withField(GOOD[1], 'loan_id', '7'), 'name_housing_type', '"a\nb\nc\nd\ne"');
    const short = withField(withField(GOOD[1], 'loan_id', '8'), 'name_housing_type', '"House /\napartment"');
    const input = join(dir, 'tall.csv');
    writeFileSync(input, csv(GOOD[0], tall, '', short, GOOD[2]));
    const quarantinePath = join(dir, 'tall-q.csv');
    const warnings: string[] = [];
    const summary = await validateRawInto(conn, input, {
      quarantinePath,
      asOf: '2022-06-01',
      maxRecordLines: 3,
      onWarning: (m) => warnings.push(m),
    });
    reconciles(summary);
    // lines: header 1, GOOD[0] 2, tall 3-7, blank 8, short 9-10, GOOD[2] 11
    expect(summary.lines).toEqual({ total: 11, header: 1, blank: 1, valid: 2, quarantined: 7 });
    const quarantine = await readQuarantine(quarantinePath);
    expect(quarantine.map((q) => [q.line, q.reason])).toEqual([
      [3, 'record_spans_lines: 5 lines'],
      [9, 'unknown_category'],
    ]);
    expect(quarantine[1].raw).toBe(short);
    const valid = (await conn.runAndReadAll('SELECT line, loan_id FROM raw_valid ORDER BY line')).getRows();
    expect(valid.map(([line, id]) => [Number(line), Number(id)])).toEqual([
      [2, 1],
      [11, 3],
    ]);
    expect(warnings.join('\n')).toMatch(/span more than 3 lines .*the first at line 3 \(5 lines\)/);
  });

  it('a loan_id DuckDB reads differently from the byte scan sends the file through the copy, with the same outcome', async () => {
    // ` "9"` is 9 to DuckDB (one space may precede a quote); the classifier's checksum only reads
    // plain or quoted digits, so the two disagree and DuckDB reads the copy instead.
    const spaced = ' "9",' + GOOD[2].split(',').slice(1).join(',');
    const { summary, quarantine, valid } = await validate(csv(GOOD[0], GOOD[1] + ',extra', spaced));
    reconciles(summary);
    expect(quarantine.map((q) => [q.line, q.reason])).toEqual([[3, 'wrong_column_count']]);
    expect(valid.map((r) => [r.line, r.loan_id])).toEqual([
      ['2', '1'],
      ['4', '9'],
    ]);
  });

  it('rows after consecutive blank lines keep their physical lines', async () => {
    // The line shift once took one step per run of blank lines instead of one per blank line.
    const { summary, valid } = await validate([HEADER, GOOD[0], '', '', '', GOOD[2], ''].join('\n') + '\n');
    expect(valid.map((r) => [r.line, r.loan_id])).toEqual([
      ['2', '1'],
      ['6', '3'],
    ]);
    expect(summary.lines).toEqual({ total: 7, header: 1, blank: 4, valid: 2, quarantined: 0 });
  });

  it('a quote inside an unquoted value is a character: the lines after it keep their numbers', async () => {
    const oBrien = withField(GOOD[1], 'occupation_type', 'O"Brien');
    const { summary, quarantine, valid } = await validate(csv(GOOD[0], oBrien, GOOD[2]));
    reconciles(summary);
    expect(quarantine).toEqual([{ line: 3, reason: 'unknown_category', raw: oBrien }]);
    expect(valid.map((r) => r.line)).toEqual(['2', '4']);
  });

  it('counts lines across every kind of record, and raw texts and line numbers stay right when the classifier runs', async () => {
    const multi = withField(
      withField(GOOD[1], 'loan_id', '4'),
      'name_housing_type',
      '"House /\r\napartment"',
    );
    const short = GOOD[2].split(',').slice(0, 20).join(',');
    const bad = Buffer.from(withField(GOOD[1], 'loan_id', '5').replace('Working', 'Work\u00e9ing'), 'latin1');
    const content = Buffer.concat([
      Buffer.from(['\ufeff' + HEADER, GOOD[0], '', multi, short, ''].join('\r\n')),
      bad,
      Buffer.from(['', GOOD[2], '', ''].join('\r\n')),
    ]);
    const { summary, quarantine, valid } = await validate(content);
    reconciles(summary);
    lineCounts(summary);
    // lines: header 1, GOOD[0] 2, blank 3, multi 4-5, short 6, bad 7, GOOD[2] 8, blank 9
    expect(summary.lines).toEqual({ total: 9, header: 1, blank: 2, valid: 2, quarantined: 4 });
    expect(quarantine.map((q) => [q.line, q.reason])).toEqual([
      [4, 'unknown_category'],
      [6, 'wrong_column_count'],
      [7, 'invalid_utf8'],
    ]);
    expect(quarantine[0].raw).toBe(multi);
    expect(quarantine[1].raw).toBe(short);
    expect(quarantine[2].raw).toContain('Work\ufffding');
    expect(valid.map((r) => r.line)).toEqual(['2', '8']);
  });

  it('refuses bounds that make no sense, and a header that does not end within 64 KiB', async () => {
    const input = join(dir, 'bounds.csv');
    writeFileSync(input, csv(GOOD[0]));
    const quarantinePath = join(dir, 'bounds-q.csv');
    await expect(validateRawInto(conn, input, { quarantinePath, maxRecordLines: 1 })).rejects.toMatchObject({
      code: 'BAD_LIMIT',
    });
    await expect(validateRawInto(conn, input, { quarantinePath, maxRecordBytes: 3e6 })).rejects.toMatchObject(
      {
        code: 'BAD_LIMIT',
      },
    );
    const wideHeader = join(dir, 'wide-header.csv');
    writeFileSync(wideHeader, `${HEADER}${',x'.repeat(40_000)}\n${GOOD[0]}\n`);
    await expect(validateRawInto(conn, wideHeader, { quarantinePath })).rejects.toMatchObject({
      code: 'HEADER_TOO_LONG',
    });
  });
});
