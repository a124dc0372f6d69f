/**
 * The raw loan record: the input contract of the whole system (docs/DATA.md, "Raw records").
 * The schema of the public Kueski credit-risk challenge file, one row per loan. The generator
 * (lib/data) writes it, the validator (validate.ts) checks it and produces the typed table
 * `raw_valid` that the feature SQL reads.
 */

/** DuckDB types of the canonical, validated columns (table `raw_valid`). */
export type RawColumnType = 'BIGINT' | 'INTEGER' | 'DOUBLE' | 'VARCHAR' | 'DATE';

export interface RawColumn {
  /** Lower-case name, as in the real file's header. */
  readonly name: string;
  /** Type in the validated table. */
  readonly type: RawColumnType;
}

/** The columns of a raw file, in the real file's order (the generator writes this order). */
export const RAW_COLUMNS = [
  { name: 'loan_id', type: 'BIGINT' },
  { name: 'id', type: 'BIGINT' },
  { name: 'code_gender', type: 'VARCHAR' },
  { name: 'flag_own_car', type: 'VARCHAR' },
  { name: 'flag_own_realty', type: 'VARCHAR' },
  { name: 'cnt_children', type: 'INTEGER' },
  { name: 'amt_income_total', type: 'DOUBLE' },
  { name: 'name_income_type', type: 'VARCHAR' },
  { name: 'name_education_type', type: 'VARCHAR' },
  { name: 'name_family_status', type: 'VARCHAR' },
  { name: 'name_housing_type', type: 'VARCHAR' },
  { name: 'days_birth', type: 'INTEGER' },
  { name: 'days_employed', type: 'INTEGER' },
  { name: 'flag_mobil', type: 'INTEGER' },
  { name: 'flag_work_phone', type: 'INTEGER' },
  { name: 'flag_phone', type: 'INTEGER' },
  { name: 'flag_email', type: 'INTEGER' },
  { name: 'occupation_type', type: 'VARCHAR' },
  { name: 'cnt_fam_members', type: 'DOUBLE' },
  { name: 'status', type: 'INTEGER' },
  { name: 'birthday', type: 'DATE' },
  { name: 'job_start_date', type: 'DATE' },
  { name: 'loan_date', type: 'DATE' },
  { name: 'loan_amount', type: 'DOUBLE' },
] as const satisfies readonly RawColumn[];

export type RawColumnName = (typeof RAW_COLUMNS)[number]['name'];

export const RAW_COLUMN_NAMES: readonly RawColumnName[] = RAW_COLUMNS.map((c) => c.name);

/**
 * The table the validator creates (default name `raw_valid`): the raw columns, typed, plus
 * `line`, the 1-based physical line number where the record starts in the input file (the header
 * is line 1; for Parquet input, the 1-based row number). Unique per row: a stable tie-breaker.
 */
export const RAW_VALID_COLUMNS: readonly RawColumn[] = [...RAW_COLUMNS, { name: 'line', type: 'BIGINT' }];

/** Every column is required in the header; only occupation_type may be empty in a row (NULL). */
export const OPTIONAL_VALUE_COLUMNS: readonly RawColumnName[] = ['occupation_type'];

/** `days_employed` of people without a job (pensioners): their job_start_date is ~1,000 years ahead. */
export const DAYS_EMPLOYED_NOT_EMPLOYED = 365243;

/** Allowed values of the categorical columns (exact, case-sensitive: the real file's spelling). */
export const CATEGORIES = {
  code_gender: ['F', 'M'],
  name_income_type: ['Working', 'Commercial associate', 'Pensioner', 'State servant', 'Student'],
  name_education_type: [
    'Secondary / secondary special',
    'Higher education',
    'Incomplete higher',
    'Lower secondary',
    'Academic degree',
  ],
  name_family_status: ['Married', 'Single / not married', 'Civil marriage', 'Separated', 'Widow'],
  name_housing_type: [
    'House / apartment',
    'With parents',
    'Municipal apartment',
    'Rented apartment',
    'Office apartment',
    'Co-op apartment',
  ],
  occupation_type: [
    'Laborers',
    'Core staff',
    'Sales staff',
    'Managers',
    'Drivers',
    'High skill tech staff',
    'Accountants',
    'Medicine staff',
    'Cooking staff',
    'Security staff',
    'Cleaning staff',
    'Private service staff',
    'Low-skill Laborers',
    'Waiters/barmen staff',
    'Secretaries',
    'Realty agents',
    'HR staff',
    'IT staff',
  ],
} as const satisfies Partial<Record<RawColumnName, readonly string[]>>;

