import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { FEATURE_TABLE_COLUMN_NAMES } from '#lib/features/catalog.ts';
import { ONLINE_ROW_COLUMNS } from '#lib/features/online.ts';
import { FEATURE_SQL_PATH, loadFeatureSql, parseFeatureSql } from '#lib/features/feature-sql.ts';

/** The `AS name` aliases of a SELECT list, in order (the top-level SELECT of a statement). */
function outputAliases(select: string): string[] {
  const list = select.slice(select.indexOf('SELECT'), select.search(/\nFROM /) + 1);
  return [...list.matchAll(/ AS ([a-z_]+),?\n/g)].map((m) => m[1]);
}

describe('the feature SQL file', () => {
  it('is one file holding the views, the per-loan query and the per-customer query', () => {
    const sql = loadFeatureSql();
    expect(sql.text).toBe(readFileSync(FEATURE_SQL_PATH, 'utf8'));
    expect(sql.views.map((v) => v.name)).toEqual(['feature_loans', 'feature_loan_days', 'feature_history']);
    expect(sql.features).toMatch(/^-- One row per loan/);
    expect(sql.sqlSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('selects the catalog columns in catalog order', () => {
    expect(outputAliases(loadFeatureSql().features)).toEqual(FEATURE_TABLE_COLUMN_NAMES);
  });

  it('selects the online.parquet columns of the online row contract, in order', () => {
    expect(outputAliases(loadFeatureSql().online)).toEqual(ONLINE_ROW_COLUMNS.map((c) => c.column));
  });

  it('uses no engine-specific date function (datediff, date_diff, date_sub, interval arithmetic)', () => {
    expect(loadFeatureSql().text).not.toMatch(
      /\b(datediff|date_diff|date_sub|date_add|months_between|age|interval)\s*\(/i,
    );
  });

  it('rejects a file without the two queries, a duplicated name, or a statement that is not a view', () => {
    expect(() => parseFeatureSql('-- name: features\nSELECT 1')).toThrow(/"online"/);
    expect(() =>
      parseFeatureSql('-- name: features\nSELECT 1\n-- name: features\nSELECT 2\n-- name: online\nSELECT 3'),
    ).toThrow(/twice/);
    expect(() =>
      parseFeatureSql(
        '-- name: x\nDROP TABLE raw_valid\n-- name: features\nSELECT 1\n-- name: online\nSELECT 2',
      ),
    ).toThrow(/TEMPORARY VIEW/);
  });

  it('hashes the exact text: one changed byte, another hash', () => {
    const a = parseFeatureSql('-- name: features\nSELECT 1\n-- name: online\nSELECT 2\n');
    const b = parseFeatureSql('-- name: features\nSELECT 1\n-- name: online\nSELECT 3\n');
    expect(a.sqlSha256).not.toBe(b.sqlSha256);
    expect(a.features).toBe('SELECT 1');
  });
});
