import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
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
import { followErasures, readCurrentSnapshot } from '#lib/features/publish.ts';
import {
  DEFAULT_RETENTION,
  RETENTION_PARAMETERS,
  type RetentionPeriods,
} from '#lib/privacy/personal-data.ts';
import {
  deletionOrder,
  parsePeriodOverride,
  planRetention,
  SCRATCH_DAYS,
  type HomeEntry,
  type Protections,
  type RetentionPlan,
  type RetentionUnit,
} from '#lib/privacy/retention.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import {
  eraseFromDataFiles,
  eraseFromLineFiles,
  eraseFromScratch,
  filesUnder,
  homePath,
  pruneEmptyDirectories,
  scanForMentions,
  type LocalFileErasure,
} from '#lib/privacy/home-files.ts';
import { LOG_ID_KEY_ENV, logPseudonym } from '#lib/privacy/log-pseudonym.ts';
import { loadSubjectKey } from '#lib/privacy/subject-key.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import { createLocalRoot } from '../root.ts';
import { registerDataOutcomes } from './monitor-outcomes.ts';

/** `credit-risk data ...`: make raw loan files, check one, erase a customer, apply retention. */
export function register(program: Command): void {
  const data = program
    .command('data')
    // The top-level help may show this text without loading the module (command stubs): change both
    // together. erase and retention are listed by `credit-risk data --help`.
    .description('generate synthetic raw loan records (the Kueski challenge schema) and validate raw files');
  registerDataOutcomes(data);

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
  registerRetention(data);
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
          // Request logs name the customer by their keyed pseudonym (lib/privacy/log-pseudonym.ts).
          lines: mergeErasures([
            ...(await eraseFromLineFiles([join(home.root, 'logs'), home.metrics], id)),
            ...(await eraseFromLineFiles(
              [join(home.root, 'logs')],
              logPseudonym(id, process.env[LOG_ID_KEY_ENV] ?? ''),
            )),
          ]),
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

function registerRetention(data: Command): void {
  const periodNames = Object.keys(DEFAULT_RETENTION).map((k) => k.replace(/Days$/, ''));
  data
    .command('retention')
    .summary('list (and with --apply delete) what is past its retention period under the local home')
    .description(
      'The retention rules of docs/SECURITY.md, the local twin of the S3 lifecycle rules of the stack ' +
        '(infra/resources/storage.yml, periods from serverless.yml params), applied to the local home: raw ' +
        'files (store/raw/, data/), feature snapshots, quarantine, staging, batch predictions, the prediction ' +
        'log, drift reports, registry candidates, logs and metric files, scratch. A file is past its period ' +
        'when it was last written longer ago than the period; a folder that belongs together (a snapshot, a ' +
        'batch run, a candidate) goes as a whole, by its newest file.\n\n' +
        'Never deleted, whatever their age, and listed with the reason: the snapshot features/CURRENT names, ' +
        'the snapshot each champion or canary was trained on, and the snapshot and batch run each ' +
        'predictions/<model>/CURRENT names. Quarantine files expire by age even for the current snapshot, ' +
        'as in S3: they are for investigating a load, not for serving. Without --apply nothing is deleted.',
    )
    .option('--apply', 'delete what is past its period (manifests first)')
    .option(
      '--period <store=days>',
      `override one period, e.g. --period raw=365; stores: ${periodNames.join(', ')}; repeatable`,
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      '--name <model>',
      'only this registered model protects its training snapshots (default: every model)',
    )
    .option('--json', 'print the plan (and what was deleted) as JSON on stdout')
    .addHelpText(
      'after',
      `
Periods (days; serverless.yml params in AWS):
${Object.entries(DEFAULT_RETENTION)
  .map(
    ([k, v]) =>
      `  ${k.replace(/Days$/, '').padEnd(16)} ${String(v).padStart(4)}   ${RETENTION_PARAMETERS[k as keyof RetentionPeriods]}`,
  )
  .join('\n')}
  scratch             ${SCRATCH_DAYS}   (local only: tmp/)
noncurrentVersion applies to S3's versioned buckets only (no local versions).

Examples:
  credit-risk data retention                      # what is past its period, and what is kept anyway
  credit-risk data retention --apply
  credit-risk data retention --period logs=7 --period quarantine=30 --apply --json`,
    )
    .action(async (o: { apply?: boolean; period: string[]; name?: string; json?: boolean }) => {
      let periods: RetentionPeriods = { ...DEFAULT_RETENTION };
      for (const text of o.period) {
        const next = parsePeriodOverride(text, periods);
        if (typeof next === 'string') throw new InputError('BAD_PERIOD', next);
        periods = next;
      }
      const root = createLocalRoot();
      const home = root.home;
      const protections = await retentionProtections(root.objectStore, o.name);
      const entries: HomeEntry[] = filesUnder(home.root).map((file) => {
        const st = statSync(file);
        return { path: homePath(home.root, file), mtimeMs: st.mtimeMs, size: st.size };
      });
      const plan = planRetention(entries, periods, protections, root.clock.now());
      let deleted = 0;
      if (o.apply) {
        for (const unit of plan.expired)
          for (const file of deletionOrder(unit)) {
            rmSync(join(home.root, file), { force: true });
            deleted++;
          }
        for (const dir of ['store', 'data', 'logs', 'metrics', 'tmp'])
          pruneEmptyDirectoriesUnder(join(home.root, dir));
      }
      if (o.json)
        process.stdout.write(JSON.stringify({ ...plan, applied: o.apply === true, deleted }) + '\n');
      else process.stdout.write(retentionSummary(plan, o.apply === true, deleted));
    });
}

/** What no retention period may delete: what a pointer names (lib/privacy/retention.ts). */
async function retentionProtections(store: ObjectStore, onlyModel?: string): Promise<Protections> {
  const snapshots = new Map<string, string>();
  const predictionRuns = new Map<string, string>();
  const current = await readCurrentSnapshot(store);
  if (current) snapshots.set(current.snapshotId, 'features/CURRENT names it');
  const names = onlyModel
    ? [onlyModel]
    : [...new Set((await store.list('models/')).map((o) => o.key.split('/')[1]))].filter(Boolean);
  for (const name of names) {
    const registry = new ModelRegistry(store, { name });
    const aliases = await registry.aliases();
    for (const [role, version] of [
      ['champion', aliases.champion],
      ['canary', aliases.canary?.version ?? null],
    ] as const) {
      if (!version) continue;
      const { card } = await registry.card(version);
      const trainedOn = (card.data as { snapshotId?: unknown } | undefined)?.snapshotId;
      if (typeof trainedOn !== 'string') continue;
      const id = (await followErasures(store, trainedOn)) ?? trainedOn;
      snapshots.set(
        id,
        snapshots.get(id) ?? `the ${role} ${version.slice(0, 12)} of ${name} was trained on it`,
      );
    }
  }
  for (const o of await store.list('predictions/')) {
    const m = /^predictions\/([^/]+)\/CURRENT$/.exec(o.key);
    if (!m) continue;
    const pointer = await getJson<{ manifestKey?: string; snapshotId?: string }>(store, o.key);
    if (pointer?.manifestKey)
      predictionRuns.set(
        pointer.manifestKey.replace(/manifest\.json$/, ''),
        `predictions/${m[1]}/CURRENT names it`,
      );
    if (pointer?.snapshotId) {
      const id = (await followErasures(store, pointer.snapshotId)) ?? pointer.snapshotId;
      snapshots.set(id, snapshots.get(id) ?? `predictions/${m[1]}/CURRENT scored it`);
    }
  }
  return { snapshots, predictionRuns };
}

function pruneEmptyDirectoriesUnder(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) pruneEmptyDirectories(join(dir, entry.name));
}

