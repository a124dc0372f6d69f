import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InputError } from '#lib/errors.ts';
import {
  CATEGORIES,
  DAYS_EMPLOYED_NOT_EMPLOYED,
  RAW_COLUMN_NAMES,
  type QuarantineReason,
} from '#lib/features/raw-schema.ts';
import { IsoDateCache, daysFromCivil, daysFromIso, civilFromDays, isoFromDays } from './civil-date.ts';
import { DIRTY_CLASSES, csvField, type DirtyClass } from './dirty.ts';
import { labelScore, sigmoid, LABEL_NOISE_SD } from './label.ts';
import { SeededRandom, WeightedChoice } from './random.ts';

/**
 * Synthetic raw loan records with the Kueski challenge schema (docs/DATA.md): deterministic
 * for a seed (same options => identical bytes), realistic marginals and quirks, a label drawn from
 * a known point-in-time relation (label.ts), optional dirty rows and drift.
 */
export interface GenerateOptions {
  /** Total records written (clean + dirty), header excluded. */
  rows: number;
  seed: number | string;
  out: string;
  /** Share of extra dirty records, 0 <= r <= 0.5 (default 0). */
  dirtyRate?: number;
  /** Distribution shifts: income:X (income x (1+X)), amount:X (loan amounts x (1+X)), label:A (blend A of another label relation). */
  drift?: Drift;
  /** First possible loan date, YYYY-MM-DD (default 2018-01-01). */
  startDate?: string;
  /** Loan dates spread over this many years (default 4). */
  years?: number;
  /** '\n' (default) or '\r\n'. */
  lineEnding?: '\n' | '\r\n';
  /** Start the file with a UTF-8 byte-order mark (as some spreadsheet exports do). */
  bom?: boolean;
  /** Called about every 500,000 records. */
  onProgress?: (written: number, total: number) => void;
}

export interface Drift {
  income?: number;
  amount?: number;
  label?: number;
}

export interface GenerateResult {
  rows: number;
  customers: number;
  /** Records the validator must quarantine. */
  dirtyRows: number;
  /** What the validator must report, reason by reason (from the dirty classes written). */
  expectedQuarantineByReason: Partial<Record<QuarantineReason, number>>;
  /** Clean records written with every field quoted (valid: the validator must accept them). */
  quotedValidRows: number;
  positives: number;
  out: string;
  seconds: number;
  firstLoanDate: string;
  lastLoanDate: string;
  /** The date days_birth and days_employed count from (birthday = referenceDate + days_birth). */
  referenceDate: string;
}

export const DEFAULT_START_DATE = '2018-01-01';
export const DEFAULT_YEARS = 4;
export const FIRST_CUSTOMER_ID = 5008804;

/** Parses `income:0.3`, `amount:0.5`, `label:1` (several separated by commas, or repeated). */
export function parseDrift(specs: readonly string[]): Drift {
  const drift: Drift = {};
  for (const spec of specs.flatMap((s) => s.split(',')).filter((s) => s.trim() !== '')) {
    const [kind, amountText] = spec.trim().split(':');
    const amount = amountText === undefined ? defaultDriftAmount(kind) : Number(amountText);
    if (!['income', 'amount', 'label'].includes(kind)) {
      throw new InputError(
        'BAD_DRIFT',
        `unknown drift kind ${JSON.stringify(kind)} in ${JSON.stringify(spec)}: use income:X, amount:X or label:A`,
      );
    }
    if (!Number.isFinite(amount) || amount <= -1 || (kind === 'label' && (amount < 0 || amount > 1))) {
      throw new InputError(
        'BAD_DRIFT',
        `bad drift amount in ${JSON.stringify(spec)}: income/amount need a number > -1, label a number in [0, 1]`,
      );
    }
    drift[kind as keyof Drift] = amount;
  }
  return drift;
}

function defaultDriftAmount(kind: string | undefined): number {
  return kind === 'label' ? 1 : 0.3;
}

