import type { CustomerFeatureRow } from './online.ts';

/**
 * The one SQL text of the online store (PostgreSQL dialect), run by Aurora PostgreSQL through the
 * RDS Data API and by PGlite locally. Parameters are written `:name`, the Data API's style;
 * `positional()` rewrites them to `$1..$n` for PGlite.
 *
 * Tables:
 * - customer_features: one row per customer, the snapshot it came from in every row.
 * - customer_features_staging: a snapshot being loaded; swapped in by renaming (one transaction),
 *   so a reader sees the previous snapshot or the new one, never a mix, and the swap costs the
 *   same for 36k or 460k customers.
 * - feature_snapshots: every snapshot ever loaded, exactly one of them `is_current`.
 */

/** Table columns in order: name, PostgreSQL type, the CustomerFeatureRow field, its Data API kind. */
export const CUSTOMER_FEATURE_COLUMNS = [
  { name: 'id', type: 'text NOT NULL', field: 'id', kind: 'string' },
  { name: 'snapshot_id', type: 'text NOT NULL', field: 'snapshotId', kind: 'string' },
  { name: 'nb_loans', type: 'integer NOT NULL', field: 'nbLoans', kind: 'long' },
  { name: 'sum_loan_amount', type: 'double precision NOT NULL', field: 'sumLoanAmount', kind: 'double' },
  { name: 'last_loan_date', type: 'date NOT NULL', field: 'lastLoanDate', kind: 'date' },
  {
    name: 'nb_loans_before_last_date',
    type: 'integer NOT NULL',
    field: 'nbLoansBeforeLastDate',
    kind: 'long',
  },
  {
    name: 'sum_loan_amount_before_last_date',
    type: 'double precision NOT NULL',
    field: 'sumLoanAmountBeforeLastDate',
    kind: 'double',
  },
  { name: 'previous_loan_date', type: 'date', field: 'previousLoanDate', kind: 'date' },
  { name: 'birthday', type: 'date', field: 'birthday', kind: 'date' },
  { name: 'job_start_date', type: 'date', field: 'jobStartDate', kind: 'date' },
  { name: 'flag_own_car', type: 'smallint', field: 'flagOwnCar', kind: 'long' },
  { name: 'amt_income_total', type: 'double precision', field: 'amtIncomeTotal', kind: 'double' },
] as const satisfies ReadonlyArray<{
  name: string;
  type: string;
  field: keyof CustomerFeatureRow;
  kind: 'string' | 'long' | 'double' | 'date';
}>;

export type ColumnKind = (typeof CUSTOMER_FEATURE_COLUMNS)[number]['kind'];

const columnList = CUSTOMER_FEATURE_COLUMNS.map((c) => c.name).join(', ');
const columnDefs = CUSTOMER_FEATURE_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ');
// Dates leave as text YYYY-MM-DD whatever the session's DateStyle, identically in both engines.
const selectList = CUSTOMER_FEATURE_COLUMNS.map((c) =>
  c.kind === 'date' ? `to_char(${c.name}, 'YYYY-MM-DD') AS ${c.name}` : c.name,
).join(', ');

export const LIVE_TABLE = 'customer_features';
export const STAGING_TABLE = 'customer_features_staging';

