import type { Command } from 'commander';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTrainingStarter } from '#lib/adapters/local/local-training-starter.ts';
import { InputError } from '#lib/errors.ts';
import { DEFAULT_PSI_THRESHOLD, fmt, type FeatureDrift } from '#lib/monitoring/drift-report.ts';
import {
  DEFAULT_COOLDOWN_DAYS,
  runDriftCheck,
  type CheckedReport,
  type TrainingStarter,
} from '#lib/monitoring/drift-check.ts';
import type { ScoreDrift, ScoreRun } from '#lib/monitoring/score-drift.ts';
import { DEFAULT_MIN_ROWS, DEFAULT_WINDOW_DAYS } from '#lib/monitoring/snapshot-window.ts';
import type { RunRecord } from '#lib/pipeline/run-record.ts';
import { DEFAULT_MODEL_NAME, shortId } from '#lib/registry/registry.ts';
import { RunFailedError } from '#local/exit-status.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { localRunningTrainings } from '#local/runs/running-trainings.ts';
import { registerMonitorReport } from './monitor-report.ts';
import { registerMonitorOutcomes } from './monitor-outcomes.ts';
import { runTraining, summary } from './pipeline.ts';

/**
 * `credit-risk monitor drift`: the drift check of the drift-check Lambda (lib/monitoring), on the
 * local stores. With --retrain, a drifted check runs the training state machine here, the way
 * `credit-risk pipeline run` does, with trigger "drift" (and the same cooldown as in AWS, and not
 * while another training run is in flight: local/runs/running-trainings.ts).
 */
interface DriftFlags {
  threshold?: string;
  windowDays?: string;
  minRows?: string;
  cooldownDays?: string;
  snapshot?: string;
  name: string;
  retrain?: boolean;
  input?: string;
  traffic: boolean;
  json?: boolean;
}

function number(
  flag: string,
  raw: string | undefined,
  check: (n: number) => boolean,
  what: string,
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || !check(n))
    throw new InputError('BAD_NUMBER', `${flag} must be ${what}, got ${JSON.stringify(raw)}`);
  return n;
}

/** The raw key to retrain on: --input, else the input of the newest recorded pipeline run. */
function retrainInput(root: LocalRoot, input: string | undefined): string {
  if (input !== undefined) return input;
  for (const run of new RunStore(root.home.runs).list()) {
    const key = (run.input as { input?: unknown } | null)?.input;
    if (typeof key === 'string' && key !== '') return key;
  }
  throw new InputError(
    'NO_RAW_INPUT',
    'no pipeline run is recorded to take the raw data from: give --input <raw key> (e.g. raw/loans.csv)',
  );
}

/** The local starter, and the run it started when that run failed (the command's exit code). */
function localStarter(
  root: LocalRoot,
  flags: DriftFlags,
  log: (line: string) => void,
): TrainingStarter & { failed?: RunRecord } {
  const runs: { failed?: RunRecord } = {};
  // Named starts as in Step Functions: a name (drift-<date>-<champion>) starts at most one run.
  const starter = new LocalTrainingStarter(join(root.home.root, 'training-starts'), {
    async running() {
      return localRunningTrainings(root);
    },
    async run(input) {
      // The local runner needs the raw object (in AWS the state machine's default, raw/, applies).
      const withRaw = { ...input, input: retrainInput(root, flags.input) };
      log(`drift above the threshold: running the training pipeline on ${withRaw.input}`);
      const { record, seconds } = await runTraining(root, { input: withRaw, traffic: flags.traffic, log });
      const s = summary(record, seconds);
      log(
        `${s.executionId}: ${s.status}${s.decision ? `, ${s.decision}` : ''} in ${s.seconds} s (credit-risk pipeline status ${s.executionId})`,
      );
      if (record.status === 'failed') runs.failed = record;
      return { executionId: record.executionId };
    },
  });
  // A getter, read after the run: Object.assign would copy the value at this point (none yet).
  return Object.defineProperty(starter, 'failed', { get: () => runs.failed }) as LocalTrainingStarter & {
    failed?: RunRecord;
  };
}

