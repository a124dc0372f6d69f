import type { QuarantineReason, RawColumnName } from '#lib/features/raw-schema.ts';
import { RAW_COLUMN_NAMES } from '#lib/features/raw-schema.ts';

/**
 * The dirty-row classes of docs/DATA.md, each with the quarantine reason the validator must give it.
 * A dirty row is a clean row of the same customer with ONE thing broken (so it fails exactly one
 * rule), written in place of nothing: it is an extra record with its own loan_id, so the clean
 * rows stay exactly the data set the label was drawn from.
 */
export interface DirtyRowContext {
  /** The fields of a clean row (a copy: mutate freely), in RAW_COLUMNS order. */
  fields: string[];
  /** The record text of the last clean row written (no line ending). */
  lastCleanRecord: string;
}

export interface DirtyClass {
  /** Name used in the generator's report (one reason can have several classes). */
  readonly name: string;
  readonly reason: QuarantineReason;
  /** The record: fields (serialized as CSV by the generator), a ready record text, or raw bytes. */
  make(ctx: DirtyRowContext): string[] | { text: string } | { bytes: Buffer };
}

const col = (name: RawColumnName): number => RAW_COLUMN_NAMES.indexOf(name);
const LOAN_ID = col('loan_id');
const ID = col('id');

function set(name: RawColumnName, value: string) {
  const i = col(name);
  return ({ fields }: DirtyRowContext): string[] => {
    fields[i] = value;
    return fields;
  };
}

function setDayAfter(target: RawColumnName, source: RawColumnName) {
  const t = col(target);
  const s = col(source);
  return ({ fields }: DirtyRowContext): string[] => {
    const d = new Date(`${fields[s]}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 1);
    fields[t] = d.toISOString().slice(0, 10);
    return fields;
  };
}

export const DIRTY_CLASSES: readonly DirtyClass[] = [
  { name: 'missing_id', reason: 'missing_id', make: set('id', '') },
  {
    name: 'non_numeric_id',
    reason: 'non_numeric_id',
    make: ({ fields }) => ((fields[ID] = `C${fields[ID]}`), fields),
  },
  { name: 'missing_loan_id', reason: 'missing_loan_id', make: set('loan_id', '') },
  {
    name: 'non_numeric_loan_id',
    reason: 'non_numeric_loan_id',
    make: ({ fields }) => ((fields[LOAN_ID] = `${fields[LOAN_ID]}x`), fields),
  },
  // An exact repeat of the previous clean record: the first one is kept.
  {
    name: 'duplicate_loan_id',
    reason: 'duplicate_loan_id',
    make: ({ lastCleanRecord }) => ({ text: lastCleanRecord }),
  },
  {
    name: 'invalid_date_format',
    reason: 'invalid_date',
    make: ({ fields }) => (
      (fields[col('loan_date')] = fields[col('loan_date')].split('-').reverse().join('/')),
      fields
    ),
  },
  {
    name: 'impossible_date_feb30',
    reason: 'impossible_date',
    make: ({ fields }) => (
      (fields[col('loan_date')] = `${fields[col('loan_date')].slice(0, 4)}-02-30`),
      fields
    ),
  },
  { name: 'impossible_date_year1', reason: 'impossible_date', make: set('birthday', '0001-01-01') },
  { name: 'future_loan_date', reason: 'future_loan_date', make: set('loan_date', '2999-01-01') },
  {
    name: 'birthday_after_loan_date',
    reason: 'birthday_after_loan_date',
    make: setDayAfter('birthday', 'loan_date'),
  },
  { name: 'zero_amount', reason: 'non_positive_amount', make: set('loan_amount', '0') },
  { name: 'negative_amount', reason: 'non_positive_amount', make: set('loan_amount', '-50.0') },
  { name: 'zero_income', reason: 'non_positive_income', make: set('amt_income_total', '0.0') },
  { name: 'negative_income', reason: 'non_positive_income', make: set('amt_income_total', '-135000.0') },
  { name: 'nan_amount', reason: 'non_finite_number', make: set('loan_amount', 'NaN') },
  { name: 'infinite_income', reason: 'non_finite_number', make: set('amt_income_total', 'Infinity') },
  { name: 'non_numeric_children', reason: 'invalid_number', make: set('cnt_children', 'two') },
  {
    name: 'fractional_days_birth',
    reason: 'invalid_number',
    make: ({ fields }) => ((fields[col('days_birth')] = `${fields[col('days_birth')]}.5`), fields),
  },
  { name: 'missing_gender', reason: 'missing_value', make: set('code_gender', '') },
  { name: 'unknown_income_type', reason: 'unknown_category', make: set('name_income_type', 'Unemployed') },
  { name: 'unknown_occupation', reason: 'unknown_category', make: set('occupation_type', 'Astronaut') },
  // Quoted fields: a comma and a newline inside quotes are data, not separators.
  {
    name: 'quoted_comma_category',
    reason: 'unknown_category',
    make: set('occupation_type', 'Laborers, night shift'),
  },
  {
    name: 'quoted_newline_category',
    reason: 'unknown_category',
    make: set('name_housing_type', 'House /\napartment'),
  },
  { name: 'bad_yes_no_flag', reason: 'invalid_flag', make: set('flag_own_car', 'Yes') },
  { name: 'bad_zero_one_flag', reason: 'invalid_flag', make: set('flag_phone', '2') },
  { name: 'status_not_binary', reason: 'invalid_status', make: set('status', '2') },
  { name: 'too_few_columns', reason: 'wrong_column_count', make: ({ fields }) => fields.slice(0, -1) },
  { name: 'too_many_columns', reason: 'wrong_column_count', make: ({ fields }) => [...fields, 'extra'] },
  // Over twice the header's fields: the byte scan quarantines it before DuckDB reads a field.
  {
    name: 'far_too_many_columns',
    reason: 'too_many_fields',
    make: ({ fields }) => [...fields, ...fields, 'extra'],
  },
  // Ten line breaks inside quotes: 11 physical lines, over the default bound of 10.
  {
    name: 'record_over_eleven_lines',
    reason: 'record_spans_lines',
    make: set('occupation_type', `Laborers${'\n'.repeat(10)}`),
  },
  {
    name: 'non_utf8_bytes',
    reason: 'invalid_utf8',
    make: ({ fields }) => {
      // Latin-1 "é" (0xE9) where UTF-8 is expected, as a file exported from a legacy system has.
      const i = col('occupation_type');
      const before = Buffer.from(fields.slice(0, i).join(',') + ',Laborers');
      const after = Buffer.from(',' + fields.slice(i + 1).join(','));
      return { bytes: Buffer.concat([before, Buffer.from([0xe9]), after]) };
    },
  },
];

/** A field as CSV: quoted (quotes doubled) only when it holds a comma, a quote or a line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