function retentionSummary(plan: RetentionPlan, applied: boolean, deleted: number): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const row = (u: RetentionUnit) =>
    `  ${u.unit.padEnd(60)} ${u.store.padEnd(15)} ${String(u.ageDays).padStart(5)} d > ${String(u.periodDays).padStart(4)} d  ` +
    `${u.files.length} file(s), ${mb(u.bytes)}`;
  const out = [`retention as of ${plan.now} (docs/SECURITY.md, "Retention")`];
  out.push(
    plan.expired.length === 0
      ? '  nothing is past its period'
      : `${applied ? 'deleted' : 'past the period (deleted with --apply)'}: ${plan.expired.length} unit(s)`,
  );
  for (const u of plan.expired) out.push(row(u));
  if (plan.protected.length > 0) {
    out.push(`kept although past the period (never deleted: a pointer names them):`);
    for (const u of plan.protected) out.push(`${row(u)}  - ${u.keptBecause}`);
  }
  out.push(
    `within the period: ${plan.withinPeriod.units} unit(s), ${plan.withinPeriod.files} file(s), ${mb(plan.withinPeriod.bytes)}`,
    `no rule (registry, runs, builds, PGlite, audit logs, tombstones: no personal rows): ${plan.notCovered.files} file(s)`,
    'never deleted by age: the snapshot features/CURRENT names, the snapshots the champion and canary were ' +
      'trained on, the snapshot and batch run predictions/<model>/CURRENT name',
  );
  if (applied) out.push(`${deleted} file(s) deleted`);
  return out.join('\n') + '\n';
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

/** One entry per file: the id's and the pseudonym's passes over the same log add up. */
function mergeErasures(all: LocalFileErasure[]): LocalFileErasure[] {
  const byFile = new Map<string, LocalFileErasure>();
  for (const e of all) {
    const seen = byFile.get(e.file);
    byFile.set(e.file, seen ? { ...seen, removed: seen.removed + e.removed } : e);
  }
  return [...byFile.values()];
}
