import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { FEATURE_NAMES } from '#lib/features/catalog.ts';
import {
  createFeatureViews,
  openFeatureDuckDb,
  writeQuery,
  type FeatureDuckDb,
} from '#lib/features/duckdb-engine.ts';
import { loadFeatureSql } from '#lib/features/feature-sql.ts';
import { onlineFeatureVector } from '#lib/features/online.ts';

/**
 * THE parity test (docs/DATA.md, "Online features"): the online row of a customer, through the real
 * chain (feature SQL `online` query on DuckDB -> online.parquet -> PGlite -> get), gives on date D
 * exactly the features the offline SQL computes for a hypothetical next loan of that customer on
 * D, appended to the raw rows. Histories are random but seeded, with same-day loans, leap-day
 * birthdays, the 365243 "not employed" sentinel, missing job dates and amounts with many decimals.
 */

interface Loan {
  loan_id: number;
  id: number;
  loan_date: string;
  status: number;
  birthday: string;
  job_start_date: string | null;
  flag_own_car: 'Y' | 'N';
  amt_income_total: number;
  loan_amount: number;
}

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const ms = (d: string) => Date.parse(`${d}T00:00:00Z`);

function generate(seed: number, customers: number): Loan[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const loans: Loan[] = [];
  let loanId = 1;
  for (let c = 0; c < customers; c++) {
    const id = 5008804 + c;
    const birthday =
      rnd() < 0.15
        ? pick(['1988-02-29', '1992-02-29', '2000-02-29'])
        : iso(ms('1950-01-01') + Math.floor(rnd() * 18_000) * DAY);
    const jobKind = rnd();
    const job_start_date =
      jobKind < 0.15
        ? iso(ms('2020-01-01') + 365243 * DAY - 20_000 * DAY) /* the sentinel: ~1,000 years ahead */
        : jobKind < 0.2
          ? null
          : iso(ms('1995-01-01') + Math.floor(rnd() * 9_000) * DAY);
    const n = 1 + Math.floor(rnd() * 7);
    let day = ms('2016-01-01') + Math.floor(rnd() * 1500) * DAY;
    for (let i = 0; i < n; i++) {
      // ~35% of the loans share the previous loan's day: same-day ties, also on the last day
      if (i > 0 && rnd() >= 0.35) day += (1 + Math.floor(rnd() * 400)) * DAY;
      loans.push({
        loan_id: loanId++,
        id,
        loan_date: iso(day),
        status: rnd() < 0.1 ? 1 : 0,
        birthday,
        job_start_date,
        flag_own_car: rnd() < 0.5 ? 'Y' : 'N', // may change between loans: the latest one is what counts
        amt_income_total: Math.round(20_000 + rnd() * 300_000) / 2,
        loan_amount: Math.round((5 + rnd() * 300) * 1e7) / 1e7, // more decimals than the SQL keeps
      });
    }
  }
  // shuffled, so nothing depends on file order
  for (let i = loans.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [loans[i], loans[j]] = [loans[j], loans[i]];
  }
  return loans;
}

/** `raw_valid` as the feature SQL expects it, from a typed CSV (DuckDB reads it exactly). */
async function loadRawValid(db: FeatureDuckDb, loans: Loan[], dir: string, name: string): Promise<void> {
  const file = join(dir, `${name}.csv`);
  const lines = [
    'loan_id,id,loan_date,status,birthday,job_start_date,flag_own_car,amt_income_total,loan_amount,code_gender',
  ];
  for (const l of loans) {
    lines.push(
      [
        l.loan_id,
        l.id,
        l.loan_date,
        l.status,
        l.birthday,
        l.job_start_date ?? '',
        l.flag_own_car,
        l.amt_income_total,
        l.loan_amount,
        l.id % 2 ? 'F' : 'M',
      ].join(','),
    );
  }
  writeFileSync(file, lines.join('\n') + '\n');
  await db.connection.run('DROP TABLE IF EXISTS raw_valid');
  await db.connection.run(
    `CREATE TABLE raw_valid AS SELECT * FROM read_csv('${file}', header = true, nullstr = '', columns = {
       'loan_id': 'BIGINT', 'id': 'BIGINT', 'loan_date': 'DATE', 'status': 'INTEGER', 'birthday': 'DATE',
       'job_start_date': 'DATE', 'flag_own_car': 'VARCHAR', 'amt_income_total': 'DOUBLE', 'loan_amount': 'DOUBLE',
       'code_gender': 'VARCHAR'})`,
  );
  await createFeatureViews(db.connection);
}

/** The customer's most recent loan: latest loan_date, then highest loan_id (the SQL's rule). */
function latestLoan(loans: Loan[]): Loan {
  return loans.reduce((a, b) =>
    b.loan_date > a.loan_date || (b.loan_date === a.loan_date && b.loan_id > a.loan_id) ? b : a,
  );
}

