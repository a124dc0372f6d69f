import type { Command } from 'commander';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { resolveRawInput } from '#lib/features/raw-input.ts';
import { runDecision, runModelVersion, type RunEvent, type RunRecord } from '#lib/pipeline/run-record.ts';
import { RunFailedError } from '#local/exit-status.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { formatHistory, formatRunStatus } from '#local/runs/run-view.ts';
import { isInterrupted } from '#local/runs/running-trainings.ts';
import { CanaryTraffic } from '#local/sfn/canary-traffic.ts';
import { failAtFromEnv, runPipelineLocally, waitScaleFromEnv } from '#local/sfn/local-pipeline.ts';
import { ensureGeneratedRaw } from '#local/sfn/raw-data.ts';
import { divertTelemetry } from '#local/server/telemetry-sink.ts';

/**
 * `credit-risk pipeline ...`: the training state machine (state-machines/training.asl.json) run
 * on this machine by aws-local-stepfunctions, every execution recorded under the local home.
 */
export interface PipelineRunSummary {
  executionId: string;
  status: RunRecord['status'];
  modelVersion: string | null;
  decision: string | null;
  seconds: number;
}

export function summary(record: RunRecord, seconds: number): PipelineRunSummary {
  return {
    executionId: record.executionId,
    status: record.status,
    modelVersion: runModelVersion(record),
    decision: runDecision(record),
    seconds: Math.round(seconds * 10) / 10,
  };
}

/** One progress line per Task or Wait state that ends, on stderr. */
export function progressPrinter(
  log: (line: string) => void,
  indent = '  ',
): (event: RunEvent, record: RunRecord) => void {
  return (event, record) => {
    if (event.type !== 'StateExited' && event.type !== 'StateFailed') return;
    const state = [...record.states].reverse().find((s) => s.name === event.name && s.index === event.index);
    if (!state || (state.type !== 'Task' && state.type !== 'Wait' && state.type !== 'Map')) return;
    const time = state.ms !== undefined ? `${(state.ms / 1000).toFixed(1)} s` : '';
    const reused = record.tasks.some((t) => t.name === state.name && t.reused);
    if (event.type === 'StateFailed')
      log(
        `${indent}✗ ${state.name.padEnd(22)} ${time.padStart(7)}  ${event.error.error}: ${event.error.cause.slice(0, 160)}`,
      );
    else
      log(
        `${indent}✓ ${state.name.padEnd(22)} ${time.padStart(7)}${reused ? '  (reused from the failed run)' : ''}`,
      );
  };
}

export interface TrainingRunOptions {
  input: Record<string, unknown>;
  resume?: RunRecord;
  /** Synthetic traffic: for the whole run (true), only from the canary watch on ('canary'), or none. */
  traffic: boolean | 'canary';
  waitScale?: number;
  log: (line: string) => void;
}

/**
 * A local training run with synthetic traffic for its canary and progress on `log`. The handlers'
 * JSON logs and EMF metric lines go to files under the local home while it runs (as CloudWatch
 * Logs would take them), which is also where the canary judge reads the metrics from.
 */
export async function runTraining(
  root: LocalRoot,
  options: TrainingRunOptions,
): Promise<{ record: RunRecord; seconds: number; traffic: CanaryTraffic }> {
  const started = performance.now();
  const traffic = new CanaryTraffic(root, { log: options.log });
  const print = progressPrinter(options.log);
  const restore = divertTelemetry(
    { metrics: root.home.metrics, logs: join(root.home.root, 'logs') },
    'pipeline',
  );
  try {
    if (options.traffic === true) await traffic.start();
    const { record } = await runPipelineLocally({
      root,
      input: options.input,
      resume: options.resume,
      waitScale: options.waitScale ?? waitScaleFromEnv(),
      failAt: failAtFromEnv(),
      onEvent: (event, rec) => {
        if (options.traffic) traffic.onEvent(event);
        print(event, rec);
      },
    });
    return { record, seconds: (performance.now() - started) / 1000, traffic };
  } finally {
    const stats = await traffic.stop();
    await restore();
    if (stats && stats.requests > 0) {
      const versions = Object.entries(stats.byVersion)
        .map(
          ([v, c]) =>
            `${v.slice(0, 12)}: ${c.ok} ok${Object.keys(c.statuses).length ? `, ${JSON.stringify(c.statuses)}` : ''}`,
        )
        .join('; ');
      options.log(
        `  synthetic traffic: ${stats.requests} requests, ${stats.failures.length} without an answer (${versions})`,
      );
    }
  }
}

function positiveInt(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new InputError('BAD_NUMBER', `${flag} must be a whole number > 0, got ${JSON.stringify(raw)}`);
  return n;
}

function parseJsonObject(flag: string, raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new InputError('BAD_JSON', `${flag} must be a JSON object, got ${JSON.stringify(raw)}`);
}