/** Y/N flags. */
export const YES_NO_FLAG_COLUMNS = [
  'flag_own_car',
  'flag_own_realty',
] as const satisfies readonly RawColumnName[];
/** 0/1 flags. */
export const ZERO_ONE_FLAG_COLUMNS = [
  'flag_mobil',
  'flag_work_phone',
  'flag_phone',
  'flag_email',
] as const satisfies readonly RawColumnName[];
/** Dates, YYYY-MM-DD. */
export const DATE_COLUMNS = [
  'birthday',
  'job_start_date',
  'loan_date',
] as const satisfies readonly RawColumnName[];
/** Whole numbers (the text may be written `2` or `2.0`, as pandas exports do). */
export const INTEGER_COLUMNS = [
  'cnt_children',
  'days_birth',
  'days_employed',
] as const satisfies readonly RawColumnName[];
/** Real numbers. */
export const REAL_COLUMNS = [
  'amt_income_total',
  'cnt_fam_members',
  'loan_amount',
] as const satisfies readonly RawColumnName[];

/** Dates before this year are not real records (placeholder dates like 0001-01-01). */
export const MIN_PLAUSIBLE_YEAR = 1900;

/**
 * Why a row went to quarantine: stable snake_case codes (scripts and dashboards key on them).
 * A row gets exactly ONE reason: the first rule it fails, in this order. Structural problems
 * come first (the fields cannot be trusted), then identity, then values, then cross-field
 * rules, and duplicates last (a row is only a duplicate of a row that is otherwise valid).
 * The first three are decided by the byte scan before DuckDB reads a field (ADR 0110); in
 * quarantine.csv their reason carries a detail after the code (`too_many_fields: 10024 fields,
 * header has 24`), everywhere else (byReason, the reason column of the others) it is the bare code.
 */
export const QUARANTINE_REASONS = {
  record_spans_lines:
    'the record spans more physical lines than allowed (default 10): an unterminated quote ran on; its raw text is cut to 1 KiB',
  record_too_long: 'the record is longer than allowed (default 1 MiB); its raw text is cut to 1 KiB',
  too_many_fields:
    'the record has more than twice as many fields as the header: never read, its raw text is cut to 1 KiB',
  invalid_utf8: 'the record contains bytes that are not valid UTF-8',
  wrong_column_count:
    'the record has more or fewer fields than the header (extra empty trailing fields are ignored), or a stray quote',
  missing_loan_id: 'loan_id is empty',
  non_numeric_loan_id:
    'loan_id is not a non-negative whole number written as plain digits (no sign, no leading zeros)',
  missing_id: 'id (the customer id) is empty',
  non_numeric_id: 'id is not a non-negative whole number written as plain digits (no sign, no leading zeros)',
  missing_value: 'a required field is empty (every column but occupation_type is required)',
  non_finite_number: 'a numeric field is NaN or Infinity',
  invalid_number:
    'a numeric field is not a number, or not a whole number where one is required (cnt_children, days_*), or cnt_children is negative',
  invalid_flag:
    'flag_own_car/flag_own_realty not Y or N, or flag_mobil/flag_work_phone/flag_phone/flag_email not 0 or 1',
  invalid_status: 'status is not 0 or 1',
  unknown_category:
    'code_gender, name_*_type, name_family_status or occupation_type outside the allowed values (CATEGORIES)',
  invalid_date: 'a date is not written YYYY-MM-DD',
  impossible_date: 'a date that does not exist (2023-02-30) or is before year 1900 (0001-01-01)',
  future_loan_date: 'loan_date is after the as-of date of the run',
  birthday_after_loan_date: 'birthday is after loan_date',
  non_positive_amount: 'loan_amount is zero or negative',
  non_positive_income: 'amt_income_total is zero or negative',
  duplicate_loan_id:
    'another valid row with the same loan_id came earlier in the file (the first one is kept)',
  unclassified:
    'the row failed the validity test but no rule above names it: a bug in the rules, please report it',
} as const;

export type QuarantineReason = keyof typeof QUARANTINE_REASONS;

/** The reasons in rule order (the first failing rule names the row). */
export const QUARANTINE_REASON_ORDER = Object.keys(QUARANTINE_REASONS) as QuarantineReason[];