function featureLine(f: FeatureDrift): string {
  const ks = f.ks ? `${f.ks.d.toFixed(3)} (p ${f.ks.pValue < 1e-4 ? '<1e-4' : f.ks.pValue.toFixed(4)})` : '-';
  const mean = (x: number | null) => (x === null ? '-' : x.toPrecision(5));
  return `  ${f.feature.padEnd(28)} ${f.status.padEnd(10)} ${fmt(f.psi).padStart(8)} ${fmt(f.psiTrainingRows).padStart(10)}  ${ks.padEnd(20)} ${mean(f.referenceMean).padStart(10)} ${mean(f.mean).padStart(10)}`;
}

function runText(run: ScoreRun): string {
  const w = run.window;
  const rows = `${w.rows.toLocaleString('en-US')} of ${w.rowsInRun.toLocaleString('en-US')} rows`;
  return `snapshot ${run.snapshotId} scored ${run.createdAt} (${rows}${w.windowed ? `, loans ${w.from} .. ${w.to}` : ''})`;
}

/** The score line: PSI of the latest batch run against the first, or why there is none. */
export function scoreLine(score: ScoreDrift): string {
  if (!score.available) return `score drift: ${score.reason}`;
  return (
    `score PSI ${fmt(score.psi)} (${score.status}; reported, not a retrain reason): latest batch run ${runText(score.currentRun)}\n` +
    `  against the first, ${runText(score.referenceRun)}, over ${score.bins.length} bins (deciles of the first run's scores)`
  );
}

export function formatReport(report: CheckedReport, reportKey: string): string {
  const w = report.snapshot;
  const b = report.baseline;
  const lines = [
    `champion ${shortId(report.model.version)} (trained on snapshot ${report.model.trainedOnSnapshot ?? 'unknown'})`,
    `compared snapshot ${w.snapshotId}: ${w.rows.toLocaleString('en-US')} of ${w.rowsInSnapshot.toLocaleString('en-US')} rows, loans ${w.from} .. ${w.to}` +
      (w.extended
        ? ` (the ${w.windowDays}-day window held too few rows: the newest rows instead)`
        : ` (last ${w.windowDays} days)`),
    b.kind === 'training-snapshot-window'
      ? `baseline: the same window of the training snapshot ${b.window.snapshotId} (${b.window.rows.toLocaleString('en-US')} rows, ${b.window.from} .. ${b.window.to})`
      : `baseline: the card's training rows (${b.why})`,
    '',
    `  ${'feature'.padEnd(28)} ${'status'.padEnd(10)} ${'PSI'.padStart(8)} ${'PSI train'.padStart(10)}  ${'KS D'.padEnd(20)} ${'train mean'.padStart(10)} ${'mean now'.padStart(10)}`,
    ...report.features.map(featureLine),
    '',
    `max PSI ${fmt(report.maxPsi)}${report.maxPsiFeature ? ` (${report.maxPsiFeature})` : ''}, threshold ${report.threshold}: ${report.decision.retrain ? 'RETRAIN' : 'no retraining'}`,
    ...report.decision.reasons.map((r) => `  - ${r}`),
    scoreLine(report.score),
    // The score line above says what the score notes say.
    ...report.notes.filter((n) => !n.startsWith('score ')).map((n) => `note: ${n}`),
    `report: ${reportKey}`,
  ];
  return lines.join('\n');
}