interface RunFlags {
  rows?: string;
  seed: string;
  input?: string;
  asOf?: string;
  canaryWeight?: string;
  train?: string;
  gate?: string;
  canary?: string;
  tune?: string;
  traffic: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  const pipeline = program
    .command('pipeline')
    .description(
      'run the training (and batch-scoring) state machines locally (the same ASL files Step Functions runs) and inspect their runs',
    )
    .addHelpText(
      'after',
      '\nEach run goes: features -> train -> evaluate -> quality gate -> register -> build -> canary -> promote or\n' +
        'roll back -> notify, and is recorded under .credit-risk/runs. Notifications land in\n' +
        '.credit-risk/notifications/notifications.jsonl, canary metrics in .credit-risk/metrics.\n' +
        'Examples:\n' +
        '  credit-risk pipeline run --rows 50000\n' +
        '  credit-risk pipeline run --input raw/loans.csv --as-of 2022-01-01 --train \'{"numTrees":60}\' --json\n' +
        '  credit-risk pipeline status            # the latest run, state by state\n' +
        '  credit-risk pipeline history\n' +
        '  credit-risk pipeline resume RUN        # re-run a failed or interrupted run, reusing what it finished\n' +
        '  credit-risk pipeline batch             # batch-score the current snapshot with the champion\n' +
        'Environment: CREDIT_RISK_WAIT_SCALE (local Wait = Seconds x scale, default 0.01: the 600 s canary watch takes 6 s).\n' +
        'Exit code 3 when the run (run, resume, batch) ends failed, after its result is printed; 0 when it\n' +
        'succeeds, including a model rejected by the gate or a canary rolled back (the decision says which).',
    );

  pipeline
    .command('run')
    .description(
      'one training run on generated data (--rows) or a raw object already in the local store (--input)',
    )
    .option(
      '--rows <n>',
      'generate this many loan records (reused when already generated with the same seed)',
    )
    .option('--seed <n>', 'generator seed', '42')
    .option(
      '--input <key>',
      'raw object key in the local store (e.g. raw/loans.csv; raw/ = its newest file) instead of generating',
    )
    .option(
      '--as-of <date>',
      'snapshot date YYYY-MM-DD (default: the last loan date of generated data, else today)',
    )
    .option('--canary-weight <w>', 'share of traffic for the canary, in (0, 1)', '0.1')
    .option('--train <json>', 'GBDT parameters, e.g. {"numTrees":60,"learningRate":0.15}')
    .option('--gate <json>', 'quality gate overrides, e.g. {"minAuc":0.7}')
    .option('--canary <json>', 'canary judge thresholds, e.g. {"minCanaryRequests":50}')
    .option(
      '--tune <json>',
      'tune the GBDT first (the machine\'s tuning states, docs/adr/0146), e.g. {} or {"trials":16,"maxConcurrency":2}',
    )
    .option(
      '--no-traffic',
      'do not serve and send synthetic requests during the canary watch (the canary is then rolled back for lack of evidence)',
    )
    .option('--json', 'print {"executionId","status","modelVersion","decision","seconds"} on stdout')
    .action(async (flags: RunFlags) => {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const root = createLocalRoot();
      if (flags.rows !== undefined && flags.input !== undefined)
        throw new InputError('BAD_ARGUMENTS', 'give --rows or --input, not both');
      const input: Record<string, unknown> = { trigger: 'cli' };
      if (flags.input !== undefined) {
        // A prefix (raw/) is resolved by the state machine (ResolveInput) to its newest file, as in AWS; checked here first.
        const { key } = await resolveRawInput(root.objectStore, flags.input);
        if (key !== flags.input) log(`data: ${flags.input} -> its newest raw file ${key}`);
        input.input = flags.input;
      } else {
        const raw = await ensureGeneratedRaw(root, {
          rows: positiveInt('--rows', flags.rows ?? '50000'),
          seed: positiveInt('--seed', flags.seed),
        });
        log(
          `data: ${raw.rows.toLocaleString('en-US')} rows ${raw.generated ? 'generated' : 'reused'} (${raw.key})`,
        );
        input.input = raw.key;
        input.asOf = raw.lastLoanDate;
      }
      if (flags.asOf !== undefined) input.asOf = flags.asOf;
      const w = Number(flags.canaryWeight);
      if (!(w > 0 && w < 1))
        throw new InputError(
          'BAD_CANARY_WEIGHT',
          `--canary-weight must be in (0, 1), got ${JSON.stringify(flags.canaryWeight)}`,
        );
      input.canaryWeight = w;
      for (const [key, flag] of [
        ['train', '--train'],
        ['gate', '--gate'],
        ['canary', '--canary'],
        ['tune', '--tune'],
      ] as const) {
        const v = parseJsonObject(flag, flags[key]);
        if (v) input[key] = v;
      }
      const { record, seconds } = await runTraining(root, { input, traffic: flags.traffic, log }).finally(
        () => root.featureStore.close(),
      );
      const s = summary(record, seconds);
      if (flags.json) process.stdout.write(`${JSON.stringify(s)}\n`);
      else
        log(
          `${s.executionId}: ${s.status}${s.decision ? `, ${s.decision}` : ''} in ${s.seconds} s (credit-risk pipeline status ${s.executionId})`,
        );
      if (record.status === 'failed') throw new RunFailedError(record);
    });

