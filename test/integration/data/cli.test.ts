import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = resolve('bin/credit-risk.mjs');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cr-data-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: dir,
    env: { ...process.env, CREDIT_RISK_HOME: join(dir, 'home') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('credit-risk data', () => {
  it('generate --json reports what it wrote, and validate finds exactly the dirty rows it announced', () => {
    const out = join(dir, 'loans.csv');
    const gen = cli(
      'data',
      'generate',
      '--rows',
      '3000',
      '--seed',
      '4',
      '--dirty-rate',
      '0.03',
      '--out',
      out,
      '--json',
    );
    expect(gen.code).toBe(0);
    const g = JSON.parse(gen.stdout);
    expect(g).toMatchObject({ rows: 3000, dirtyRows: 90, out });
    expect(g.customers).toBeGreaterThan(50);
    expect(typeof g.seconds).toBe('number');

    const val = cli(
      'data',
      'validate',
      '--input',
      out,
      '--out',
      join(dir, 'checks'),
      '--as-of',
      '2022-06-01',
      '--json',
    );
    expect(val.code).toBe(0);
    const v = JSON.parse(val.stdout);
    expect(v).toMatchObject({
      rowsIn: 3000,
      rowsValid: 2910,
      rowsQuarantined: 90,
      byReason: g.expectedQuarantineByReason,
    });
    const quarantine = readFileSync(join(dir, 'checks', 'quarantine.csv'), 'utf8');
    expect(quarantine.startsWith('line,reason,raw\n')).toBe(true);
  });

  it('validate prints a readable summary without --json', () => {
    const out = join(dir, 'clean.csv');
    expect(cli('data', 'generate', '--rows', '200', '--out', out).code).toBe(0);
    const val = cli('data', 'validate', '--input', out, '--out', join(dir, 'clean-checks'));
    expect(val.code).toBe(0);
    expect(val.stdout).toContain('200 rows in = 200 valid + 0 quarantined');
  });

  it.each([
    ['a missing file', null, 'FILE_NOT_FOUND'],
    ['an empty file', '', 'EMPTY_FILE'],
    ['a header without the required columns', 'loan_id,id,amount\n1,2,3\n', 'MISSING_COLUMNS'],
  ])('validate exits 2 on %s, with the error code and nothing written', (_name, content, code) => {
    const input = join(dir, `bad-${code}.csv`);
    if (content !== null) writeFileSync(input, content);
    const outDir = join(dir, `out-${code}`);
    const r = cli('data', 'validate', '--input', input, '--out', outDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error [${code}]`);
    expect(existsSync(outDir)).toBe(false);
  });

  it('generate exits 2 on a bad option value', () => {
    const r = cli('data', 'generate', '--rows', '10', '--out', join(dir, 'x.csv'), '--dirty-rate', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BAD_DIRTY_RATE');
    expect(existsSync(join(dir, 'x.csv'))).toBe(false);
  });

  it('--help teaches with examples', () => {
    const r = cli('data', 'generate', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('--dirty-rate');
    const v = cli('data', 'validate', '--help');
    expect(v.stdout).toContain('duplicate_loan_id');
  });
});