export function register(program: Command): void {
  const monitor = program
    .command('monitor')
    .description('watch the system: feature drift of the current snapshot against the champion');
  registerMonitorReport(monitor);
  registerMonitorOutcomes(monitor);
  monitor
    .command('drift')
    .description(
      "PSI (and KS) of the newest rows of the current feature snapshot against the champion's reference; retrain above the threshold",
    )
    .option(
      '--threshold <psi>',
      `retrain when a feature's PSI is above this (the AWS alarm's driftPsiAlarm)`,
      String(DEFAULT_PSI_THRESHOLD),
    )
    .option(
      '--window-days <n>',
      "compare the loans of the snapshot's last N days",
      String(DEFAULT_WINDOW_DAYS),
    )
    .option(
      '--min-rows <n>',
      'when the window holds fewer rows, compare the newest N rows instead',
      String(DEFAULT_MIN_ROWS),
    )
    .option(
      '--cooldown-days <n>',
      'after a drift retraining, start no other for this many days',
      String(DEFAULT_COOLDOWN_DAYS),
    )
    .option('--snapshot <id>', 'compare this snapshot instead of the current one (features/CURRENT)')
    .option('--name <model>', 'model name in the registry', DEFAULT_MODEL_NAME)
    .option(
      '--retrain',
      'when drifted (not in cooldown, no training run in flight), run the training pipeline with trigger "drift"',
    )
    .option('--input <key>', 'raw object to retrain on (default: the input of the newest pipeline run)')
    .option('--no-traffic', 'with --retrain: no synthetic requests during the canary watch')
    .option('--json', 'print the whole outcome as JSON on stdout')
    .addHelpText(
      'after',
      '\nHow it works:\n' +
        "  - the champion card keeps the model's bins per feature; PSI is computed over those bins merged into\n" +
        '    about 10 groups of equal training mass, plus a group for missing values (empty side: 1e-4 share).\n' +
        '  - compared: the loans of the last --window-days of the current snapshot; baseline: the same window\n' +
        '    of the snapshot the champion was trained on (its oldest rows would differ by history alone).\n' +
        '  - PSI < 0.1 stable, up to the threshold shifting, above it drifted: a retraining is due.\n' +
        "  - score PSI: the same window of the champion's latest complete batch-scoring run (predictions/) against\n" +
        "    its first, over deciles of the first run's scores; reported only (a population change moves scores too).\n" +
        '  - the report is written to monitoring/drift/<time>.json in the local store (.credit-risk/store).\n' +
        'Examples:\n' +
        '  credit-risk pipeline run --rows 50000                      # a champion and a snapshot\n' +
        '  credit-risk monitor drift                                  # stable: the snapshot it was trained on\n' +
        '  credit-risk data generate --rows 50000 --seed 2 --drift income:0.5 --out drifted.csv\n' +
        '  credit-risk features build --input drifted.csv --out drifted/ && credit-risk features publish --snapshot drifted/\n' +
        '  credit-risk monitor drift                                  # amt_income_total drifted: RETRAIN\n' +
        '  cp drifted.csv .credit-risk/store/raw/loans-drifted.csv   # the local raw zone (S3 raw/ in AWS)\n' +
        '  credit-risk monitor drift --retrain --input raw/loans-drifted.csv\n' +
        'Exit code 0 whether or not drift was found (the report says); 3 if the retraining run it started failed.',
    )
    .action(async (flags: DriftFlags) => {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const config = {
        modelName: flags.name,
        threshold: number('--threshold', flags.threshold, (n) => n > 0, 'a number > 0'),
        windowDays: number(
          '--window-days',
          flags.windowDays,
          (n) => Number.isInteger(n) && n > 0,
          'a whole number > 0',
        ),
        minRows: number(
          '--min-rows',
          flags.minRows,
          (n) => Number.isInteger(n) && n > 0,
          'a whole number > 0',
        ),
        cooldownDays: number('--cooldown-days', flags.cooldownDays, (n) => n >= 0, 'a number >= 0'),
        snapshotId: flags.snapshot,
      };
      const root = createLocalRoot();
      try {
        const starter = flags.retrain === true ? localStarter(root, flags, log) : undefined;
        const outcome = await runDriftCheck(
          {
            featuresStore: root.objectStore,
            modelsStore: root.objectStore,
            clock: root.clock,
            tmpDir: tmpdir(),
            ...(starter ? { starter } : {}),
          },
          config,
        );
        if (flags.json) process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
        else if (outcome.status === 'skipped') log(`drift check skipped: ${outcome.reason}`);
        else
          process.stdout.write(
            `${formatReport(outcome.report, root.objectStore.describe(outcome.reportKey))}\n`,
          );
        // The report is out (and written) first: the failed retraining is the exit code's news.
        if (starter?.failed) throw new RunFailedError(starter.failed);
      } finally {
        await root.featureStore.close();
      }
    });
}