  pipeline
    .command('batch')
    .description(
      'one batch-scoring run (state-machines/batch-scoring.asl.json, the nightly job in AWS): every row of the current feature snapshot scored by the champion',
    )
    .option('--snapshot <id>', 'score this published snapshot instead of the current one')
    .option('--model-version <v>', 'score with this registered version instead of the champion')
    .option(
      '--explain',
      'also write reason_1..reason_4 and contrib_<feature> (TreeSHAP) in every output (execution input explain: true)',
    )
    .option(
      '--json',
      'print {"executionId","status","snapshotId","modelVersion","shards","rows","positives","manifestKey","seconds"} on stdout',
    )
    .addHelpText(
      'after',
      '\nWrites predictions/<model>/<version>/snapshot=<id>/part-*.parquet and manifest.json (last) in the local\n' +
        "store, as the state machine does in S3. `credit-risk monitor drift` compares the champion's first and\n" +
        'latest complete batch runs (score PSI).\n' +
        'Example:\n' +
        '  credit-risk pipeline batch && credit-risk monitor drift',
    )
    .action(
      async (flags: { snapshot?: string; modelVersion?: string; explain?: boolean; json?: boolean }) => {
        const log = (line: string) => process.stderr.write(`${line}\n`);
        const root = createLocalRoot();
        const started = performance.now();
        const input: Record<string, unknown> = { trigger: 'cli' };
        if (flags.snapshot !== undefined) input.snapshotId = flags.snapshot;
        if (flags.modelVersion !== undefined) input.modelVersion = flags.modelVersion;
        if (flags.explain) input.explain = true;
        const restore = divertTelemetry(
          { metrics: root.home.metrics, logs: join(root.home.root, 'logs') },
          'batch',
        );
        let run;
        try {
          run = await runPipelineLocally({
            root,
            input,
            stateMachine: 'batch-scoring',
            onEvent: progressPrinter(log),
          });
        } finally {
          await restore();
          await root.featureStore.close();
        }
        const { record, result } = run;
        const manifest = ((result.output ?? {}) as { manifest?: Record<string, unknown> }).manifest ?? {};
        const s = {
          executionId: record.executionId,
          status: record.status,
          ...pick(manifest, ['snapshotId', 'modelVersion', 'shards', 'rows', 'positives', 'manifestKey']),
          seconds: Math.round((performance.now() - started) / 100) / 10,
        };
        if (flags.json) process.stdout.write(`${JSON.stringify(s)}\n`);
        else
          log(
            `${s.executionId}: ${s.status} in ${s.seconds} s (credit-risk pipeline status ${s.executionId})`,
          );
        if (record.status === 'failed') throw new RunFailedError(record);
      },
    );

  pipeline
    .command('status [run]')
    .description('a run state by state: input, time, result, error (default: the latest run)')
    .option('--json', 'the whole run record')
    .action((run: string | undefined, flags: { json?: boolean }) => {
      const record = new RunStore(createLocalRoot().home.runs).get(run);
      process.stdout.write(`${flags.json ? JSON.stringify(record, null, 2) : formatRunStatus(record)}\n`);
    });

  pipeline
    .command('history')
    .description('every recorded run, newest first')
    .option('--limit <n>', 'at most this many runs', '20')
    .option('--json', 'one summary object per run')
    .action((flags: { limit: string; json?: boolean }) => {
      const runs = new RunStore(createLocalRoot().home.runs)
        .list()
        .slice(0, positiveInt('--limit', flags.limit));
      if (flags.json)
        process.stdout.write(
          `${JSON.stringify(
            runs.map((r) => summary(r, r.seconds ?? 0)),
            null,
            2,
          )}\n`,
        );
      else process.stdout.write(`${formatHistory(runs)}\n`);
    });

  pipeline
    .command('resume <run>')
    .description(
      're-run a failed or interrupted run with its input; finished steps whose input is unchanged are reused, not recomputed',
    )
    .option('--no-traffic', 'no synthetic requests during the canary watch')
    .option('--json', 'print {"executionId","status","modelVersion","decision","seconds"} on stdout')
    .action(async (run: string, flags: { traffic: boolean; json?: boolean }) => {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const root = createLocalRoot();
      const failed = new RunStore(root.home.runs).get(run);
      if (failed.status !== 'failed' && !isInterrupted(failed)) {
        throw new InputError(
          'NOT_FAILED',
          `run ${failed.executionId} is ${failed.status}; only a failed or interrupted run can be resumed`,
        );
      }
      log(`resuming ${failed.executionId}`);
      const { record, seconds } = await runTraining(root, {
        input: {},
        resume: failed,
        traffic: flags.traffic,
        log,
      }).finally(() => root.featureStore.close());
      const s = summary(record, seconds);
      if (flags.json) process.stdout.write(`${JSON.stringify(s)}\n`);
      else log(`${s.executionId}: ${s.status}${s.decision ? `, ${s.decision}` : ''} in ${s.seconds} s`);
      if (record.status === 'failed') throw new RunFailedError(record);
    });
}

function pick(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