// Marginals of the real file (ranges and shares from the public credit-card data set it descends from).
const GENDER = new WeightedChoice(['F', 'M'], [0.67, 0.33]);
const INCOME_TYPE = new WeightedChoice(CATEGORIES.name_income_type, [0.516, 0.23, 0.168, 0.081, 0.0005]);
const EDUCATION = new WeightedChoice(CATEGORIES.name_education_type, [0.68, 0.27, 0.039, 0.01, 0.0009]);
const FAMILY = new WeightedChoice(CATEGORIES.name_family_status, [0.69, 0.13, 0.08, 0.058, 0.042]);
const HOUSING = new WeightedChoice(
  CATEGORIES.name_housing_type,
  [0.893, 0.048, 0.032, 0.016, 0.0072, 0.0046],
);
const OCCUPATION = new WeightedChoice(
  CATEGORIES.occupation_type,
  [
    0.17, 0.1, 0.1, 0.08, 0.06, 0.04, 0.035, 0.03, 0.018, 0.016, 0.015, 0.009, 0.005, 0.004, 0.004, 0.002,
    0.002, 0.0015,
  ],
);
const CHILDREN = new WeightedChoice(
  [0, 1, 2, 3, 4, 5, 7, 14, 19],
  [0.69, 0.2, 0.09, 0.012, 0.0017, 0.0005, 0.0002, 0.00005, 0.00005],
);

interface Customer {
  id: number;
  /** Fields id .. cnt_fam_members joined with commas (constant per customer). */
  middle: string;
  fields: string[];
  birthdayText: string;
  jobStartText: string;
  birthdayDays: number;
  birthdayYear: number;
  /** month * 32 + day, to compare anniversaries. */
  birthdayMonthDay: number;
  jobStartDays: number;
  jobStartYear: number;
  jobStartMonthDay: number;
  income: number;
  flagOwnCar: 0 | 1;
  /** Typical loan amount of this customer. */
  amountScale: number;
}

