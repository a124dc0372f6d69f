/**
 * The catalog of the offline feature table (DIR/features.parquet, one row per loan): every column
 * in order, its type and what it means. lib/features/sql/features.sql computes exactly these
 * columns in this order (a test checks it), the manifest copies this list, and the trainer reads
 * which columns are ids, time, label, features and protected attributes from the manifest.
 * Protected columns travel with every row so fairness is measured on every model, and are never
 * model inputs (docs/adr/0140-protected-attributes-travel-never-feed.md).
 */

/** Bump when the meaning of a feature changes without the SQL text changing (it is in the snapshot id). */
export const FEATURE_CODE_VERSION = '1';

export type ColumnRole = 'id' | 'time' | 'label' | 'feature' | 'protected';

/** Output column types, as DuckDB names them (Spark's INT/BIGINT/DOUBLE/DATE are the same types). */
export type FeatureColumnType = 'BIGINT' | 'INTEGER' | 'DOUBLE' | 'DATE' | 'VARCHAR';

export interface FeatureColumn {
  name: string;
  type: FeatureColumnType;
  role: ColumnRole;
  nullable: boolean;
  description: string;
  /** Why the column is a feature, for extras beyond docs/DATA.md's five. */
  justification?: string;
  /** Features: how a reason code reads (lib/serving/reasons.ts), see ReasonText. */
  reasonText?: ReasonText;
}

/**
 * The short phrases a reason code shows for a feature that pushed a score toward default
 * (POST /predict `reasons[].text`, lib/serving/reasons.ts). TreeSHAP says how much the feature
 * pushed, not which way the value sits, so the phrase is picked by the value: `missing` when it
 * is null, `low` when it is below the feature's typical value (the training mean of the model's
 * card, card.json reference[].mean), `high` otherwise, and `neutral` when the card gives no mean.
 * Each phrase names the applicant's situation, never the model ("few previous loans", not
 * "nb_previous_loans pushed the score up"), as an adverse-action notice states a reason.
 */
export interface ReasonText {
  low: string;
  high: string;
  missing: string;
  neutral: string;
}

