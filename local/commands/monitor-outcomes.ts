import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { drawOutcomes, outcomesCsv, type Decision } from '#lib/data/outcomes.ts';
import { InputError } from '#lib/errors.ts';
import { ingestOutcomes } from '#lib/monitoring/outcomes.ts';
import { loadPerformance, realizedAucGap, type PerformanceReport } from '#lib/monitoring/performance.ts';
import { checkDate, decisionDate, readPredictionLog } from '#lib/monitoring/prediction-log-records.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry, shortId } from '#lib/registry/registry.ts';
import { createLocalRoot } from '#local/root.ts';

/**
 * `credit-risk monitor predictions | outcomes | performance` and `credit-risk data outcomes`: the
 * prediction log, loan outcomes joined back to it, and realized performance per model version
 * (lib/monitoring/prediction-log-records.ts, outcomes.ts, performance.ts).
 */

/** An object store names objects, not folders: the folder of one of its files. */
const folderOf = (described: string) => described.replace(/[^/\\]*$/, '');
const err = (line: string) => process.stderr.write(`${line}\n`);
const fixed = (x: number | null, digits = 4) => (x === null ? '-' : x.toFixed(digits));

function positiveInt(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new InputError('BAD_NUMBER', `${flag} must be a whole number >= 0, got ${JSON.stringify(raw)}`);
  return n;
}

