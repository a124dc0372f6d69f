import type { Command } from 'commander';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { canonicalJson, runDecision, type RunRecord } from '#lib/pipeline/run-record.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry, shortId } from '#lib/registry/registry.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { ensureGeneratedRaw } from '#local/sfn/raw-data.ts';
import { knownCustomerIds } from '#local/sfn/synthetic-traffic.ts';
import { startServe } from '#local/server/serve.ts';
import { divertTelemetry } from '#local/server/telemetry-sink.ts';
import { runTraining } from './pipeline.ts';

/**
 * `npm start` = `credit-risk start`: the whole system on this machine in one command. Generate
 * the loans (or reuse them), run the training state machine (features, train, evaluate, gate,
 * register, build, canary at 10% under synthetic traffic, promote), then serve POST /predict.
 * A second start with the same data and parameters finds its run and the champion it produced,
 * and goes straight to serving.
 */
export const FULL_ROWS = 777_715;

/**
 * Training parameters of the start run, chosen for a one-minute first start: early stopping picks
 * the tree count. The first start on an empty home also trains a small baseline and makes it the
 * champion, so the real model has a champion to be canaried against, as in a running system.
 */
export const START_TRAIN_PARAMS = Object.freeze({ numTrees: 60, learningRate: 0.15 });
export const BASELINE_TRAIN_PARAMS = Object.freeze({ numTrees: 20, learningRate: 0.15 });
/** The 600 s canary watch of the ASL lasts 4 s here (the clients send a few hundred requests in it). */
export const START_WAIT_SCALE = 4 / 600;
/** A local canary watch sees a few hundred requests, not the thousands of a production window. */
export const START_CANARY_THRESHOLDS = Object.freeze({ minCanaryRequests: 50, minChampionRequests: 50 });

function rowsOption(raw: string | undefined): number {
  const value = raw ?? process.env.CREDIT_RISK_ROWS ?? String(FULL_ROWS);
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1000)
    throw new InputError(
      'BAD_ROWS',
      `--rows (or CREDIT_RISK_ROWS) must be a whole number >= 1000, got ${JSON.stringify(value)}`,
    );
  return n;
}

function portOption(raw: string | undefined): number {
  const value = raw ?? process.env.PORT ?? '8080';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InputError('BAD_PORT', `port must be 0-65535, got ${JSON.stringify(value)}`);
  return n;
}

/** The run of an earlier start with this very input whose model is still the champion. */
function reusableRun(
  root: LocalRoot,
  input: Record<string, unknown>,
  champion: string | null,
): RunRecord | undefined {
  if (!champion) return undefined;
  const wanted = canonicalJson(input);
  return new RunStore(root.home.runs)
    .list()
    .find(
      (r) =>
        r.status === 'succeeded' &&
        canonicalJson(r.input) === wanted &&
        ['promoted', 'unchanged'].includes(runDecision(r) ?? '') &&
        (r.output as { modelVersion?: string }).modelVersion === champion,
    );
}

