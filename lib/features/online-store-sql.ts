/**
 * The online store's row for one customer: what /predict needs to compute the features of a
 * hypothetical new loan of that customer on any request date (docs/DATA.md, "Online features").
 * Date-dependent features (age, years on the job) are computed at request time from the dates
 * stored here, so a row stays correct every day until the next snapshot.
 *
 * The aggregates come twice: over all loans (a new loan after the last loan date sees them all)
 * and over the loans strictly before the last loan date (a new loan ON the last loan date must
 * not see that day's loans: same-day loans do not count as previous). Storing both, rather than
 * subtracting the last day, keeps the average bit-identical to the SQL's.
 *
 * OWNED BY the features work (issue 3): fields may be added; keep them documented, and add the
 * matching column to ONLINE_ROW_COLUMNS (the online.parquet contract) and online-store-sql.ts.
 */
export interface CustomerFeatureRow {
  id: string;
  snapshotId: string;
  /** Number of the customer's loans in the snapshot. */
  nbLoans: number;
  /** Sum of loan_amount over those loans. */
  sumLoanAmount: number;
  /** Most recent loan_date (YYYY-MM-DD). */
  lastLoanDate: string;
  /** Number of the customer's loans with loan_date strictly before lastLoanDate. */
  nbLoansBeforeLastDate: number;
  /** Sum of loan_amount over those loans (0 when there are none). */
  sumLoanAmountBeforeLastDate: number;
  /** The most recent loan_date strictly before lastLoanDate; null when every loan is on lastLoanDate. */
  previousLoanDate: string | null;
  /** From the customer's most recent loan row. */
  birthday: string | null;
  /** null when unknown; the 365243 sentinel is stored as given (a date far in the future). */
  jobStartDate: string | null;
  flagOwnCar: 0 | 1 | null;
  /** Declared income on the customer's most recent loan. */
  amtIncomeTotal: number | null;
}

/**
 * DIR/online.parquet, written by `features build` (one row per customer, from the same valid
 * rows as features.parquet): these columns, snake_case, with these types. The snapshot id is
 * not a column: it comes from the manifest when the file is published.
 */
export const ONLINE_ROW_COLUMNS = [
  { column: 'id', field: 'id', type: 'VARCHAR' },
  { column: 'nb_loans', field: 'nbLoans', type: 'INTEGER' },
  { column: 'sum_loan_amount', field: 'sumLoanAmount', type: 'DOUBLE' },
  { column: 'last_loan_date', field: 'lastLoanDate', type: 'DATE' },
  { column: 'nb_loans_before_last_date', field: 'nbLoansBeforeLastDate', type: 'INTEGER' },
  { column: 'sum_loan_amount_before_last_date', field: 'sumLoanAmountBeforeLastDate', type: 'DOUBLE' },
  { column: 'previous_loan_date', field: 'previousLoanDate', type: 'DATE' },
  { column: 'birthday', field: 'birthday', type: 'DATE' },
  { column: 'job_start_date', field: 'jobStartDate', type: 'DATE' },
  { column: 'flag_own_car', field: 'flagOwnCar', type: 'INTEGER' },
  { column: 'amt_income_total', field: 'amtIncomeTotal', type: 'DOUBLE' },
] as const satisfies ReadonlyArray<{ column: string; field: keyof CustomerFeatureRow; type: string }>;

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

/**
 * Erasure of one customer from the live table (FeatureStore.deleteCustomer). Parameter :id. The
 * staging table is not touched: a load is never in flight during a delete (PGlite serialises them;
 * on Aurora a load is one transaction, and the erase publishes a snapshot without the customer
 * right after, which replaces whatever a concurrent load brought).
 */
// RETURNING: the rows deleted are counted from the answer, the same way on PGlite and the Data API
// (whose numberOfRecordsUpdated the data-api-local emulator fills only for UPDATE).
export const DELETE_CUSTOMER = `DELETE FROM ${LIVE_TABLE} WHERE id = :id RETURNING id`;

/**
 * PGlite only: after a DELETE the row's bytes are still in the table's pages (a dead tuple), in
 * its primary-key index and in the write-ahead log, all files under the local home. VACUUM FULL
 * rewrites the table and its index into new files (the old ones are unlinked); with wal_recycle
 * off, a WAL switch and a checkpoint (twice: the redo point must move past the segment that held
 * the inserts) remove the old segments instead of renaming them for reuse with their bytes.
 * An ANALYZE (the store runs none, a person may) keeps sample values of the id column in
 * pg_statistic (histogram bounds): the table's statistics are dropped and pg_statistic rewritten.
 * Tested (test/integration/adapters/local/pglite-erase-purge.test.ts): before, the id was in the
 * WAL, the table, its index and pg_statistic; after, in no file of the data directory.
 */
export const PURGE_DELETED_ROWS: readonly string[] = [
  `VACUUM FULL ${LIVE_TABLE}`,
  // The store never runs ANALYZE; statistics someone computed are dropped, not recomputed.
  `DELETE FROM pg_statistic WHERE starelid = '${LIVE_TABLE}'::regclass`,
  'VACUUM FULL pg_statistic',
  'SET wal_recycle = off',
  'SELECT pg_switch_wal()',
  'CHECKPOINT',
  'SELECT pg_switch_wal()',
  'CHECKPOINT',
  'RESET wal_recycle',
];

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
