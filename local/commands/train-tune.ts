import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { sqlString } from '#lib/features/sql-text.ts';
import { resolveParams, type GbdtParams } from '#lib/model/gbdt/params.ts';
import { readManifestNextTo, trainToDirectory } from '#lib/model/train.ts';
import { inProcessTrials, prepareTrialData, tune } from '#lib/model/tuning.ts';
import { resolveTuneSettings, type TuningPlan, type TuneSettings } from '#lib/model/tuning-plan.ts';
import { featuresKeyFor } from '#lib/pipeline/train-step.ts';
import { systemClock } from '#lib/ports/clock.ts';
import { RunFailedError } from '#local/exit-status.ts';
import type { LocalHome } from '#local/home.ts';
import { divertTelemetry } from '#local/server/telemetry-sink.ts';
import { lambdaContext } from '#local/sfn/local-functions.ts';
import { runTuningLocally, trialAnswer } from '#local/sfn/tuning-machine.ts';

/**
 * `credit-risk train --tune`: the search of lib/model/tuning-plan.ts on a local table, either
 * through the tuning states of state-machines/training.asl.json on the local runner (the default:
 * the Map's TuneTrial invokes the real train handler in trial mode, as Step Functions invokes the
 * Lambda), or in this process (--in-process: the same planner and trials in a loop, no state
 * machine). Both choose the same settings for the same seed and table.
 */
export interface CliTuneOptions {
  input: string;
  target?: string;
  timeColumn?: string | null;
  ignore?: string[];
  /** The training params every configuration starts from (the CLI's --trees, --threads, ...). */
  base: Partial<GbdtParams>;
  tune: Partial<TuneSettings>;
  inProcess: boolean;
  home: LocalHome;
  log: (line: string) => void;
}

export interface CliTuneResult {
  plan: TuningPlan;
  runner: 'state-machine' | 'in-process';
  executionId: string | null;
  seconds: number;
}

export async function tuneForCli(options: CliTuneOptions): Promise<CliTuneResult> {
  // Bad settings are the caller's mistake: named before anything runs (exit 2, not a failed run).
  resolveTuneSettings(options.tune);
  resolveParams(options.base);
  const started = performance.now();
  const request = {
    tune: options.tune as Record<string, unknown>,
    base: options.base as Record<string, unknown>,
  };
  if (options.inProcess) {
    const data = await prepareTrialData({
      input: options.input,
      target: options.target,
      timeColumn: options.timeColumn,
      ignore: options.ignore,
      seed: resolveParams(options.base).seed,
    });
    const plan = await tune(request, inProcessTrials(data, { onProgress: options.log }));
    return { plan, runner: 'in-process', executionId: null, seconds: (performance.now() - started) / 1000 };
  }

  // The table becomes a snapshot in a scratch object store, with a manifest that says what the
  // CLI's options say (label, time column, ids), so the train handler reads it as it reads a
  // published snapshot.
  const dir = join(options.home.tmp, `tune-${randomUUID()}`);
  mkdirSync(dir, { recursive: true });
  // The handler's JSON logs and EMF lines go where `pipeline run` puts its functions' (stdout
  // stays the command's own, for --json).
  const restore = divertTelemetry(
    { metrics: options.home.metrics, logs: join(options.home.root, 'logs') },
    'train-tune',
  );
  try {
    const store = new FsObjectStore(join(dir, 'store'));
    const snapshotId = 'cli-table';
    const key = featuresKeyFor(snapshotId);
    await store.upload(await asParquet(options.input, dir), key);
    await store.put(
      `${key.slice(0, key.lastIndexOf('/') + 1)}manifest.json`,
      JSON.stringify(manifestFor(options)),
    );
    const { createHandler } = await import('#functions/train/handler.ts');
    const handler = createHandler({
      featuresStore: store,
      modelsStore: store,
      train: trainToDirectory,
      tmpDir: join(dir, 'tmp'),
      clock: systemClock,
    });
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    const run = await runTuningLocally({
      train: (payload) => handler(payload, lambdaContext('train')),
      snapshotId,
      tune: request.tune,
      base: request.base,
      runsDir: options.home.runs,
      clock: systemClock,
      onEvent: (event) => {
        const trial = trialAnswer(event);
        if (trial)
          options.log(
            `trial ${trial.id} (rung ${trial.rung}, ${trial.trainRows.toLocaleString('en-US')} rows): validation AUC ${trial.validAuc.toFixed(4)}, ${trial.trees} trees, ${trial.seconds.toFixed(1)} s`,
          );
        if (event.type === 'TaskAnswered' && event.name === 'PlanTuning') {
          const plan = (event.result as { Payload?: TuningPlan }).Payload;
          if (plan && !plan.done)
            options.log(
              `tuning rung ${plan.state.rung}: ${plan.trials.length} trials on ${(100 * (plan.trials[0]?.fraction ?? 1)).toFixed(1)}% of the training rows (Map, max concurrency ${plan.maxConcurrency})`,
            );
        }
      },
    });
    if (run.result.status !== 'succeeded' || !run.plan?.done) throw new RunFailedError(run.record);
    return {
      plan: run.plan,
      runner: 'state-machine',
      executionId: run.record.executionId,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await restore();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The manifest a `features build` would write, from the CLI's options over the table's own manifest. */
function manifestFor(options: CliTuneOptions): Record<string, unknown> {
  const own = readManifestNextTo(options.input);
  const label = options.target ?? own?.label ?? null;
  const time = options.timeColumn === null ? null : (options.timeColumn ?? own?.time ?? null);
  const ids = [...new Set([...(own?.ids ?? []), ...(options.ignore ?? [])])];
  return {
    snapshotId: own?.snapshotId ?? 'cli-table',
    columns: [
      ...ids.map((name) => ({ name, role: 'id' })),
      ...(label ? [{ name: label, role: 'label' }] : []),
      ...(time ? [{ name: time, role: 'time' }] : []),
    ],
  };
}

/** A Parquet copy of a CSV (the snapshot key is part-00000.parquet); a Parquet file as it is. */
async function asParquet(input: string, dir: string): Promise<string> {
  if (extname(input).toLowerCase() !== '.csv') return input;
  const out = join(dir, 'table.parquet');
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    // The same reader options as lib/model/table.ts, so the columns keep the types a CSV read gives.
    await conn.run(
      `COPY (SELECT * FROM read_csv(${sqlString(input)}, header = true, sample_size = -1, hive_partitioning = false)) TO ${sqlString(out)} (FORMAT parquet)`,
    );
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return out;
}
