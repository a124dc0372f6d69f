import { describe, expect, it } from '@jest/globals';
import {
  CUSTOMER_FEATURE_COLUMNS,
  INSERT_STAGING_ROW,
  SELECT_CUSTOMER,
  SWAP_IN_STAGING,
  positional,
} from '#lib/features/online-store-sql.ts';
import { ONLINE_ROW_COLUMNS } from '#lib/features/online.ts';

describe('online store SQL (one text for Aurora and PGlite)', () => {
  it('rewrites :name parameters to $n for PGlite, reusing a repeated name and leaving ::casts alone', () => {
    expect(positional('SELECT :a::text, :b, :a, x::date FROM t')).toEqual({
      text: 'SELECT $1::text, $2, $1, x::date FROM t',
      names: ['a', 'b'],
    });
    expect(positional(SELECT_CUSTOMER).names).toEqual(['id']);
    expect(positional(SWAP_IN_STAGING[SWAP_IN_STAGING.length - 1]).names).toEqual([
      'snapshot_id',
      'row_count',
    ]);
  });

  it('has no colon inside a string literal (positional() does not parse literals)', async () => {
    const sql = await import('#lib/features/online-store-sql.ts');
    const texts = Object.values(sql).flatMap((v) =>
      typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [],
    );
    expect(texts.length).toBeGreaterThan(8);
    for (const t of texts) expect(t).not.toMatch(/'[^']*:[^']*'/);
  });

  it('has one table column per online.parquet column plus the snapshot id, same names', () => {
    const table = CUSTOMER_FEATURE_COLUMNS.map((c) => c.name).filter((n) => n !== 'snapshot_id');
    expect(table).toEqual(ONLINE_ROW_COLUMNS.map((c) => c.column));
    expect(positional(INSERT_STAGING_ROW).names).toEqual(CUSTOMER_FEATURE_COLUMNS.map((c) => c.name));
  });
});