/** Writes `rows` records to `out` (atomically: a temp file renamed at the end). */
export function generateLoans(options: GenerateOptions): GenerateResult {
  const started = process.hrtime.bigint();
  const rows = options.rows;
  const dirtyRate = options.dirtyRate ?? 0;
  if (!Number.isInteger(rows) || rows < 0)
    throw new InputError('BAD_ROWS', `--rows must be a whole number >= 0, got ${rows}`);
  if (!(dirtyRate >= 0 && dirtyRate <= 0.5))
    throw new InputError('BAD_DIRTY_RATE', `--dirty-rate must be between 0 and 0.5, got ${dirtyRate}`);
  const years = options.years ?? DEFAULT_YEARS;
  if (!(years > 0 && years <= 50))
    throw new InputError('BAD_YEARS', `--years must be > 0 and <= 50, got ${years}`);
  const startText = options.startDate ?? DEFAULT_START_DATE;
  let startDay: number;
  try {
    startDay = daysFromIso(startText);
    if (isoFromDays(startDay) !== startText) throw new Error('not a calendar date');
  } catch {
    throw new InputError(
      'BAD_DATE',
      `--start-date must be a real date YYYY-MM-DD, got ${JSON.stringify(startText)}`,
    );
  }
  const drift = options.drift ?? {};
  const incomeFactor = 1 + (drift.income ?? 0);
  const amountFactor = 1 + (drift.amount ?? 0);
  const labelDrift = drift.label ?? 0;
  const eol = options.lineEnding ?? '\n';

  const [sy, sm, sd] = civilFromDays(startDay);
  const wholeYears = Math.floor(years);
  const endDay = daysFromCivil(sy + wholeYears, sm, sd) - 1 + Math.round((years - wholeYears) * 365.25);
  const windowDays = endDay - startDay + 1;
  // days_birth / days_employed count back from the day after the last possible loan date.
  const referenceDay = endDay + 1;

  // Year and month*32+day of every day of the window: whole-years arithmetic without Date objects.
  const dayYears = new Int32Array(windowDays);
  const dayMonthDays = new Int32Array(windowDays);
  for (let i = 0; i < windowDays; i++) {
    const [y, m, d] = civilFromDays(startDay + i);
    dayYears[i] = y;
    dayMonthDays[i] = m * 32 + d;
  }

  const dirtyRows = Math.round(rows * dirtyRate);
  const cleanRows = rows - dirtyRows;

  const random = new SeededRandom(options.seed);
  const customerRandom = random.fork();
  const loanRandom = random.fork();
  const labelRandom = random.fork();
  const dates = new IsoDateCache();

  const out = resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let parts: string[] = [];
  let partsLength = 0;
  const flush = (): void => {
    if (parts.length === 0) return;
    // Every generated character is ASCII: latin1 encodes it byte for byte, cheaper than UTF-8.
    writeSync(fd, parts.join(''), null, 'latin1');
    parts = [];
    partsLength = 0;
  };
  const push = (text: string): void => {
    parts.push(text);
    partsLength += text.length;
    if (partsLength > 1 << 22) flush();
  };

  const expected: Partial<Record<QuarantineReason, number>> = {};
  let written = 0;
  let dirtyWritten = 0;
  let cleanWritten = 0;
  let quotedValidRows = 0;
  let positives = 0;
  let customers = 0;
  let nextCustomerId = FIRST_CUSTOMER_ID;
  let firstLoan = Number.POSITIVE_INFINITY;
  let lastLoan = Number.NEGATIVE_INFINITY;
  let lastCleanRecord = '';
  let lastCleanFields: string[] = [];
  const quoteEvery = dirtyRate > 0 ? Math.max(2, Math.round(1 / dirtyRate)) * 7 : 0;
  const progressEvery = 500_000;
  let nextProgress = progressEvery;

  try {
    if (options.bom) writeSync(fd, Buffer.from([0xef, 0xbb, 0xbf]));
    push(RAW_COLUMN_NAMES.join(',') + eol);

    const writeDirty = (cls: DirtyClass): void => {
      const loanId = String(written + 1);
      const fields = [...lastCleanFields];
      fields[0] = loanId;
      const made = cls.make({ fields, lastCleanRecord });
      if (Array.isArray(made)) push(made.map(csvField).join(',') + eol);
      else if ('text' in made) push(made.text + eol);
      else {
        flush();
        writeSync(fd, made.bytes);
        writeSync(fd, eol, null, 'latin1');
      }
      expected[cls.reason] = (expected[cls.reason] ?? 0) + 1;
      written++;
      dirtyWritten++;
    };

    const loanDays: number[] = [];
    const amounts: number[] = [];
    while (cleanWritten < cleanRows) {
      const c = makeCustomer(customerRandom, nextCustomerId, referenceDay, incomeFactor, dates);
      customers++;
      nextCustomerId += 1 + Math.floor(-Math.log(1 - customerRandom.next()) * 2.9);
      // 1..60 loans, mean about 21 (the real file: ~36k customers for 777,715 loans).
      const nLoans = Math.min(
        60,
        1 + Math.floor(61 * Math.pow(loanRandom.next(), 1.85)),
        cleanRows - cleanWritten,
      );
      drawLoanDates(loanRandom, nLoans, startDay, windowDays, loanDays);
      amounts.length = 0;
      for (let i = 0; i < nLoans; i++) {
        amounts.push(
          Math.max(1, Math.round(c.amountScale * Math.exp(0.25 * loanRandom.normal()) * amountFactor)),
        );
      }
      if (loanDays[0] < firstLoan) firstLoan = loanDays[0];
      if (loanDays[nLoans - 1] > lastLoan) lastLoan = loanDays[nLoans - 1];

      // Point-in-time features of each loan, exactly as docs/DATA.md defines them, to draw the label.
      let nbPrevious = 0;
      let sumPrevious = 0;
      let sumBeforeDay = 0;
      let countBeforeDay = 0;
      for (let i = 0; i < nLoans; i++) {
        const day = loanDays[i];
        if (i > 0 && day !== loanDays[i - 1]) {
          countBeforeDay = i;
          sumBeforeDay = sumPrevious;
        }
        nbPrevious = countBeforeDay;
        const dayYear = dayYears[day - startDay];
        const dayMonthDay = dayMonthDays[day - startDay];
        const years =
          c.jobStartDays > day ? null : dayYear - c.jobStartYear - (dayMonthDay < c.jobStartMonthDay ? 1 : 0);
        const z = labelScore(
          {
            nbPreviousLoans: nbPrevious,
            avgAmountLoansPrevious: nbPrevious === 0 ? null : sumBeforeDay / nbPrevious,
            age: dayYear - c.birthdayYear - (dayMonthDay < c.birthdayMonthDay ? 1 : 0),
            yearsOnTheJob: years,
            flagOwnCar: c.flagOwnCar,
            income: c.income,
          },
          labelDrift,
        );
        sumPrevious += amounts[i];
        const status = sigmoid(z + LABEL_NOISE_SD * labelRandom.normal()) > labelRandom.next() ? 1 : 0;
        positives += status;

        const loanId = written + 1;
        const loanDate = dates.format(day);
        const amount = `${amounts[i]}.0`;
        let record = `${loanId},${c.middle},${status},${c.birthdayText},${c.jobStartText},${loanDate},${amount}`;
        cleanWritten++;
        const quoted = quoteEvery > 0 && cleanWritten % quoteEvery === quoteEvery >> 1;
        // The record's fields one by one, only when a quoted copy or a dirty variant needs them.
        const fields =
          quoted || dirtyRows > 0
            ? [String(loanId), ...c.fields, String(status), c.birthdayText, c.jobStartText, loanDate, amount]
            : undefined;
        if (quoted && fields) {
          // Quoting a field that needs none is legal CSV: these rows must be accepted as they are.
          record = fields.map((f) => `"${f}"`).join(',');
          quotedValidRows++;
        }
        push(record + eol);
        written++;
        if (dirtyRows > 0) {
          lastCleanRecord = record;
          lastCleanFields = fields as string[];
          // Spread the dirty records evenly, cycling through the classes so each one appears.
          const due = Math.floor((cleanWritten * dirtyRows) / cleanRows);
          while (dirtyWritten < due) writeDirty(DIRTY_CLASSES[dirtyWritten % DIRTY_CLASSES.length]);
        }
        if (options.onProgress && written >= nextProgress) {
          options.onProgress(written, rows);
          nextProgress += progressEvery;
        }
      }
    }
    // rows > 0 with a dirty share so high that no clean row exists cannot happen (dirtyRate <= 0.5).
    flush();
    closeSync(fd);
    renameSync(tmp, out);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw e;
  }

  return {
    rows: written,
    customers,
    dirtyRows: dirtyWritten,
    expectedQuarantineByReason: expected,
    quotedValidRows,
    positives,
    out,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    firstLoanDate: cleanWritten > 0 ? isoFromDays(firstLoan) : '',
    lastLoanDate: cleanWritten > 0 ? isoFromDays(lastLoan) : '',
    referenceDate: isoFromDays(referenceDay),
  };
}

