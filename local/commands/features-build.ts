import { Option, type Command } from 'commander';
import { buildFeatures, type Engine } from '#lib/features/build.ts';
import type { OutputFormat } from '#lib/features/duckdb-engine.ts';
import type { ValidationSummary } from '#lib/features/validate.ts';
import { DEFAULT_MAX_RECORD_LINES, RAW_EXCERPT_BYTES } from '#lib/features/validate-scan.ts';
import { createLocalRoot } from '../root.ts';

interface BuildFlags {
  input: string;
  out: string;
  format: OutputFormat;
  engine: Engine;
  asOf?: string;
  maxRecordLines: number;
  json?: boolean;
}

export function registerBuild(features: Command): void {
  features
    .command('build')
    .summary(
      'validate a raw loans file and build point-in-time features (offline rows, online rows, quarantine, manifest)',
    )
    .description(
      'Validate a raw loans file and build point-in-time features: one row per loan (only loans strictly\n' +
        'before each loan date count), the quarantine of rejected rows, the per-customer online rows and a\n' +
        'manifest (counts, schema, hashes, snapshot id), written last. Progress and timings go to stderr.',
    )
    .requiredOption(
      '--input <file>',
      'raw loans, CSV (or Parquet) with the columns of the Kueski credit-risk schema',
    )
    .requiredOption('--out <dir>', 'snapshot directory to write (created if missing; replaced atomically)')
    .addOption(
      new Option('--format <format>', 'format of the feature table')
        .choices(['parquet', 'csv'])
        .default('parquet'),
    )
    .addOption(
      new Option(
        '--engine <engine>',
        'SQL engine: DuckDB in-process, or the Glue PySpark job on local Spark (same SQL)',
      )
        .choices(['duckdb', 'spark'])
        .default('duckdb'),
    )
    .option(
      '--as-of <date>',
      'snapshot date YYYY-MM-DD: loans after it are quarantined (default: today, UTC)',
    )
    .option(
      '--max-record-lines <n>',
      'a record spanning more physical lines is quarantined as record_spans_lines (an unterminated quote)',
      (v: string) => Number(v),
      DEFAULT_MAX_RECORD_LINES,
    )
    .option(
      '--json',
      'print {"rowsIn","rowsValid","rowsQuarantined","byReason","lines","snapshotId"} on stdout',
    )
    .addHelpText(
      'after',
      '\nOutput (DIR = --out):\n' +
        '  DIR/features.parquet|csv  loan_id, id, loan_date, status, nb_previous_loans, avg_amount_loans_previous,\n' +
        '                            age, years_on_the_job, flag_own_car, then the extra features (empty cell = missing)\n' +
        '  DIR/quarantine.csv        line, reason, raw: every rejected row with why (the physical line it starts on)\n' +
        '  DIR/online.parquet        one row per customer, for `features publish`\n' +
        '  DIR/manifest.json         written last; a directory without it is not a finished snapshot\n' +
        '\nBounded input: a record over twice as wide as the header (too_many_fields), longer than 1 MiB\n' +
        '(record_too_long) or spanning more than --max-record-lines lines (record_spans_lines) is\n' +
        `quarantined without its fields being read; quarantine.csv keeps its first ${RAW_EXCERPT_BYTES} bytes.\n` +
        'The summary counts physical lines too: lines = header + blank + lines of valid rows + lines of\n' +
        'quarantined records. A file with no valid row (a header only, or every row quarantined) still\n' +
        'builds, with a warning.\n' +
        '\nExamples:\n' +
        '  credit-risk data generate --rows 100000 --seed 7 --out loans.csv\n' +
        '  credit-risk features build --input loans.csv --out features/ --as-of 2024-01-01\n' +
        '  credit-risk features build --input loans.csv --out features-csv/ --format csv --json\n' +
        '  credit-risk features build --input loans.csv --out features-spark/ --engine spark   # needs .venv + Java\n',
    )
    .action(async (flags: BuildFlags) => {
      const root = createLocalRoot();
      const result = await buildFeatures({
        input: flags.input,
        outDir: flags.out,
        format: flags.format,
        engine: flags.engine,
        asOf: flags.asOf,
        maxRecordLines: flags.maxRecordLines,
        clock: root.clock,
        onProgress: (m) => console.error(`[features build] ${m}`),
        onWarning: (m) => console.error(`[features build] warning: ${m}`),
      });
      const s = result.summary;
      if (flags.json) {
        console.log(
          JSON.stringify({
            rowsIn: s.rowsIn,
            rowsValid: s.rowsValid,
            rowsQuarantined: s.rowsQuarantined,
            byReason: s.byReason,
            lines: s.lines,
            snapshotId: result.snapshotId,
          }),
        );
      } else {
        console.log(
          `snapshot ${result.snapshotId}: ${s.rowsIn} rows in, ${s.rowsValid} valid, ${s.rowsQuarantined} quarantined -> ${result.outDir}`,
        );
        for (const line of summaryDetail(s)) console.log(`  ${line}`);
      }
    });
}

/** The text summary's detail: where the lines went, and why rows were quarantined. */
function summaryDetail(s: ValidationSummary): string[] {
  const out: string[] = [];
  const l = s.lines;
  if (l)
    out.push(
      `${l.total} lines = ${l.header} header + ${l.blank} blank + ${l.valid} in valid rows + ${l.quarantined} in quarantined records`,
    );
  const reasons = Object.entries(s.byReason).sort((a, b) => b[1] - a[1]);
  if (reasons.length > 0) out.push(`quarantined: ${reasons.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  return out;
}