export function register(program: Command): void {
  program
    .command('start')
    .summary('the whole system in one command: data, training pipeline, canary, serve (npm start)')
    .description(
      'the whole system locally in one command (npm start): generate loans, run the training pipeline\n' +
        '(features, train, evaluate, gate, register, build, canary at 10% under synthetic traffic, promote)\n' +
        'and serve POST /predict on localhost. A second start reuses what the first one built.',
    )
    .option(
      '--rows <n>',
      `loan records to generate (default $CREDIT_RISK_ROWS or ${FULL_ROWS.toLocaleString('en-US')}, the size of the real data set)`,
    )
    .option('--seed <n>', 'generator seed', '42')
    .option('--port <port>', 'HTTP port (default $PORT or 8080)')
    .option('--no-serve', 'stop after the pipeline instead of serving')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  npm start\n' +
        '  npm start -- --rows 50000          # smaller and faster\n' +
        '  CREDIT_RISK_ROWS=50000 PORT=9000 npm start\n' +
        'Then: credit-risk pipeline history, credit-risk models list, credit-risk pipeline status\n',
    )
    .action(async (flags: { rows?: string; seed: string; port?: string; serve: boolean }) => {
      const t0 = performance.now();
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const since = (t: number) => `${((performance.now() - t) / 1000).toFixed(1)} s`;
      const root = createLocalRoot();
      const rows = rowsOption(flags.rows);
      const port = portOption(flags.port);
      const seed = Number(flags.seed);
      if (!Number.isInteger(seed) || seed < 0)
        throw new InputError(
          'BAD_SEED',
          `--seed must be a whole number >= 0, got ${JSON.stringify(flags.seed)}`,
        );
      const registry = new ModelRegistry(root.objectStore, { name: DEFAULT_MODEL_NAME });

      try {
        log(`[1/3] data: ${rows.toLocaleString('en-US')} loan records (seed ${seed})`);
        let t = performance.now();
        const raw = await ensureGeneratedRaw(root, { rows, seed });
        log(
          `  ✓ ${raw.generated ? 'generated' : 'reused'} ${raw.customers.toLocaleString('en-US')} customers -> ${raw.file}  ${since(t)}`,
        );

        const base = {
          trigger: 'start',
          input: raw.key,
          asOf: raw.lastLoanDate,
          canaryWeight: 0.1,
          canary: START_CANARY_THRESHOLDS,
        };
        const input = { ...base, train: START_TRAIN_PARAMS };
        const previous = reusableRun(root, input, (await registry.aliases()).champion);
        let baseline: RunRecord | undefined;
        t = performance.now();
        if (previous) {
          log(
            `[2/3] pipeline: reusing ${previous.executionId} (same data and parameters; its model is the champion)  ${since(t)}`,
          );
        } else {
          if (!(await registry.aliases()).champion) {
            log(
              '[2/3] pipeline, first: a small baseline model becomes the champion (the first model has nothing to be canaried against)',
            );
            const first = await runTraining(root, {
              input: { ...base, train: BASELINE_TRAIN_PARAMS },
              traffic: false,
              log,
            });
            log(
              `  = ${first.record.executionId}: ${first.record.status}, ${runDecision(first.record) ?? '-'}  ${first.seconds.toFixed(1)} s`,
            );
            if (first.record.status !== 'succeeded')
              throw new Error(
                `the baseline run failed: credit-risk pipeline status ${first.record.executionId}`,
              );
            baseline = first.record;
          }
          log('[2/3] pipeline: the model, canaried at 10% of synthetic traffic against the champion');
          // Traffic from the canary watch on: training does not compete with it for the CPU.
          const run = await runTraining(root, { input, traffic: 'canary', log, waitScale: START_WAIT_SCALE });
          log(
            `  = ${run.record.executionId}: ${run.record.status}, ${runDecision(run.record) ?? '-'}  ${run.seconds.toFixed(1)} s`,
          );
          if (run.record.status !== 'succeeded') {
            log(
              `  the run failed; the champion keeps serving. Details: credit-risk pipeline status ${run.record.executionId}`,
            );
          }
        }

        const aliases = await registry.aliases();
        if (!aliases.champion) {
          // The quality gate turned the baseline down (small --rows make too few test positives
          // for a model to beat the base rate): a clear answer, not a stack trace.
          const out = baseline?.output as { status?: unknown; reasons?: unknown } | undefined;
          const reasons = Array.isArray(out?.reasons) ? out.reasons.map(String).join('; ') : 'see the run';
          throw new InputError(
            'NO_CHAMPION',
            `no model to serve: the quality gate ${out?.status === 'rejected' ? 'rejected' : 'did not promote'} the baseline model (${reasons}). ` +
              `With ${rows.toLocaleString('en-US')} loan records the test split may be too small; try --rows 50000 or more ` +
              `(default ${FULL_ROWS.toLocaleString('en-US')}). Details: credit-risk pipeline status${baseline ? ` ${baseline.executionId}` : ''}`,
          );
        }
        const [customer] = await knownCustomerIds(root.featureStore, 1);
        log(`ready in ${since(t0)} (champion ${shortId(aliases.champion)})`);
        if (!flags.serve) return;

        log('[3/3] serve');
        const restore = divertTelemetry({ metrics: root.home.metrics, logs: join(root.home.root, 'logs') });
        const running = await startServe({
          root,
          featureStore: root.featureStore,
          modelName: DEFAULT_MODEL_NAME,
          port,
          host: '127.0.0.1',
        });
        log(`  listening on ${running.server.url}  (Ctrl-C stops)`);
        log(`  try:    curl -s ${running.server.url}/predict -d '{"id":"${customer ?? '5008804'}"}'`);
        log(`  report: ${root.objectStore.describe(registry.reportKey(aliases.champion))}`);
        log(
          `  runs:   credit-risk pipeline history   models: credit-risk models list   API: ${running.server.url}/openapi.json`,
        );
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            log(`${signal}: finishing requests in flight...`);
            void running.close().then(restore).then(resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      } finally {
        await root.featureStore.close();
      }
    });
}
