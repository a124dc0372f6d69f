import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { InputError } from '#lib/errors.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { FEATURE_NAMES, FEATURE_TABLE_COLUMN_NAMES } from '#lib/features/catalog.ts';
import type { FeatureManifest } from '#lib/features/manifest.ts';
import { ONLINE_ROW_COLUMNS } from '#lib/features/online.ts';
import { referenceFeatures } from '#lib/features/reference.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { asFeatureRows, byLoanId, edgeCaseHistory, writeRawCsv } from './support/raw-loans.ts';

const dir = mkdtempSync(join(tmpdir(), 'cr-features-build-'));
const cleanCsv = join(dir, 'clean.csv');
const dirtyCsv = join(dir, 'dirty.csv');
let conn: DuckDBConnection;
let instance: DuckDBInstance;

beforeAll(async () => {
  writeRawCsv(cleanCsv, edgeCaseHistory());
  // Two dirty rows after the clean ones: a non-numeric id and a duplicate loan_id.
  const clean = readFileSync(cleanCsv, 'utf8').trimEnd().split('\n');
  writeFileSync(dirtyCsv, [...clean, clean[1].replace(/^1,5008804,/, '99,abc,'), clean[3]].join('\n') + '\n');
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
});
afterAll(() => {
  conn.closeSync();
  instance.closeSync();
});

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const readManifest = (out: string) =>
  JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as FeatureManifest;
async function rows(sql: string) {
  return (await conn.runAndReadAll(sql)).getRowObjectsJson();
}

describe('buildFeatures', () => {
  it('writes features, quarantine, online rows and a manifest that describes them', async () => {
    const out = join(dir, 'snap');
    const result = await buildFeatures({ input: cleanCsv, outDir: out, asOf: '2024-12-31' });
    expect(readdirSync(out).sort()).toEqual([
      'features.parquet',
      'manifest.json',
      'online.parquet',
      'quarantine.csv',
    ]);

    const features = await rows(`SELECT * FROM read_parquet('${out}/features.parquet')`);
    expect(Object.keys(features[0])).toEqual(FEATURE_TABLE_COLUMN_NAMES);
    expect(byLoanId(asFeatureRows(features))).toEqual(byLoanId(referenceFeatures(edgeCaseHistory())));
    const online = await rows(`SELECT * FROM read_parquet('${out}/online.parquet')`);
    expect(Object.keys(online[0])).toEqual(ONLINE_ROW_COLUMNS.map((c) => c.column));
    expect(online.map((r) => r.id)).toEqual(['5008804', '5008805', '5008806', '5008807']);

    const m = readManifest(out);
    expect(m.snapshotId).toBe(result.snapshotId);
    expect(m.snapshotId).toMatch(/^[0-9a-f]{16}$/);
    expect(m.validation).toEqual({
      rowsIn: 10,
      rowsValid: 10,
      rowsQuarantined: 0,
      byReason: {},
      inputSha256: sha256(cleanCsv),
      lines: { total: 11, header: 1, blank: 0, valid: 10, quarantined: 0 },
    });
    expect(m.input.sha256).toBe(sha256(cleanCsv));
    expect(m.asOf).toBe('2024-12-31');
    expect(m.columns.map((c) => c.name)).toEqual(FEATURE_TABLE_COLUMN_NAMES);
    expect(m.columns.filter((c) => c.role !== 'feature').map((c) => [c.name, c.role])).toEqual([
      ['loan_id', 'id'],
      ['id', 'id'],
      ['loan_date', 'time'],
      ['status', 'label'],
      ['code_gender', 'protected'],
      ['age_band', 'protected'],
    ]);
    expect([m.idColumns, m.timeColumn, m.labelColumn, m.features]).toEqual([
      ['loan_id', 'id'],
      'loan_date',
      'status',
      FEATURE_NAMES,
    ]);
    expect(m.code.sqlSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.files.features).toEqual({
      name: 'features.parquet',
      rows: 10,
      bytes: expect.any(Number),
      sha256: sha256(join(out, 'features.parquet')),
    });
    expect(m.files.online.rows).toBe(4);
    expect(m.files.online.sha256).toBe(sha256(join(out, 'online.parquet')));
  });

  it('quarantines bad rows with a reason, and the counts add up', async () => {
    const out = join(dir, 'dirty-snap');
    const result = await buildFeatures({ input: dirtyCsv, outDir: out, asOf: '2024-12-31' });
    expect(result.summary).toMatchObject({ rowsIn: 12, rowsValid: 10, rowsQuarantined: 2 });
    expect(result.summary.byReason).toEqual({ non_numeric_id: 1, duplicate_loan_id: 1 });
    const quarantine = readFileSync(join(out, 'quarantine.csv'), 'utf8').trimEnd().split('\n');
    expect(quarantine[0]).toBe('line,reason,raw');
    expect(quarantine).toHaveLength(3);
    expect(readManifest(out).files.features.rows).toBe(10);
  });

  it('derives the snapshot id from the content: same input and as-of, same id; another as-of, another id', async () => {
    const a = await buildFeatures({ input: cleanCsv, outDir: join(dir, 'id-a'), asOf: '2024-12-31' });
    const b = await buildFeatures({ input: cleanCsv, outDir: join(dir, 'id-b'), asOf: '2024-12-31' });
    const c = await buildFeatures({ input: cleanCsv, outDir: join(dir, 'id-c'), asOf: '2025-01-01' });
    expect(b.snapshotId).toBe(a.snapshotId);
    expect(c.snapshotId).not.toBe(a.snapshotId);
    // Same input, same bytes: the files are ordered, so a rebuild is byte-identical.
    expect(sha256(join(dir, 'id-b', 'features.parquet'))).toBe(sha256(join(dir, 'id-a', 'features.parquet')));
  });

  it("defaults the as-of date to the clock's today", async () => {
    const r = await buildFeatures({
      input: cleanCsv,
      outDir: join(dir, 'today'),
      clock: fixedClock('2025-03-04'),
    });
    expect(r.manifest.asOf).toBe('2025-03-04');
  });

  it('writes csv with missing values as empty cells', async () => {
    const out = join(dir, 'csv');
    await buildFeatures({ input: cleanCsv, outDir: out, format: 'csv', asOf: '2024-12-31' });
    const [header, firstLoan] = readFileSync(join(out, 'features.csv'), 'utf8').split('\n');
    expect(header).toBe(FEATURE_TABLE_COLUMN_NAMES.join(','));
    // loan 6 (2020-02-28) is the earliest: first loan of customer 5008805, no average, no recency
    // born 1980-02-29: on 2020-02-28 (the day before the 40th birthday, a leap year) still 39
    expect(firstLoan).toBe('6,5008805,2020-02-28,0,0,,39,3,0,,135000.0,M,35-44');
    expect(existsSync(join(out, 'online.parquet'))).toBe(true);
  });

  it('replacing a snapshot directory in another format removes the stale table', async () => {
    const out = join(dir, 'swap');
    await buildFeatures({ input: cleanCsv, outDir: out, asOf: '2024-12-31' });
    await buildFeatures({ input: cleanCsv, outDir: out, format: 'csv', asOf: '2024-12-31' });
    expect(readdirSync(out).sort()).toEqual([
      'features.csv',
      'manifest.json',
      'online.parquet',
      'quarantine.csv',
    ]);
  });

  it('on a bad input leaves the directory as it was, with no temp files', async () => {
    const out = join(dir, 'keep');
    const first = await buildFeatures({ input: cleanCsv, outDir: out, asOf: '2024-12-31' });
    const before = readFileSync(join(out, 'manifest.json'), 'utf8');
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    await expect(buildFeatures({ input: empty, outDir: out, asOf: '2024-12-31' })).rejects.toThrow(
      InputError,
    );
    await expect(buildFeatures({ input: join(dir, 'missing.csv'), outDir: out })).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
    });
    await expect(buildFeatures({ input: cleanCsv, outDir: out, asOf: '2024-02-30' })).rejects.toMatchObject({
      code: 'BAD_DATE',
    });
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(before);
    expect(readManifest(out).snapshotId).toBe(first.snapshotId);
    expect(readdirSync(out).filter((f) => f.startsWith('.tmp'))).toEqual([]);
  });
});

