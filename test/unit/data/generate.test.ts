import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateLoans, parseDrift, FIRST_CUSTOMER_ID, type GenerateOptions } from '#lib/data/generate.ts';
import { DIRTY_CLASSES } from '#lib/data/dirty.ts';
import { daysFromIso, wholeYearsBetweenDays } from '#lib/data/civil-date.ts';
import { CATEGORIES, QUARANTINE_REASON_ORDER, RAW_COLUMN_NAMES } from '#lib/features/raw-schema.ts';
import { isInputError } from '#lib/errors.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cr-gen-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function generate(name: string, options: Omit<GenerateOptions, 'out'>) {
  const out = join(dir, name);
  const result = generateLoans({ ...options, out });
  return { result, text: readFileSync(out, 'latin1') };
}

type Row = Record<(typeof RAW_COLUMN_NAMES)[number], string>;
function parseClean(text: string): Row[] {
  const [header, ...lines] = text.trimEnd().split('\n');
  const names = header.split(',');
  return lines.map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(names.map((n, i) => [n, fields[i]])) as Row;
  });
}

describe('generateLoans', () => {
  it('writes the exact header of the real file, lower-case, in its column order', () => {
    const { text } = generate('header.csv', { rows: 10, seed: 1 });
    expect(text.split('\n')[0]).toBe(
      'loan_id,id,code_gender,flag_own_car,flag_own_realty,cnt_children,amt_income_total,name_income_type,' +
        'name_education_type,name_family_status,name_housing_type,days_birth,days_employed,flag_mobil,' +
        'flag_work_phone,flag_phone,flag_email,occupation_type,cnt_fam_members,status,birthday,job_start_date,' +
        'loan_date,loan_amount',
    );
  });

  it('is deterministic: the same options give identical bytes, another seed gives other bytes', () => {
    const a = generate('a.csv', { rows: 3000, seed: 11, dirtyRate: 0.05 }).text;
    const b = generate('b.csv', { rows: 3000, seed: 11, dirtyRate: 0.05 }).text;
    const c = generate('c.csv', { rows: 3000, seed: 12, dirtyRate: 0.05 }).text;
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(generate('s1.csv', { rows: 50, seed: 'demo' }).text).toBe(
      generate('s2.csv', { rows: 50, seed: 'demo' }).text,
    );
  });

  it('writes exactly --rows records, loan_id 1..N in file order', () => {
    const { text, result } = generate('count.csv', { rows: 1234, seed: 2 });
    const rows = parseClean(text);
    expect(rows).toHaveLength(1234);
    expect(result.rows).toBe(1234);
    expect(rows.map((r) => Number(r.loan_id))).toEqual(Array.from({ length: 1234 }, (_, i) => i + 1));
  });

  describe('marginals of a clean 40,000-row file', () => {
    let rows: Row[];
    let result: ReturnType<typeof generateLoans>;
    beforeAll(() => {
      const g = generate('marginals.csv', { rows: 40_000, seed: 5 });
      rows = parseClean(g.text);
      result = g.result;
    });

    it('has customer ids from 5008804 upward with 1..60 loans each (~21 on average)', () => {
      const ids = rows.map((r) => Number(r.id));
      expect(Math.min(...ids)).toBe(FIRST_CUSTOMER_ID);
      const perCustomer = new Map<number, number>();
      for (const id of ids) perCustomer.set(id, (perCustomer.get(id) ?? 0) + 1);
      expect(perCustomer.size).toBe(result.customers);
      const counts = [...perCustomer.values()];
      expect(Math.max(...counts)).toBeLessThanOrEqual(60);
      const mean = rows.length / perCustomer.size;
      expect(mean).toBeGreaterThan(15);
      expect(mean).toBeLessThan(30);
    });

    it('keeps the static attributes of a customer identical on all their loans', () => {
      const staticColumns = RAW_COLUMN_NAMES.slice(1, 19).filter((c) => c !== 'status');
      const first = new Map<string, string>();
      const changed: string[] = [];
      for (const r of rows) {
        const key = [...staticColumns.map((c) => r[c]), r.birthday, r.job_start_date].join('|');
        if ((first.get(r.id) ?? key) !== key) changed.push(r.id);
        first.set(r.id, key);
      }
      expect(changed).toEqual([]);
    });

    it('uses only the allowed categories, with ~30% empty occupation_type and flag_mobil always 1', () => {
      for (const [column, values] of Object.entries(CATEGORIES)) {
        const allowed = new Set<string>([...values, ...(column === 'occupation_type' ? [''] : [])]);
        expect(rows.filter((r) => !allowed.has(r[column as keyof Row]))).toEqual([]);
      }
      const empty = rows.filter((r) => r.occupation_type === '').length / rows.length;
      expect(empty).toBeGreaterThan(0.2);
      expect(empty).toBeLessThan(0.4);
      expect(rows.every((r) => r.flag_mobil === '1')).toBe(true);
    });

    it('gives pensioners days_employed 365243 and a job_start_date ~1,000 years ahead', () => {
      const sentinel = rows.filter((r) => r.days_employed === '365243');
      expect(sentinel.length).toBeGreaterThan(rows.length * 0.05);
      expect(new Set(sentinel.map((r) => r.name_income_type))).toEqual(new Set(['Pensioner']));
      expect(Math.min(...sentinel.map((r) => Number(r.job_start_date.slice(0, 4))))).toBeGreaterThan(2990);
    });

    it('derives birthday and job_start_date from days_birth and days_employed relative to one reference date', () => {
      const reference = daysFromIso(result.referenceDate);
      const inconsistent = rows.filter(
        (r) =>
          daysFromIso(r.birthday) !== reference + Number(r.days_birth) ||
          daysFromIso(r.job_start_date) !== reference + Number(r.days_employed),
      );
      expect(inconsistent).toEqual([]);
    });

    it('has a heavy-tailed positive income, loan amounts around 100 and children outliers', () => {
      const incomes = rows.map((r) => Number(r.amt_income_total)).sort((a, b) => a - b);
      expect(incomes[0]).toBeGreaterThan(0);
      const median = incomes[Math.floor(incomes.length / 2)];
      expect(incomes[incomes.length - 1]).toBeGreaterThan(3 * median);
      const amounts = rows.map((r) => Number(r.loan_amount));
      const meanAmount = amounts.reduce((s, a) => s + a, 0) / amounts.length;
      expect(meanAmount).toBeGreaterThan(80);
      expect(meanAmount).toBeLessThan(130);
      expect(Math.min(...amounts)).toBeGreaterThan(0);
      expect(Math.max(...rows.map((r) => Number(r.cnt_children)))).toBeGreaterThanOrEqual(3);
    });

    it('spreads loans over the 4 default years, with same-day loans of one customer', () => {
      const dates = rows.map((r) => r.loan_date).sort();
      expect(dates[0] >= '2018-01-01').toBe(true);
      expect(dates[dates.length - 1] <= '2021-12-31').toBe(true);
      expect(new Set(dates.map((d) => d.slice(0, 4)))).toEqual(new Set(['2018', '2019', '2020', '2021']));
      const sameDay = rows.filter(
        (r, i) => i > 0 && rows[i - 1].id === r.id && rows[i - 1].loan_date === r.loan_date,
      );
      expect(sameDay.length).toBeGreaterThan(0);
      // birthday before every loan, loans in date order within a customer
      const outOfOrder = rows.filter(
        (r, i) => i > 0 && rows[i - 1].id === r.id && r.loan_date < rows[i - 1].loan_date,
      );
      expect(outOfOrder).toEqual([]);
      expect(rows.filter((r) => r.birthday >= r.loan_date)).toEqual([]);
    });

    it('has a few percent positives, driven by the point-in-time features (first loans and no car are riskier)', () => {
      const rate = (subset: Row[]) => subset.filter((r) => r.status === '1').length / subset.length;
      const overall = rate(rows);
      expect(overall).toBeGreaterThan(0.01);
      expect(overall).toBeLessThan(0.08);
      const firstLoans = rows.filter((r, i) => i === 0 || rows[i - 1].id !== r.id);
      const laterLoans = rows.filter(
        (r, i) => i > 0 && rows[i - 1].id === r.id && rows[i - 1].loan_date < r.loan_date,
      );
      expect(rate(firstLoans)).toBeGreaterThan(1.5 * rate(laterLoans));
      const age = (r: Row) => wholeYearsBetweenDays(daysFromIso(r.birthday), daysFromIso(r.loan_date));
      const middleAged = rows.filter((r) => age(r) >= 35 && age(r) <= 50);
      const extremes = rows.filter((r) => age(r) < 28 || age(r) > 62);
      expect(rate(extremes)).toBeGreaterThan(rate(middleAged));
    });
  });

  it('includes leap-day loan dates when the window holds one', () => {
    const { text } = generate('leap.csv', { rows: 20_000, seed: 9, startDate: '2020-01-01', years: 1 });
    expect(text).toContain(',2020-02-29,');
  });

  it('with --dirty-rate writes every dirty class, and reports what the validator must find', () => {
    const { result, text } = generate('dirty.csv', { rows: 4000, seed: 3, dirtyRate: 0.05 });
    expect(result.dirtyRows).toBe(200);
    const expectedReasons = new Set(DIRTY_CLASSES.map((c) => c.reason));
    expect(new Set(Object.keys(result.expectedQuarantineByReason))).toEqual(expectedReasons);
    // every reason code except the two the validator derives (duplicates need no class of their own
    // beyond the copy; 'unclassified' is a bug marker) has a dirty class, and record_too_long
    // (a record over 1 MiB every few hundred rows would make most of a generated file)
    expect(QUARANTINE_REASON_ORDER.filter((r) => !expectedReasons.has(r))).toEqual([
      'record_too_long',
      'unclassified',
    ]);
    const total = Object.values(result.expectedQuarantineByReason).reduce((s, n) => s + (n ?? 0), 0);
    expect(total).toBe(200);
    expect(text).toContain('"House /\napartment"');
    expect(text).toContain('"Laborers, night shift"');
    expect(Buffer.from(readFileSync(join(dir, 'dirty.csv'))).includes(Buffer.from([0xe9]))).toBe(true);
    expect(result.quotedValidRows).toBeGreaterThan(0);
  });

  it('writes CRLF line endings and a byte-order mark on request', () => {
    const out = join(dir, 'crlf.csv');
    generateLoans({ rows: 20, seed: 1, out, lineEnding: '\r\n', bom: true });
    const bytes = readFileSync(out);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString('utf8');
    expect(text.split('\r\n')).toHaveLength(22);
  });

  it('drifts income and loan amounts by the requested share', () => {
    const mean = (rows: Row[], c: keyof Row) => rows.reduce((s, r) => s + Number(r[c]), 0) / rows.length;
    const base = parseClean(generate('d0.csv', { rows: 5000, seed: 4 }).text);
    const drifted = parseClean(
      generate('d1.csv', { rows: 5000, seed: 4, drift: { income: 0.3, amount: 0.5 } }).text,
    );
    expect(mean(drifted, 'amt_income_total') / mean(base, 'amt_income_total')).toBeCloseTo(1.3, 1);
    expect(mean(drifted, 'loan_amount') / mean(base, 'loan_amount')).toBeCloseTo(1.5, 1);
  });

  it('drifts the label relation with label:1 (car owners become the riskier group)', () => {
    const rate = (rows: Row[]) => rows.filter((r) => r.status === '1').length / rows.length;
    const base = parseClean(generate('l0.csv', { rows: 30_000, seed: 6 }).text);
    const drifted = parseClean(generate('l1.csv', { rows: 30_000, seed: 6, drift: { label: 1 } }).text);
    const carRatio = (rows: Row[]) =>
      rate(rows.filter((r) => r.flag_own_car === 'Y')) / rate(rows.filter((r) => r.flag_own_car === 'N'));
    expect(carRatio(base)).toBeLessThan(1);
    expect(carRatio(drifted)).toBeGreaterThan(1);
  });

  it('parses --drift specs and refuses unknown kinds or amounts', () => {
    expect(parseDrift(['income:0.3', 'amount:0.5,label'])).toEqual({ income: 0.3, amount: 0.5, label: 1 });
    for (const bad of ['speed:1', 'label:2', 'income:abc']) {
      try {
        parseDrift([bad]);
        throw new Error('accepted ' + bad);
      } catch (e) {
        expect(isInputError(e) && e.code).toBe('BAD_DRIFT');
      }
    }
  });

  it('refuses a dirty rate above 0.5, a negative row count and an impossible start date', () => {
    const codes = [
      () => generateLoans({ rows: 10, seed: 1, out: join(dir, 'x.csv'), dirtyRate: 0.9 }),
      () => generateLoans({ rows: -1, seed: 1, out: join(dir, 'x.csv') }),
      () => generateLoans({ rows: 10, seed: 1, out: join(dir, 'x.csv'), startDate: '2023-02-30' }),
    ].map((f) => {
      try {
        f();
        return 'accepted';
      } catch (e) {
        return isInputError(e) ? e.code : String(e);
      }
    });
    expect(codes).toEqual(['BAD_DIRTY_RATE', 'BAD_ROWS', 'BAD_DATE']);
  });
});