export const FEATURE_TABLE_COLUMNS = [
  {
    name: 'loan_id',
    type: 'BIGINT',
    role: 'id',
    nullable: false,
    description: 'The loan (unique per row of the raw file).',
  },
  {
    name: 'id',
    type: 'BIGINT',
    role: 'id',
    nullable: false,
    description: 'The customer; the key /predict is called with.',
  },
  {
    name: 'loan_date',
    type: 'DATE',
    role: 'time',
    nullable: false,
    description: 'The date D the loan was granted; every feature uses only what was known before D.',
  },
  {
    name: 'status',
    type: 'INTEGER',
    role: 'label',
    nullable: false,
    description: 'The label: 1 = the loan went bad.',
  },
  {
    name: 'nb_previous_loans',
    type: 'INTEGER',
    role: 'feature',
    nullable: false,
    description:
      "Number of the customer's loans with loan_date strictly before D. Same-day loans do not see each other; a first loan has 0.",
    reasonText: {
      low: 'few previous loans',
      high: 'many previous loans',
      missing: 'no loan history',
      neutral: 'number of previous loans',
    },
  },
  {
    name: 'avg_amount_loans_previous',
    type: 'DOUBLE',
    role: 'feature',
    nullable: true,
    description:
      'Mean loan_amount of those previous loans (amounts rounded half up to 6 decimals and summed exactly); null when there are none.',
    reasonText: {
      low: 'small previous loans',
      high: 'large previous loans',
      missing: 'no previous loans to average',
      neutral: 'size of previous loans',
    },
  },
  {
    name: 'age',
    type: 'INTEGER',
    role: 'feature',
    nullable: false,
    description:
      'Whole years from birthday to D, anniversary semantics: the birthday itself counts; a 29 February birthday has its anniversary on 1 March in non-leap years.',
    reasonText: {
      low: 'young applicant',
      high: 'older applicant',
      missing: 'age unknown',
      neutral: 'age of the applicant',
    },
  },
  {
    name: 'years_on_the_job',
    type: 'INTEGER',
    role: 'feature',
    nullable: true,
    description:
      'Whole years from job_start_date to D (same anniversary rule); null when job_start_date is after D (the days_employed=365243 "not employed" sentinel, or a future start), never negative.',
    reasonText: {
      low: 'short time in current job',
      high: 'long time in current job',
      missing: 'not employed or job start unknown',
      neutral: 'time in current job',
    },
  },
  {
    name: 'flag_own_car',
    type: 'INTEGER',
    role: 'feature',
    nullable: false,
    description: 'Y -> 1, N -> 0.',
    reasonText: {
      low: 'does not own a car',
      high: 'owns a car',
      missing: 'car ownership unknown',
      neutral: 'car ownership',
    },
  },
  {
    name: 'days_since_previous_loan',
    type: 'INTEGER',
    role: 'feature',
    nullable: true,
    description:
      "Days from the customer's most recent loan date strictly before D to D; null for a first loan (and for every loan of the first loan day).",
    justification:
      'Recency of borrowing (docs/DATA.md asks for "recency ... of previous loans"): a customer coming back days after the last loan is a different risk from one coming back after years. Known at application time, computed online from the last loan dates.',
    reasonText: {
      low: 'recent previous loan',
      high: 'long time since previous loan',
      missing: 'no previous loan',
      neutral: 'time since previous loan',
    },
  },
  {
    name: 'amt_income_total',
    type: 'DOUBLE',
    role: 'feature',
    nullable: false,
    description:
      "The applicant's declared income on the loan row (online: from the customer's most recent loan).",
    justification:
      'Income is the applicant attribute most directly tied to repayment capacity and is known at application time; passing it through costs nothing and lets the model use it if an ablation shows it helps.',
    reasonText: {
      low: 'low income',
      high: 'high income',
      missing: 'income unknown',
      neutral: 'declared income',
    },
  },
  {
    name: 'code_gender',
    type: 'VARCHAR',
    role: 'protected',
    nullable: false,
    description:
      "The applicant's recorded gender (F/M), copied from the loan row for fairness measurement only; never a model input.",
  },
  {
    name: 'age_band',
    type: 'VARCHAR',
    role: 'protected',
    nullable: false,
    description:
      "The applicant's age at D (the age feature's anniversary rule) in bands <25, 25-34, 35-44, 45-54, 55-64, 65+, for fairness measurement only.",
  },
] as const satisfies readonly FeatureColumn[];

export type FeatureTableColumnName = (typeof FEATURE_TABLE_COLUMNS)[number]['name'];

export const FEATURE_TABLE_COLUMN_NAMES: readonly FeatureTableColumnName[] = FEATURE_TABLE_COLUMNS.map(
  (c) => c.name,
);

/**
 * The protected age band of an age in whole years: the bands of `age_band` above, as the feature
 * SQL's CASE writes them (lib/features/sql/features.sql). The TypeScript reference features and
 * the trainer (for a table with an age column but no age_band) both take it from here.
 */
export function ageBandOf(age: number): string {
  if (age < 25) return '<25';
  if (age < 35) return '25-34';
  if (age < 45) return '35-44';
  if (age < 55) return '45-54';
  if (age < 65) return '55-64';
  return '65+';
}

export const ID_COLUMNS = ['loan_id', 'id'] as const;
export const TIME_COLUMN = 'loan_date';
export const LABEL_COLUMN = 'status';

/** Attributes fairness is measured by (card.json `fairness`), in table order. */
export const PROTECTED_COLUMNS: readonly string[] = FEATURE_TABLE_COLUMNS.filter(
  (c) => c.role === 'protected',
).map((c) => c.name);

/** The model inputs, in table order. */
export const FEATURE_NAMES: readonly string[] = FEATURE_TABLE_COLUMNS.filter((c) => c.role === 'feature').map(
  (c) => c.name,
);

/** The five features docs/DATA.md defines; every other feature is an extra with a justification. */
export const CORE_FEATURE_NAMES = [
  'nb_previous_loans',
  'avg_amount_loans_previous',
  'age',
  'years_on_the_job',
  'flag_own_car',
] as const;

/** Each feature's reason phrases (lib/serving/reasons.ts), by feature name. */
export const REASON_TEXTS: ReadonlyMap<string, ReasonText> = new Map(
  FEATURE_TABLE_COLUMNS.flatMap((c) => ('reasonText' in c ? [[c.name, c.reasonText] as const] : [])),
);
