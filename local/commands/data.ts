import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Option, type Command } from 'commander';
import { InputError } from '#lib/errors.ts';
import { DEFAULT_START_DATE, DEFAULT_YEARS, generateLoans, parseDrift } from '#lib/data/generate.ts';
import { QUARANTINE_REASONS } from '#lib/features/raw-schema.ts';
import { validateRawInto } from '#lib/features/validate.ts';

/** `credit-risk data ...`: make raw loan files, and check one before building features from it. */
export function register(program: Command): void {
  const data = program
    .command('data')
    .description('generate synthetic raw loan records (the Kueski challenge schema) and validate raw files');

  data
    .command('generate')
    .description(
      'Write synthetic raw loan records: the exact columns of the Kueski challenge file, deterministic ' +
        'for a seed (same options => the same bytes), realistic quirks (pensioners with days_employed ' +
        '365243, ~30% empty occupation_type, same-day loans, leap days, heavy-tailed income), and a label ' +
        '`status` drawn from a known nonlinear function of the point-in-time features (lib/data/label.ts).',
    )
    .requiredOption('--rows <n>', 'number of records to write (clean + dirty)', parseWhole)
    .requiredOption('--out <file.csv>', 'output CSV file (written atomically)')
    .option('--seed <s>', 'random seed (a number or any text)', '42')
    .option(
      '--dirty-rate <r>',
      'share of records broken on purpose, 0..0.5: every dirty class of docs/DATA.md in turn',
      parseRate,
      0,
    )
    .option(
      '--drift <kind[:amount]>',
      'income:X (incomes x(1+X)), amount:X (loan amounts x(1+X)), label:A (blend A of another label relation); repeatable',
      collect,
      [],
    )
    .option('--start-date <YYYY-MM-DD>', 'first possible loan date', DEFAULT_START_DATE)
    .option('--years <y>', 'loan dates spread over this many years', parseFloat, DEFAULT_YEARS)
    .addOption(new Option('--line-ending <eol>', 'line endings').choices(['lf', 'crlf']).default('lf'))
    .option('--bom', 'start the file with a UTF-8 byte-order mark, as spreadsheet exports do')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      `
Examples:
  credit-risk data generate --rows 777715 --seed 1 --out loans.csv          # the size of the real file
  credit-risk data generate --rows 20000 --seed 7 --dirty-rate 0.02 --out dirty.csv
  credit-risk data generate --rows 100000 --seed 7 --start-date 2022-01-01 --years 1 \\
      --drift income:0.3 --drift label:1 --out drifted.csv                  # for monitoring tests

With --dirty-rate R, round(N*R) extra broken records are spread evenly through the file, one class
after another (missing/non-numeric ids, duplicate loan_id, impossible and future dates, zero or
negative amounts, NaN/Infinity, unknown categories, bad flags and status, wrong column counts,
quoted commas and line breaks, non-UTF-8 bytes); some clean records are written fully quoted
(legal CSV the validator must accept). --json reports how many of each reason the validator must find.`,
    )
    .action((o: GenerateCliOptions) => {
      const started = Date.now();
      const result = generateLoans({
        rows: o.rows,
        seed: /^\d+$/.test(o.seed) ? Number(o.seed) : o.seed,
        out: resolve(o.out),
        dirtyRate: o.dirtyRate,
        drift: parseDrift(o.drift),
        startDate: o.startDate,
        years: o.years,
        lineEnding: o.lineEnding === 'crlf' ? '\r\n' : '\n',
        bom: o.bom === true,
        onProgress: (written, total) => {
          const s = (Date.now() - started) / 1000;
          process.stderr.write(
            `  ${written.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} records (${s.toFixed(1)} s)\n`,
          );
        },
      });
      const summary = {
        rows: result.rows,
        customers: result.customers,
        dirtyRows: result.dirtyRows,
        out: result.out,
        seconds: Math.round(result.seconds * 1000) / 1000,
        positives: result.positives,
        quotedValidRows: result.quotedValidRows,
        expectedQuarantineByReason: result.expectedQuarantineByReason,
        firstLoanDate: result.firstLoanDate,
        lastLoanDate: result.lastLoanDate,
        referenceDate: result.referenceDate,
      };
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        const rate =
          result.rows > 0
            ? ((100 * result.positives) / (result.rows - result.dirtyRows || 1)).toFixed(2)
            : '0';
        process.stderr.write(
          `wrote ${result.rows.toLocaleString('en-US')} records (${result.customers.toLocaleString('en-US')} customers, ` +
            `${result.dirtyRows} dirty, ${rate}% status=1, loans ${result.firstLoanDate}..${result.lastLoanDate}) ` +
            `to ${result.out} in ${result.seconds.toFixed(2)} s\n`,
        );
      }
    });

  data
    .command('validate')
    .description(
      'Check a raw loans file (CSV, or Parquet with the same columns) the way `features build` does: ' +
        'writes DIR/quarantine.csv (line,reason,raw: every rejected record, its reason and its original ' +
        'text) and prints the counts. rows in = valid + quarantined, always.',
    )
    .requiredOption('--input <raw>', 'raw loans file (.csv, or .parquet)')
    .requiredOption('--out <dir>', 'directory for quarantine.csv')
    .option(
      '--as-of <YYYY-MM-DD>',
      'loans dated after this day are quarantined as future_loan_date (default: today)',
    )
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      `
Examples:
  credit-risk data validate --input loans.csv --out checks/
  credit-risk data validate --input loans.csv --out checks/ --as-of 2022-01-01 --json

Reasons, in the order the rules are checked (a record gets the first one it fails):
${Object.entries(QUARANTINE_REASONS)
  .map(([code, text]) => `  ${code.padEnd(25)} ${text}`)
  .join('\n')}

File-level problems stop with exit code 2 and write nothing: FILE_NOT_FOUND, EMPTY_FILE,
MISSING_COLUMNS (a required column is not in the header), DUPLICATE_COLUMNS. A header without rows
is a valid, empty file. Extra columns are ignored (a warning names them).`,
    )
    .action(async (o: { input: string; out: string; asOf?: string; json?: boolean }) => {
      const outDir = resolve(o.out);
      const input = resolve(o.input);
      const instance = await DuckDBInstance.create(':memory:', {
        threads: '2',
        preserve_insertion_order: 'false',
      });
      const conn = await instance.connect();
      try {
        const started = Date.now();
        // A file-level error must leave nothing behind, not even the directory we created for it.
        const dirExisted = existsSync(outDir);
        mkdirSync(outDir, { recursive: true });
        const quarantinePath = join(outDir, 'quarantine.csv');
        const summary = await validateRawInto(conn, input, {
          quarantinePath,
          asOf: o.asOf,
          onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
        }).catch((e: unknown) => {
          if (!dirExisted) rmSync(outDir, { recursive: true, force: true });
          throw e;
        });
        const seconds = (Date.now() - started) / 1000;
        if (o.json)
          process.stdout.write(JSON.stringify({ ...summary, quarantine: quarantinePath, seconds }) + '\n');
        else {
          process.stdout.write(
            `${summary.rowsIn} rows in = ${summary.rowsValid} valid + ${summary.rowsQuarantined} quarantined (${seconds.toFixed(2)} s)\n` +
              Object.entries(summary.byReason)
                .sort((a, b) => b[1] - a[1])
                .map(([reason, n]) => `  ${reason.padEnd(25)} ${n}\n`)
                .join('') +
              `quarantine: ${quarantinePath}\ninput sha256: ${summary.inputSha256}\n`,
          );
        }
      } finally {
        conn.closeSync();
        instance.closeSync();
      }
    });
}

interface GenerateCliOptions {
  rows: number;
  out: string;
  seed: string;
  dirtyRate: number;
  drift: string[];
  startDate: string;
  years: number;
  lineEnding: 'lf' | 'crlf';
  bom?: boolean;
  json?: boolean;
}

function parseWhole(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0)
    throw new InputError('BAD_ROWS', `--rows must be a whole number >= 0, got ${JSON.stringify(value)}`);
  return n;
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 0.5))
    throw new InputError(
      'BAD_DIRTY_RATE',
      `--dirty-rate must be a number between 0 and 0.5, got ${JSON.stringify(value)}`,
    );
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