function makeCustomer(
  r: SeededRandom,
  id: number,
  referenceDay: number,
  incomeFactor: number,
  dates: IsoDateCache,
): Customer {
  const gender = GENDER.pick(r);
  const incomeType = INCOME_TYPE.pick(r);
  const pensioner = incomeType === 'Pensioner';
  // Ages 21..69 at the reference date (real: mean ~44, sd ~11.5; pensioners older).
  const ageYears = Math.min(68.9, Math.max(21, pensioner ? 59 + 5 * r.normal() : 41 + 10.5 * r.normal()));
  const daysBirth = -Math.round(ageYears * 365.25 + r.next() * 300);
  let daysEmployed: number;
  if (pensioner && r.chance(0.99)) daysEmployed = DAYS_EMPLOYED_NOT_EMPLOYED;
  else {
    const maxYears = Math.max(0.05, ageYears - 18);
    const jobYears = Math.min(maxYears, -Math.log(1 - r.next()) * 6.5);
    daysEmployed = -Math.max(17, Math.round(jobYears * 365.25));
  }
  const education = EDUCATION.pick(r);
  const family = FAMILY.pick(r);
  const housing = HOUSING.pick(r);
  const ownCar: 0 | 1 = r.chance(gender === 'M' ? 0.58 : 0.28) ? 1 : 0;
  const ownRealty = r.chance(0.67) ? 'Y' : 'N';
  const children = CHILDREN.pick(r);
  const couple = family === 'Married' || family === 'Civil marriage';
  const famMembers = (couple ? 2 : 1) + children + (r.chance(0.01) ? 1 : 0);
  // Heavy right tail: log-normal around 157,500, 1% with a 3-6x multiplier; multiples of 2,250 as in the real data.
  let income = 157500 * Math.exp(0.48 * r.normal()) * (pensioner ? 0.8 : 1);
  if (r.chance(0.01)) income *= 3 + 3 * r.next();
  income = Math.max(27000, Math.round((income * incomeFactor) / 2250) * 2250);
  // About 30% empty overall: every pensioner, and some others.
  const occupation = pensioner || r.chance(0.16) ? '' : OCCUPATION.pick(r);
  const workPhone = r.chance(0.22) ? 1 : 0;
  const phone = r.chance(0.29) ? 1 : 0;
  const email = r.chance(0.09) ? 1 : 0;
  const amountScale = 95 * Math.exp(0.3 * r.normal());
  const fields = [
    String(id),
    gender,
    ownCar ? 'Y' : 'N',
    ownRealty,
    String(children),
    `${income}.0`,
    incomeType,
    education,
    family,
    housing,
    String(daysBirth),
    String(daysEmployed),
    '1',
    String(workPhone),
    String(phone),
    String(email),
    occupation,
    `${famMembers}.0`,
  ];
  const birthdayDays = referenceDay + daysBirth;
  const jobStartDays = referenceDay + daysEmployed;
  const [by, bm, bd] = civilFromDays(birthdayDays);
  const [jy, jm, jd] = civilFromDays(jobStartDays);
  return {
    id,
    middle: fields.join(','),
    fields,
    birthdayText: dates.format(birthdayDays),
    jobStartText: dates.format(jobStartDays),
    birthdayDays,
    birthdayYear: by,
    birthdayMonthDay: bm * 32 + bd,
    jobStartDays,
    jobStartYear: jy,
    jobStartMonthDay: jm * 32 + jd,
    income,
    flagOwnCar: ownCar,
    amountScale,
  };
}

/**
 * n sorted loan dates inside the window: a customer's loans follow each other at irregular gaps
 * (about a month), some on the same day as the previous one; a long history is squeezed to fit.
 */
function drawLoanDates(
  r: SeededRandom,
  n: number,
  startDay: number,
  windowDays: number,
  outDays: number[],
): void {
  outDays.length = 0;
  let offset = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) offset += r.chance(0.06) ? 0 : 1 + Math.floor(-Math.log(1 - r.next()) * 34);
    outDays.push(offset);
  }
  const span = offset;
  const scale = span > windowDays - 1 ? (windowDays - 1) / span : 1;
  const first = startDay + Math.floor(r.next() * (windowDays - Math.floor(span * scale)));
  for (let i = 0; i < n; i++) outDays[i] = first + Math.floor(outDays[i] * scale);
}
