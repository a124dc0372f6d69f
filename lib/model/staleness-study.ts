import { InputError } from '#lib/errors.ts';
import type { ModelCard } from './card.ts';
import { loadOnnxModel } from './onnx-runtime.ts';
import { stalenessByMonth, type StalenessRecord } from './staleness.ts';
import { take } from './split.ts';
import { isoDay, readTable, type Table } from './table.ts';
import { readManifestNextTo, trainModel, type TrainedModel, type TrainModelOptions } from './train.ts';

/**
 * The staleness study behind `credit-risk staleness` (docs/adr/0147): train on the rows up to a
 * date T (the trainer's own out-of-time split inside them), then score every later month of a
 * table (the same one, or another: e.g. the same loans generated with drift), each month on its
 * own. Or measure a model already trained on a later table.
 */

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function dayNumber(text: string, what: string): number {
  if (!DAY.test(text) || Number.isNaN(Date.parse(`${text}T00:00:00Z`)))
    throw new InputError('BAD_DATE', `${what} must be a date YYYY-MM-DD, got ${JSON.stringify(text)}`);
  return Date.parse(`${text}T00:00:00Z`) / 86_400_000;
}

function dateColumn(table: Table, name: string): Float64Array {
  const col = table.columns.get(name);
  if (!col) throw new InputError('UNKNOWN_COLUMN', `${table.path} has no time column "${name}"`);
  if (col.kind !== 'date')
    throw new InputError('BAD_TIME_COLUMN', `time column "${name}" of ${table.path} must be a date`);
  return col.values;
}

/** The rows of a table whose keep(row) is true, every column subset, in order. */
export function filterRows(table: Table, keep: (row: number) => boolean): Table {
  const rows: number[] = [];
  for (let i = 0; i < table.numRows; i++) if (keep(i)) rows.push(i);
  const columns = new Map(
    [...table.columns].map(([name, col]) => [
      name,
      col.kind === 'text'
        ? { ...col, codes: takeCodes(col.codes, rows) }
        : { ...col, values: take(col.values, rows) },
    ]),
  );
  return { ...table, numRows: rows.length, columns };
}

/** codes[rows[i]] for each i (a loop: Uint32Array.from with a mapping function is ~60 ns a value). */
function takeCodes(codes: Uint32Array, rows: readonly number[]): Uint32Array {
  const out = new Uint32Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = codes[rows[i]];
  return out;
}

async function asTable(input: string | Table): Promise<Table> {
  return typeof input === 'string' ? readTable(input) : input;
}

/** Scores rows of `table` after `after` with a model's ONNX bytes and card, month by month. */
export async function measureStaleness(options: {
  modelBytes: Uint8Array;
  card: Pick<ModelCard, 'features' | 'target'> & { split?: { timeColumn?: string | null } };
  input: string | Table;
  after: string;
  timeColumn?: string;
  scoredOn?: string;
}): Promise<StalenessRecord> {
  const table = await asTable(options.input);
  const timeColumn = options.timeColumn ?? options.card.split?.timeColumn ?? undefined;
  if (!timeColumn)
    throw new InputError('MISSING_TIME_COLUMN', 'the card names no time column: pass --time-column');
  const time = dateColumn(table, timeColumn);
  const cut = dayNumber(options.after, '--after');
  const later = filterRows(table, (r) => time[r] > cut);
  if (later.numRows === 0)
    throw new InputError('NO_LATER_ROWS', `${table.path} has no row after ${options.after} by ${timeColumn}`);
  const target = later.columns.get(options.card.target);
  if (!target || target.kind === 'text')
    throw new InputError(
      'MISSING_TARGET',
      `${table.path} has no 0/1 column "${options.card.target}" (the card's target)`,
    );
  const F = options.card.features.length;
  const matrix = new Float32Array(later.numRows * F);
  options.card.features.forEach((f, j) => {
    const col = later.columns.get(f);
    if (!col || col.kind === 'text')
      throw new InputError('MISSING_FEATURE', `${table.path} lacks the model's numeric feature column ${f}`);
    for (let i = 0; i < later.numRows; i++) matrix[i * F + j] = col.values[i];
  });
  const model = await loadOnnxModel(options.modelBytes);
  try {
    const p = await model.scoreRows(matrix, later.numRows);
    return stalenessByMonth({
      days: dateColumn(later, timeColumn),
      y: target.values,
      p,
      trainedUntil: options.after,
      timeColumn,
      scoredOn: options.scoredOn ?? `the rows of ${table.path.split('/').pop()} after ${options.after}`,
    });
  } finally {
    await model.release();
  }
}

/**
 * Train on `input` up to trainUntil (inclusive), then measure the model on every later month of
 * `scoreInput` (default: `input`).
 */
export async function stalenessStudy(options: {
  input: string;
  scoreInput?: string;
  trainUntil: string;
  target?: string;
  timeColumn?: string;
  ignore?: readonly string[];
  train?: Omit<TrainModelOptions, 'input' | 'target' | 'timeColumn' | 'ignore'>;
}): Promise<{ trained: TrainedModel; staleness: StalenessRecord }> {
  const table = await readTable(options.input);
  const timeColumn = options.timeColumn ?? readManifestNextTo(options.input)?.time ?? undefined;
  if (!timeColumn)
    throw new InputError(
      'MISSING_TIME_COLUMN',
      `no --time-column given and no manifest next to ${options.input} names one`,
    );
  const time = dateColumn(table, timeColumn);
  const cut = dayNumber(options.trainUntil, '--train-until');
  const upTo = filterRows(table, (r) => time[r] <= cut);
  if (upTo.numRows === 0)
    throw new InputError(
      'NO_TRAINING_ROWS',
      `${options.input} has no row on or before ${options.trainUntil}`,
    );
  const trained = await trainModel({
    ...options.train,
    input: upTo,
    target: options.target,
    timeColumn,
    ignore: options.ignore,
  });
  let last = Number.NEGATIVE_INFINITY;
  for (const d of dateColumn(upTo, timeColumn)) if (d > last) last = d;
  const scoreInput = options.scoreInput ?? options.input;
  const staleness = await measureStaleness({
    modelBytes: trained.modelBytes,
    card: trained.card,
    input: scoreInput === options.input ? table : scoreInput,
    after: isoDay(last),
    timeColumn,
    scoredOn: `every month of ${scoreInput.split('/').pop()} after the training data`,
  });
  return { trained, staleness };
}