export function registerMonitorOutcomes(monitor: Command): void {
  monitor
    .command('predictions')
    .description(
      'read the prediction log: every answer POST /predict served, with its model version and score',
    )
    .option('--since <date>', 'only answers on or after this UTC date (YYYY-MM-DD)')
    .option('--until <date>', 'only answers on or before this UTC date (YYYY-MM-DD)')
    .option('--id <customer>', "only this customer's answers")
    .option('--last <n>', 'how many of the newest answers to list (text output)', '20')
    .option('--json', 'print {files, records, badLines} as JSON on stdout (every record)')
    .addHelpText(
      'after',
      `
Where: .credit-risk/store/predictions-log/date=YYYY-MM-DD/<pid>.jsonl, one JSON line per answer
(time, requestId, customerId, modelVersion, snapshotId, probability, prediction, threshold, reasons),
written by every \`credit-risk serve\` process at most 20 ms after the answer. In AWS the same lines
arrive through Firehose in the features bucket under predictions-log/date=YYYY-MM-DD/.
The log holds customer ids: it is personal data, kept predictionLogDays (data retention) and
rewritten by data erase.

Examples:
  credit-risk monitor predictions                          # counts per version, the 20 newest answers
  credit-risk monitor predictions --since 2026-12-01 --json | jq '.records | length'
  credit-risk monitor predictions --id 5008827`,
    )
    .action(async (o: { since?: string; until?: string; id?: string; last: string; json?: boolean }) => {
      const since = o.since === undefined ? undefined : checkDate('--since', o.since);
      const until = o.until === undefined ? undefined : checkDate('--until', o.until);
      const last = positiveInt('--last', o.last);
      const root = createLocalRoot();
      const read = await readPredictionLog(root.objectStore, { since, until });
      const records = o.id === undefined ? read.records : read.records.filter((r) => r.customerId === o.id);
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({ files: read.files, records, badLines: read.badLines }, null, 2)}\n`,
        );
        return;
      }
      const perVersion = new Map<
        string,
        { n: number; positive: number; sum: number; first: string; last: string }
      >();
      for (const r of records) {
        const v = perVersion.get(r.modelVersion) ?? {
          n: 0,
          positive: 0,
          sum: 0,
          first: r.time,
          last: r.time,
        };
        v.n++;
        v.positive += r.prediction;
        v.sum += r.probability;
        v.last = r.time;
        perVersion.set(r.modelVersion, v);
      }
      const out: string[] = [
        `${records.length} answers in ${read.files} file(s)${read.badLines.length ? `, ${read.badLines.length} unreadable line(s)` : ''}`,
      ];
      for (const [v, s] of perVersion)
        out.push(
          `  ${shortId(v)}  ${String(s.n).padStart(7)} answers  ${((100 * s.positive) / s.n).toFixed(1).padStart(5)}% predicted 1  mean p ${(s.sum / s.n).toFixed(4)}  ${s.first} .. ${s.last}`,
        );
      if (last > 0 && records.length > 0) {
        out.push(
          '',
          `newest ${Math.min(last, records.length)}:`,
          '  time                      id            version       probability  prediction',
        );
        for (const r of records.slice(-last))
          out.push(
            `  ${r.time}  ${r.customerId.padEnd(12)}  ${shortId(r.modelVersion)}  ${r.probability.toFixed(4).padStart(11)}  ${r.prediction}`,
          );
      }
      process.stdout.write(`${out.join('\n')}\n`);
    });

  monitor
    .command('outcomes')
    .description(
      'ingest loan outcomes (id,decision_date,status) and join each to the prediction served that day',
    )
    .requiredOption(
      '--input <file.csv>',
      'CSV with columns id,decision_date,status (UTC date YYYY-MM-DD, status 1 = defaulted)',
    )
    .option('--json', 'print the ingest summary as JSON on stdout')
    .addHelpText(
      'after',
      `
How rows are matched: each row goes to the LAST prediction served for that id on that UTC date (an
earlier answer the same day was superseded). Every row lands in exactly one place, and the counts
add up to the rows of the file:
  matched    joined to its prediction; \`monitor performance\` reads these
  unmatched  well formed, but no prediction for that id on that date (listed, kept in unmatched.csv)
  rejected   not well formed: bad id, date or status, wrong field count, a second row for the same
             id and date (listed with the reason, kept in rejected.csv)
under .credit-risk/store/predictions-log/outcomes/ingest=<sha256 of the file>/. Ingesting the same
file again changes nothing (it says so). A later file with the same (id, decision_date) replaces
that outcome. In AWS, a CSV put under outcomes/ in the raw bucket is ingested the same way.

Examples:
  credit-risk data outcomes --out outcomes.csv              # outcomes for the ids in the log (synthetic)
  credit-risk monitor outcomes --input outcomes.csv
  credit-risk monitor outcomes --input outcomes.csv         # again: "already ingested", nothing changes
  credit-risk monitor performance
Exit codes: 0 ingested (unmatched and rejected rows are reported, not errors); 2 a file with no
id,decision_date,status header or no rows (BAD_OUTCOMES_HEADER, EMPTY_OUTCOMES), or a missing file.`,
    )
    .action(async (o: { input: string; json?: boolean }) => {
      const path = resolve(o.input);
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch (e) {
        throw new InputError('INPUT_NOT_FOUND', `cannot read --input ${o.input}: ${(e as Error).message}`);
      }
      const root = createLocalRoot();
      const result = await ingestOutcomes(root.objectStore, { bytes, source: path }, root.clock.now(), err);
      const s = result.summary;
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({ ingested: result.ingested, folder: folderOf(root.objectStore.describe(`${result.folder}summary.json`)), ...s }, null, 2)}\n`,
        );
        return;
      }
      const lines: string[] = [];
      if (!result.ingested)
        lines.push(`already ingested at ${s.ingestedAt} (sha256 ${s.sha256.slice(0, 12)}): nothing changed`);
      lines.push(
        `${s.rows} rows: ${s.matched} matched, ${s.unmatched} unmatched, ${s.rejected} rejected`,
        ...Object.entries(s.byModelVersion).map(([v, n]) => `  ${shortId(v)}  ${n} matched`),
      );
      for (const u of result.unmatchedRows.slice(0, 10))
        lines.push(`  unmatched line ${u.line}: id ${u.id} on ${u.decisionDate}: ${u.reason}`);
      if (result.unmatchedRows.length > 10)
        lines.push(`  ... ${result.unmatchedRows.length - 10} more unmatched`);
      for (const r of result.rejectedRows.slice(0, 10)) lines.push(`  rejected line ${r.line}: ${r.reason}`);
      if (result.rejectedRows.length > 10)
        lines.push(`  ... ${result.rejectedRows.length - 10} more rejected`);
      lines.push(
        `kept in ${folderOf(root.objectStore.describe(`${result.folder}summary.json`))} (matched.jsonl, unmatched.csv, rejected.csv)`,
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  monitor
    .command('performance')
    .description(
      'realized performance per model version: AUC, KS, calibration error and bad rate by decile from the outcomes',
    )
    .option(
      '--name <model>',
      "registered model whose cards give each version's offline test AUC",
      DEFAULT_MODEL_NAME,
    )
    .option(
      '--json',
      'print the report as JSON on stdout: {"versions":[{"modelVersion","rows","positives","realizedAuc","offlineAuc","ks","ece","weeks","deciles"}]}',
    )
    .addHelpText(
      'after',
      `
What it shows, per model version, from every outcome \`monitor outcomes\` matched:
  rows, positives        matched outcomes, and how many defaulted (status 1)
  realized AUC, KS, ECE  on the served probabilities (lib/model/metrics.ts, the metrics training reports;
                         ECE over 10 equal-width bins); '-' while the version has only one class
  offline AUC, gap       the card's test AUC, and offline - realized (the AWS alarm realizedAucGap
                         fires above realizedAucGapMax, default in lib/monitoring/alarm-thresholds.ts)
  by week                ISO weeks of the decision date
  bad rate by decile     outcomes cut in ten equal groups by score, 1 = lowest scores

Examples:
  credit-risk monitor performance
  credit-risk monitor performance --json | jq '.versions[] | {modelVersion, realizedAuc, offlineAuc}'`,
    )
    .action(async (o: { name: string; json?: boolean }) => {
      const root = createLocalRoot();
      const report = await loadPerformance({
        featuresStore: root.objectStore,
        registry: new ModelRegistry(root.objectStore, { name: o.name }),
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${formatPerformance(report)}\n`);
    });
}

export function formatPerformance(report: PerformanceReport & { ingests?: number }): string {
  if (report.versions.length === 0)
    return 'no matched outcomes yet: ingest some with credit-risk monitor outcomes --input FILE.csv';
  const out: string[] = [];
  for (const v of report.versions) {
    const gap = realizedAucGap(v);
    out.push(
      `${shortId(v.modelVersion)}  ${v.rows} outcomes, ${v.positives} positive`,
      `  realized AUC ${fixed(v.realizedAuc)}   offline AUC ${fixed(v.offlineAuc)}   gap ${gap === null ? '-' : gap.toFixed(4)}   KS ${fixed(v.ks)}   ECE ${fixed(v.ece)}`,
      '  week       rows  positives  realized AUC',
      ...v.weeks.map(
        (w) =>
          `  ${w.week}  ${String(w.rows).padStart(5)}  ${String(w.positives).padStart(9)}  ${fixed(w.realizedAuc).padStart(12)}`,
      ),
      `  bad rate by decile (1 = lowest scores): ${v.deciles.map((d) => (d.badRate === null ? '-' : `${(100 * d.badRate).toFixed(1)}%`)).join('  ')}`,
    );
  }
  return out.join('\n');
}

/** `credit-risk data outcomes` (registered by local/commands/data.ts). */
export function registerDataOutcomes(data: Command): void {
  data
    .command('outcomes')
    .description(
      "write synthetic loan outcomes for the decisions in the prediction log, drawn from the generator's label model",
    )
    .requiredOption('--out <file.csv>', 'output CSV (id,decision_date,status), written atomically')
    .option('--since <date>', 'only decisions on or after this UTC date (YYYY-MM-DD)')
    .option('--seed <n>', 'seed of the draws (same log and seed => the same file)', '1')
    .addHelpText(
      'after',
      `
One row per (customer, UTC date) the prediction log holds; the status is drawn from the relation the
generator labels loans with (lib/data/label.ts), on the customer's online features as of that date,
so the outcomes depend on the applicant as the training labels did and a good model scores well on
them. Customers no longer in the online store get no row (counted on stderr).

Examples:
  credit-risk data outcomes --out outcomes.csv
  credit-risk data outcomes --since 2026-12-01 --seed 7 --out outcomes.csv
  credit-risk monitor outcomes --input outcomes.csv && credit-risk monitor performance`,
    )
    .action(async (o: { out: string; since?: string; seed: string }) => {
      const since = o.since === undefined ? undefined : checkDate('--since', o.since);
      const seed = positiveInt('--seed', o.seed);
      const root = createLocalRoot();
      try {
        const log = await readPredictionLog(root.objectStore, { since });
        const seen = new Set<string>();
        const decisions: Decision[] = [];
        for (const r of log.records) {
          const d = { id: r.customerId, decisionDate: decisionDate(r) };
          const key = `${d.id}|${d.decisionDate}`;
          if (seen.has(key)) continue;
          seen.add(key);
          decisions.push(d);
        }
        if (decisions.length === 0)
          throw new InputError(
            'NO_PREDICTIONS',
            `the prediction log has no answers${since ? ` since ${since}` : ''}: serve some first (credit-risk serve, POST /predict)`,
          );
        err(
          `data outcomes: ${decisions.length} decisions in the prediction log (${log.records.length} answers)`,
        );
        const draw = await drawOutcomes(decisions, (id) => root.featureStore.get(id), { seed });
        const out = resolve(o.out);
        const tmp = `${out}.tmp-${process.pid}`;
        writeFileSync(tmp, outcomesCsv(draw.outcomes));
        renameSync(tmp, out);
        const positives = draw.outcomes.reduce((s, x) => s + x.status, 0);
        err(
          `data outcomes: ${draw.outcomes.length} outcomes (${positives} status 1), ${draw.skipped.length} skipped` +
            (draw.skipped.length ? ` (first: id ${draw.skipped[0].id}: ${draw.skipped[0].reason})` : ''),
        );
        process.stdout.write(`${out}\n`);
      } finally {
        await root.featureStore.close();
      }
    });
}