describe('credit-risk features build (CLI)', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [resolve('bin/credit-risk.mjs'), 'features', 'build', ...args], {
      encoding: 'utf8',
      env: { ...process.env, CREDIT_RISK_HOME: mkdtempSync(join(tmpdir(), 'cr-home-')) },
    });

  it('--json prints exactly the summary on stdout, and progress with timings on stderr', () => {
    const out = join(dir, 'cli');
    const r = cli(['--input', dirtyCsv, '--out', out, '--as-of', '2024-12-31', '--json']);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(summary)).toEqual([
      'rowsIn',
      'rowsValid',
      'rowsQuarantined',
      'byReason',
      'lines',
      'snapshotId',
    ]);
    expect(summary).toMatchObject({
      rowsIn: 12,
      rowsValid: 10,
      rowsQuarantined: 2,
      snapshotId: readManifest(out).snapshotId,
    });
    expect(r.stderr).toMatch(/validate: \d+\.\d\d s/);
    expect(r.stderr).toMatch(/features: \d+\.\d\d s \(10 rows\)/);
  });

  it('a missing input is exit code 2 with the error code, and nothing is written', () => {
    const out = join(dir, 'cli-missing');
    mkdirSync(out);
    const r = cli(['--input', join(dir, 'nope.csv'), '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error \[FILE_NOT_FOUND\]: .*nope\.csv/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('an unknown --format is a usage error (exit 2)', () => {
    const r = cli(['--input', cleanCsv, '--out', join(dir, 'x'), '--format', 'xlsx']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/xlsx/);
  });
});