/** Idempotent schema creation (FeatureStore.init). */
export const CREATE_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${LIVE_TABLE} (${columnDefs}, CONSTRAINT ${LIVE_TABLE}_pkey PRIMARY KEY (id))`,
  'CREATE TABLE IF NOT EXISTS feature_snapshots (snapshot_id text PRIMARY KEY, row_count integer NOT NULL, ' +
    'loaded_at timestamptz NOT NULL, is_current boolean NOT NULL DEFAULT false)',
  'CREATE UNIQUE INDEX IF NOT EXISTS feature_snapshots_one_current ON feature_snapshots (is_current) WHERE is_current',
];

/**
 * Start a load: an empty staging table without its primary key (a bulk load into a heap and one
 * index build afterwards is faster than maintaining the index row by row).
 */
export const PREPARE_STAGING: readonly string[] = [
  `DROP TABLE IF EXISTS ${STAGING_TABLE}`,
  `CREATE TABLE ${STAGING_TABLE} (${columnDefs})`,
];

/** One row into staging, named parameters (Data API BatchExecuteStatement: one parameter set per row). */
export const INSERT_STAGING_ROW = `INSERT INTO ${STAGING_TABLE} (${columnList}) VALUES (${CUSTOMER_FEATURE_COLUMNS.map(
  (c) => `:${c.name}`,
).join(', ')})`;

/** Bulk load into staging from CSV (PGlite: COPY ... FROM '/dev/blob'). Empty unquoted cell = NULL. */
export const COPY_STAGING_CSV = `COPY ${STAGING_TABLE} (${columnList}) FROM '/dev/blob' WITH (FORMAT csv)`;

/** Fails on a duplicate customer id: a snapshot with two rows for one customer is a bug upstream. */
export const FINISH_STAGING = `ALTER TABLE ${STAGING_TABLE} ADD CONSTRAINT ${STAGING_TABLE}_pkey PRIMARY KEY (id)`;

export const COUNT_STAGING = `SELECT count(*)::integer AS n FROM ${STAGING_TABLE}`;

/**
 * The swap, in ONE transaction: staging becomes live, the old live table goes, the primary key
 * keeps its usual name, and feature_snapshots moves its `is_current` mark. Parameters :snapshot_id, :row_count.
 */
export const SWAP_IN_STAGING: readonly string[] = [
  `DROP TABLE IF EXISTS ${LIVE_TABLE}_old`,
  `ALTER TABLE ${LIVE_TABLE} RENAME TO ${LIVE_TABLE}_old`,
  `ALTER TABLE ${STAGING_TABLE} RENAME TO ${LIVE_TABLE}`,
  `DROP TABLE ${LIVE_TABLE}_old`,
  `ALTER INDEX ${STAGING_TABLE}_pkey RENAME TO ${LIVE_TABLE}_pkey`,
  'UPDATE feature_snapshots SET is_current = false WHERE is_current',
  'INSERT INTO feature_snapshots (snapshot_id, row_count, loaded_at, is_current) VALUES (:snapshot_id, :row_count, now(), true) ' +
    'ON CONFLICT (snapshot_id) DO UPDATE SET row_count = EXCLUDED.row_count, loaded_at = EXCLUDED.loaded_at, is_current = true',
];

export const DROP_STAGING = `DROP TABLE IF EXISTS ${STAGING_TABLE}`;

/** One customer by primary key. Parameter :id. */
export const SELECT_CUSTOMER = `SELECT ${selectList} FROM ${LIVE_TABLE} WHERE id = :id`;

export const SELECT_CURRENT_SNAPSHOT = 'SELECT snapshot_id FROM feature_snapshots WHERE is_current';

export const PING = 'SELECT 1';

/**
 * Rewrites `:name` parameters to `$1..$n` (PostgreSQL wire protocol, PGlite) and returns the
 * order of the names; `::type` casts are left alone.
 */
export function positional(sql: string): { text: string; names: string[] } {
  const names: string[] = [];
  const text = sql.replace(/(?<![:\w]):([a-z_][a-z0-9_]*)/g, (_m, name: string) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `$${i + 1}`;
  });
  return { text, names };
}

/** A database row (snake_case columns, dates as text) back to the domain row. */
export function rowFromColumns(get: (column: string) => unknown): CustomerFeatureRow {
  const out: Record<string, unknown> = {};
  for (const c of CUSTOMER_FEATURE_COLUMNS) {
    const v = get(c.name);
    out[c.field] =
      v === undefined ? null : c.kind === 'long' || c.kind === 'double' ? (v === null ? null : Number(v)) : v;
  }
  return out as unknown as CustomerFeatureRow;
}