describe('online vector == offline row of a hypothetical next loan (DuckDB feature SQL + PGlite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cr-parity-'));
  const loans = generate(20240229, 120);
  const byCustomer = new Map<number, Loan[]>();
  for (const l of loans) byCustomer.set(l.id, [...(byCustomer.get(l.id) ?? []), l]);
  let db: FeatureDuckDb;
  let store: PgliteFeatureStore;

  beforeAll(async () => {
    db = await openFeatureDuckDb();
    store = new PgliteFeatureStore(join(dir, 'pglite'));
    // The real online chain: SQL `online` query -> online.parquet -> PGlite (as publish does it).
    await loadRawValid(db, loans, dir, 'base');
    const onlineFile = join(dir, 'online.parquet');
    await writeQuery(db.connection, loadFeatureSql().online, onlineFile, 'parquet', 'id');
    // the path publish takes for PGlite (DuckDB-written CSV, COPY); the row path is held equal to it
    // in online-store-pglite.test.ts
    await store.replaceSnapshotFromParquet('parity', onlineFile);
  });
  afterAll(async () => {
    await store.close();
    db.close();
  });

  it('has same-day ties, leap-day birthdays, sentinel and missing job dates in the data (the cases that matter)', () => {
    const lastDayTies = [...byCustomer.values()].filter(
      (ls) => ls.filter((l) => l.loan_date === latestLoan(ls).loan_date).length > 1,
    );
    expect(lastDayTies.length).toBeGreaterThan(5);
    expect(loans.some((l) => l.birthday.endsWith('-02-29'))).toBe(true);
    expect(loans.some((l) => l.job_start_date !== null && l.job_start_date > '2900-01-01')).toBe(true);
    expect(loans.some((l) => l.job_start_date === null)).toBe(true);
  });

  it('matches exactly for every customer on several dates: the last loan day, the day after, anniversaries, years later', async () => {
    const rnd = prng(7);
    const rounds: Array<Map<number, string>> = [new Map(), new Map(), new Map(), new Map()];
    for (const [id, ls] of byCustomer) {
      const last = latestLoan(ls).loan_date;
      const birthday = ls[0].birthday;
      const anniversary = `${Number(last.slice(0, 4)) + 1}${birthday.slice(4)}`;
      rounds[0].set(id, last); // same day as the last loan: that day's loans must not count
      rounds[1].set(id, iso(ms(last) + DAY));
      // the birthday's next anniversary (29 Feb -> an invalid date in a non-leap year: use 1 Mar)
      rounds[2].set(
        id,
        Number.isNaN(Date.parse(`${anniversary}T00:00:00Z`)) || iso(ms(anniversary)) !== anniversary
          ? `${anniversary.slice(0, 4)}-03-01`
          : anniversary,
      );
      rounds[3].set(id, iso(ms(last) + Math.floor(rnd() * 3000) * DAY));
    }
    let compared = 0;
    let nextLoanId = 10_000_000;
    for (const round of rounds) {
      const hypothetical = new Map<number, { id: number; asOf: string }>();
      const extra: Loan[] = [];
      for (const [id, asOf] of round) {
        const latest = latestLoan(byCustomer.get(id) ?? []);
        const loanId = nextLoanId++;
        hypothetical.set(loanId, { id, asOf });
        // a new loan of the same customer: the attributes of the customer's latest loan
        extra.push({ ...latest, loan_id: loanId, loan_date: asOf, status: 0, loan_amount: 123.456 });
      }
      await loadRawValid(db, [...loans, ...extra], dir, `round-${compared}`);
      const reader = await db.connection.runAndReadAll(
        `SELECT loan_id, ${FEATURE_NAMES.join(', ')} FROM (${loadFeatureSql().features}) WHERE loan_id >= 10000000`,
      );
      const offline = reader.getRowObjectsJS();
      expect(offline).toHaveLength(hypothetical.size);
      for (const row of offline) {
        const h = hypothetical.get(Number(row.loan_id));
        if (!h) throw new Error(`unexpected loan ${String(row.loan_id)}`);
        const stored = await store.get(String(h.id));
        if (!stored) throw new Error(`customer ${h.id} missing from the online store`);
        const expected: Record<string, unknown> = {};
        for (const f of FEATURE_NAMES) expected[f] = row[f];
        const online = onlineFeatureVector(stored, h.asOf);
        // one assertion per loan, with the context a failure needs
        expect({ id: h.id, asOf: h.asOf, features: online }).toEqual({
          id: h.id,
          asOf: h.asOf,
          features: expected,
        });
        compared++;
      }
    }
    expect(compared).toBe(4 * byCustomer.size);
  });
});
