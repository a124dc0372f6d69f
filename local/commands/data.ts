import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Option, type Command } from 'commander';
import { InputError } from '#lib/errors.ts';
import { DEFAULT_START_DATE, DEFAULT_YEARS, generateLoans, parseDrift } from '#lib/data/generate.ts';
import { QUARANTINE_REASONS } from '#lib/features/raw-schema.ts';
import { validateRawInto } from '#lib/features/validate.ts';
import { championRequirement } from '#lib/features/champion-requirement.ts';
import { checkCustomerId, checkReason } from '#lib/privacy/customer-id.ts';
import { eraseCustomer, type EraseResult } from '#lib/privacy/erase.ts';
import {
  eraseFromDataFiles,
  eraseFromLineFiles,
  eraseFromScratch,
  homePath,
  pruneEmptyDirectories,
  scanForMentions,
  type LocalFileErasure,
} from '#lib/privacy/home-files.ts';
import { loadSubjectKey } from '#lib/privacy/subject-key.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import { createLocalRoot } from '../root.ts';

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

  registerErase(data);
}

/** The keyed-hash secret of erasures under the local home (lib/privacy/subject-key.ts). */
export function subjectKeyFile(homeRoot: string): string {
  return join(homeRoot, 'keys', 'subject.key');
}

function registerErase(data: Command): void {
  data
    .command('erase')
    .summary('remove one customer from every store under the local home, and prove it')
    .description(
      'Erase one customer (docs/SECURITY.md, "Erasure"; docs/adr/0150-erasure-rewrites-snapshots-under-new-ids.md): ' +
        "their row in the online store (deleted, and purged from PGlite's files), their records in the raw zone " +
        '(raw/ files rewritten) and in the generated data (data/), every stored feature snapshot holding them ' +
        '(rewritten under a NEW snapshot id; the current one published like a publish, online load, audit ' +
        'entry `erase`, CURRENT; the old ids get a tombstone and are deleted, so rollback and history follow ' +
        'the new ids), quarantine rows, staging, batch predictions, the prediction log, and the log and metric ' +
        'lines that mention them (logs/, metrics/). The audit names the customer by a keyed hash (HMAC-SHA256 ' +
        'under keys/subject.key), never in clear.\n\n' +
        'Then every file of the home is read (Parquet values too) and any that still mentions the id is ' +
        'listed: exit 1 with ERASE_INCOMPLETE when one does. Mentions inside bundled code (builds/*/function/) ' +
        'are listed apart and do not fail it. Running it again is safe and finishes an interrupted erase.',
    )
    .requiredOption('--id <id>', 'customer id (1-20 digits, the `id` column of the raw loans)')
    .option('--reason <text>', 'why, for the audit log (must not contain the id)', 'erasure request')
    .option(
      '--name <model>',
      "registered model whose champion's columns the erase's publish checks",
      DEFAULT_MODEL_NAME,
    )
    .option('--no-verify', 'skip the final scan of every file of the home')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      `
Examples:
  credit-risk data erase --id 5008827 --reason "GDPR art. 17 request, ticket 1234"
  credit-risk data erase --id 5008827 --json | jq .verify

Stop \`credit-risk serve\` first for a complete rewrite of its log files: a line it appends in the
instant the file is rewritten could be cut (never kept with the id). A running serve's in-memory copy
of the online store follows the new snapshot within a second.
Exit codes: 0 erased and verified; 1 ERASE_INCOMPLETE (files listed) or a failure; 2 bad --id or --reason.`,
    )
    .action(async (o: { id: string; reason: string; name: string; verify: boolean; json?: boolean }) => {
      const id = checkCustomerId(o.id);
      const reason = checkReason(o.reason, id);
      const root = createLocalRoot();
      const home = root.home;
      const started = performance.now();
      const progress = (m: string) => console.error(m);
      let stores: EraseResult;
      let local: { data: LocalFileErasure[]; lines: LocalFileErasure[]; scratch: string[] };
      try {
        stores = await eraseCustomer({
          objectStore: root.objectStore,
          featureStore: root.featureStore,
          id,
          reason,
          subjectKey: loadSubjectKey(subjectKeyFile(home.root)),
          publisher: eraser(),
          clock: root.clock,
          champion: await championRequirement(
            new ModelRegistry(root.objectStore, { name: o.name }),
            root.objectStore,
          ),
          tmpDir: home.tmp,
          onProgress: progress,
        });
        local = {
          data: await eraseFromDataFiles(home.data, id),
          lines: await eraseFromLineFiles([join(home.root, 'logs'), home.metrics], id),
          scratch: await eraseFromScratch(home.tmp, id),
        };
        for (const f of [...local.data, ...local.lines])
          progress(`${homePath(home.root, f.file)}: ${f.removed} records removed`);
        for (const dir of ['features', 'quarantine', 'staging', 'predictions'])
          pruneEmptyDirectories(join(home.store, dir));
      } finally {
        await root.featureStore.close();
      }
      let verify: { files: string[]; inCode: string[] } | null = null;
      if (o.verify) {
        progress(`verifying: reading every file under ${home.root} (Parquet values too)`);
        const hits = await scanForMentions(home.root, id);
        const paths = hits.map(
          (h) => `${homePath(home.root, h.file)}${h.how === 'values' ? ' (Parquet values)' : ''}`,
        );
        verify = {
          files: paths.filter((p) => !/^builds\/[^/]+\/function\//.test(p)),
          inCode: paths.filter((p) => /^builds\/[^/]+\/function\//.test(p)),
        };
      }
      const seconds = Math.round((performance.now() - started) / 100) / 10;
      const result = {
        subject: stores.subject,
        online: stores.online,
        raw: stores.raw.map((r) => ({ ...r, key: r.key })),
        rawNotChecked: stores.rawNotChecked,
        snapshots: stores.snapshots,
        current: stores.current,
        quarantine: stores.quarantine,
        staging: stores.staging,
        predictions: stores.predictions,
        predictionLog: stores.predictionLog,
        audit: stores.audit ? { seq: stores.audit.seq, action: stores.audit.action } : null,
        tombstones: stores.tombstones,
        deletedObjects: stores.deleted.length,
        data: local.data.map((f) => ({ file: homePath(home.root, f.file), removed: f.removed })),
        logs: local.lines.map((f) => ({ file: homePath(home.root, f.file), removed: f.removed })),
        scratchDeleted: local.scratch.map((f) => homePath(home.root, f)),
        verify,
        seconds,
      };
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(eraseSummary(result));
      if (verify && verify.files.length > 0) {
        const e = new Error(
          `${verify.files.length} file(s) under ${home.root} still mention the id: ${verify.files.slice(0, 5).join(', ')}` +
            `${verify.files.length > 5 ? ', ...' : ''}`,
        );
        // One line, like every other failure this command expects (main prints a stack otherwise).
        e.stack = `error [ERASE_INCOMPLETE]: ${e.message}`;
        throw e;
      }
    });
}

interface EraseSummaryInput {
  subject: string;
  online: { deleted: number };
  raw: Array<{ key: string; removed: number }>;
  rawNotChecked: string[];
  snapshots: EraseResult['snapshots'];
  current: EraseResult['current'];
  quarantine: Array<{ key: string; removed: number }>;
  staging: { deleted: string[] };
  predictions: Array<{ key: string; removed: number }>;
  predictionLog: Array<{ key: string; removed: number }>;
  audit: { seq: number } | null;
  data: Array<{ file: string; removed: number }>;
  logs: Array<{ file: string; removed: number }>;
  scratchDeleted: string[];
  verify: { files: string[]; inCode: string[] } | null;
  seconds: number;
}

function eraseSummary(r: EraseSummaryInput): string {
  const sum = (xs: Array<{ removed: number }>) => xs.reduce((n, x) => n + x.removed, 0);
  const lines = [
    `erased customer ${r.subject.slice(0, 24)}... (keyed hash; the id is recorded nowhere) in ${r.seconds} s`,
    `  online store        ${r.online.deleted} row deleted`,
    `  raw zone            ${sum(r.raw)} records removed from ${r.raw.length} file(s)` +
      (r.rawNotChecked.length > 0
        ? `; NOT checked (not CSV/Parquet with an id column): ${r.rawNotChecked.join(', ')}`
        : ''),
    `  generated data      ${sum(r.data)} records removed from ${r.data.length} file(s)`,
    `  snapshots           ${r.snapshots.length} rewritten under new ids` +
      (r.snapshots.length > 0 ? `: ${r.snapshots.map((s) => `${s.from} -> ${s.to}`).join(', ')}` : ''),
    `  CURRENT             ${r.current.before ?? 'none'}${r.current.after !== r.current.before ? ` -> ${r.current.after}` : ' (unchanged)'}`,
    `  quarantine (other)  ${sum(r.quarantine)} rows removed`,
    `  staging             ${r.staging.deleted.length} objects deleted`,
    `  batch predictions   ${sum(r.predictions)} rows removed from ${r.predictions.length} file(s)`,
    `  prediction log      ${sum(r.predictionLog)} lines removed`,
    `  logs and metrics    ${sum(r.logs)} lines removed from ${r.logs.length} file(s)`,
    `  scratch             ${r.scratchDeleted.length} files deleted`,
    `  audit               ${r.audit ? `features audit entry ${r.audit.seq} (action erase)` : 'nothing changed in the feature store: no entry'}`,
  ];
  if (r.verify === null) lines.push('  verify              skipped (--no-verify)');
  else {
    lines.push(
      r.verify.files.length === 0
        ? '  verify              no file under the home mentions the id'
        : `  verify              STILL MENTIONED in: ${r.verify.files.join(', ')}`,
    );
    if (r.verify.inCode.length > 0)
      lines.push(
        `                      (also as a literal in bundled code, not data: ${r.verify.inCode.join(', ')})`,
      );
  }
  return lines.join('\n') + '\n';
}

/** `user@host: credit-risk data erase` for the audit log: the command line would carry the id. */
function eraser(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers).
  }
  return `${user}@${hostname()}: credit-risk data erase`;
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
