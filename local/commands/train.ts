import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { InvalidArgumentError, type Command } from 'commander';
import { InputError } from '#lib/errors.ts';
import { EXPLAINER_FILE, explainerForModel } from '#lib/model/explainer-artifact.ts';
import { loadOnnxModel } from '#lib/model/onnx-runtime.ts';
import { ShapPool } from '#lib/model/shap-pool.ts';
import type { TreeShapExplainer } from '#lib/model/shap.ts';
import { isoDay, readTable, textAt } from '#lib/model/table.ts';
import { trainModel, writeModelDirectory } from '#lib/model/train.ts';
import { monthsUntilAucLoss, type StalenessRecord } from '#lib/model/staleness.ts';
import { measureStaleness, stalenessStudy } from '#lib/model/staleness-study.ts';
import { localHome, ensureHome } from '#local/home.ts';
import type { CliTuneResult } from './train-tune.ts';
import { explanationColumns } from '#lib/serving/batch-scoring.ts';
import { MAX_REASONS, topReasonIndices } from '#lib/serving/reasons.ts';

function intOption(name: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

function numberOption(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

function list(v: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

/** The git commit of the working tree, when there is one (CODE_VERSION wins, e.g. in CI). */
function codeVersion(): string | null {
  if (process.env.CODE_VERSION) return process.env.CODE_VERSION;
  try {
    return (
      execFileSync('git', ['rev-parse', 'HEAD'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() || null
    );
  } catch {
    return null;
  }
}

interface TrainCliOptions {
  input: string;
  target?: string;
  out: string;
  timeColumn?: string;
  randomSplit?: boolean;
  ignore?: string[];
  seed?: number;
  trees?: number;
  numLeaves?: number;
  learningRate?: number;
  maxBin?: number;
  earlyStopping?: number;
  threads?: number;
  name?: string;
  json?: boolean;
  tune?: boolean;
  trials?: number;
  budgetSeconds?: number;
  eta?: number;
  tuneSeed?: number;
  maxConcurrency?: number;
  inProcess?: boolean;
}

interface StalenessCliOptions {
  input: string;
  trainUntil?: string;
  scoreInput?: string;
  model?: string;
  after?: string;
  timeColumn?: string;
  target?: string;
  ignore?: string[];
  seed: number;
  threads?: number;
  out?: string;
  json?: boolean;
}

/** The month table a person reads in the terminal. */
export function formatStaleness(r: StalenessRecord): string {
  const f = (x: number | null, d = 4) => (x === null ? 'n/a' : x.toFixed(d));
  const lines = [
    `trained on data up to ${r.trainedUntil}; scored on ${r.scoredOn} (by ${r.timeColumn})`,
    'month    after  rows     positives  AUC     ECE     mean score  positive rate',
    ...r.months.map(
      (m) =>
        `${m.month}  ${String(m.monthsAfter).padStart(5)}  ${String(m.rows).padEnd(8)} ${String(m.positives).padEnd(10)} ${f(m.auc)}  ${f(m.ece)}  ${f(m.meanScore).padEnd(10)}  ${f(m.positiveRate)}`,
    ),
    `AUC per month: ${f(r.aucSlopePerMonth, 5)}; ECE per month: ${f(r.eceSlopePerMonth, 5)} (months of >= ${r.minRows} rows)`,
    `months to lose 0.01 AUC at that rate: ${f(monthsUntilAucLoss(r, 0.01), 1)}`,
  ];
  return `${lines.join('\n')}\n`;
}

interface PredictCliOptions {
  model: string;
  input: string;
  out: string;
  batch: number;
  explain?: boolean;
}

export function register(program: Command): void {
  program
    .command('train')
    .summary('train a GBDT on a features table: model.onnx, card.json, report.html')
    .description(
      'train a GBDT on a table (.parquet or .csv) whose feature columns are numeric (empty = missing) and whose target is 0/1;\n' +
        'writes DIR/model.onnx, DIR/card.json and DIR/report.html. With a time column the split is out of time\n' +
        '(oldest 70% train, next 15% validation, newest 15% test), otherwise random by --seed. Next to a\n' +
        '`features build` output, its manifest.json supplies the ids, time and label columns.',
    )
    .requiredOption('--input <table>', 'the training table (.parquet or .csv)')
    .option('--target <column>', 'the 0/1 label column (default: the manifest label)')
    .requiredOption('--out <dir>', 'directory for model.onnx, card.json, report.html')
    .option('--time-column <column>', 'split out of time by this date/number column (never a feature)')
    .option('--random-split', 'split randomly by --seed even when the manifest names a time column')
    .option('--ignore <columns>', 'comma-separated columns that are neither features nor target (ids)', list)
    .option(
      '--seed <n>',
      'seed for the random split, bagging and feature sampling',
      intOption('--seed', 0),
      42,
    )
    .option('--trees <n>', 'maximum boosting rounds (early stopping may keep fewer)', intOption('--trees', 1))
    .option('--num-leaves <n>', 'maximum leaves per tree', intOption('--num-leaves', 2))
    .option('--learning-rate <r>', 'shrinkage per tree', numberOption('--learning-rate'))
    .option(
      '--max-bin <n>',
      'value bins per feature (<= 255; missing has its own bin)',
      intOption('--max-bin', 2),
    )
    .option(
      '--early-stopping <n>',
      'stop after n trees without validation improvement (0 = off)',
      intOption('--early-stopping', 0),
    )
    .option('--threads <n>', 'threads for training (default: all cores)', intOption('--threads', 1))
    .option('--name <name>', 'model name written in the card', 'credit-risk')
    .option(
      '--tune',
      'search numLeaves, learningRate, minDataInLeaf, feature/bagging fractions and lambdaL2 first (successive halving on the validation split), then train with the best',
    )
    .option(
      '--trials <n>',
      'configurations to draw, the defaults being one (default 16; implies --tune)',
      intOption('--trials', 1),
    )
    .option(
      '--budget-seconds <s>',
      'stop the search after the rung that passes this many seconds (implies --tune)',
      numberOption('--budget-seconds'),
    )
    .option(
      '--eta <n>',
      'keep the best 1/eta of each rung (default 3; implies --tune)',
      intOption('--eta', 2),
    )
    .option(
      '--tune-seed <n>',
      'seed of the configurations and row samples (default 42; implies --tune)',
      intOption('--tune-seed', 0),
    )
    .option(
      '--max-concurrency <n>',
      'trials the state machine Map runs at once (default here 1: one machine; the pipeline defaults to 8 Lambdas)',
      intOption('--max-concurrency', 1),
    )
    .option(
      '--in-process',
      'run the search in this process instead of through the local state machine (same trials, same choice)',
    )
    .option(
      '--json',
      'print {"auc","prAuc","ks","brier","logloss","ece","threshold","trees","trainSeconds","version"} on stdout',
    )
    .addHelpText(
      'after',
      `
Examples:
  credit-risk features build --input loans.csv --out features/
  credit-risk train --input features/features.parquet --out model/        # ids, time, label from the manifest
  credit-risk train --input any.csv --target default --ignore customer_id --out model/ --json
  credit-risk train --input loans.parquet --target status --time-column loan_date --trees 500 --out model/
  credit-risk train --input features/features.parquet --tune --trials 16 --out model/
  open model/report.html

Tuning (--tune): successive halving (lib/model/tuning-plan.ts, docs/adr/0145): N configurations
(the first is the defaults) each train on 1/9 of the training rows, the best third on 1/3, and the
best of those is chosen; every trial is scored on the validation split only, never on test. By
default the search runs through the tuning states of state-machines/training.asl.json on the
local runner (its Map invokes the train handler in trial mode; the run is recorded under
.credit-risk/runs, see \`credit-risk pipeline status <id>\`); --in-process runs the same trials
in a loop. The card keeps every trial and the choice (card.tuning), the report shows them.

Progress goes to stderr; bad input exits with code 2 and one "error [CODE]: message" line.`,
    )
    .action(async (opts: TrainCliOptions) => {
      const started = performance.now();
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const params = definedOnly({
        numTrees: opts.trees,
        numLeaves: opts.numLeaves,
        learningRate: opts.learningRate,
        maxBin: opts.maxBin,
        earlyStoppingRounds: opts.earlyStopping,
        numThreads: opts.threads,
      });
      const tuned = wantsTuning(opts) ? await tuneFromCli(opts, params, log) : undefined;
      const trained = await trainModel({
        input: resolve(opts.input),
        target: opts.target,
        timeColumn: opts.randomSplit ? null : opts.timeColumn,
        ignore: opts.ignore,
        seed: opts.seed,
        params: tuned?.plan.chosen?.params ?? params,
        tuning: tuned?.plan.record ?? undefined,
        name: opts.name,
        codeVersion: codeVersion(),
        onProgress: log,
      });
      await writeModelDirectory(resolve(opts.out), trained);
      const m = trained.card.metrics.test;
      const trainSeconds = (performance.now() - started) / 1000;
      log(
        `wrote ${join(opts.out, 'model.onnx')}, card.json, report.html (version ${trained.version.slice(0, 12)})`,
      );
      if (opts.json) {
        const out = {
          auc: m.auc,
          prAuc: m.prAuc,
          ks: m.ks,
          brier: m.brier,
          logloss: m.logloss,
          ece: m.ece,
          threshold: trained.card.threshold,
          trees: trained.card.training.trees,
          trainSeconds,
          version: trained.version,
          ...(tuned ? { tuning: tuningSummary(tuned) } : {}),
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      }
    });

  program
    .command('staleness')
    .summary('how fast a model goes stale: AUC and calibration on each later month')
    .description(
      'Staleness, measured (docs/adr/0147): a model trained on data up to a date, scored on each later\n' +
        'month on its own (AUC, ECE, mean score vs positive rate), with the row-weighted change per month.\n' +
        "Either train one here on the rows of --input up to --train-until (the trainer's own out-of-time\n" +
        'split inside them) and score every later month of --score-input (default: --input), or measure a\n' +
        'trained --model directory on the rows of --input after --after (default: the end of its validation split).',
    )
    .requiredOption(
      '--input <table>',
      'the table to train on (with --train-until) or to score (with --model)',
    )
    .option('--train-until <YYYY-MM-DD>', 'train on the rows up to this day, score the months after it')
    .option(
      '--score-input <table>',
      "score this table's later months instead (e.g. the same loans generated with --drift)",
    )
    .option(
      '--model <dir>',
      'a trained model directory (model.onnx + card.json) to measure instead of training one',
    )
    .option(
      '--after <YYYY-MM-DD>',
      "with --model: score the rows after this day (default: the card's validation end)",
    )
    .option('--time-column <column>', "the date column (default: the manifest's or the card's)")
    .option('--target <column>', 'the 0/1 label column (default: the manifest label)')
    .option('--ignore <columns>', 'comma-separated columns that are neither features nor target', list)
    .option('--seed <n>', 'seed of the training', intOption('--seed', 0), 42)
    .option('--threads <n>', 'threads for training', intOption('--threads', 1))
    .option(
      '--out <dir>',
      'write the trained model (model.onnx, card.json, report.html) and staleness.json here',
    )
    .option('--json', 'print the staleness record (months, slopes, months to lose 0.01 AUC) on stdout')
    .addHelpText(
      'after',
      `
Examples:
  credit-risk staleness --input features/features.parquet --train-until 2020-12-31
  credit-risk data generate --rows 777715 --seed 1 --drift label:0.5 --out drifted.csv   # same loans, drifted labels
  credit-risk staleness --input features/features.parquet --score-input drifted/features.parquet --train-until 2020-12-31
  credit-risk staleness --model model/ --input newer/features.parquet --json`,
    )
    .action(async (opts: StalenessCliOptions) => {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      let record: StalenessRecord;
      if (opts.model) {
        const dir = resolve(opts.model);
        const cardPath = join(dir, 'card.json');
        if (!existsSync(cardPath) || !existsSync(join(dir, 'model.onnx')))
          throw new InputError('MISSING_MODEL_FILE', `${opts.model} must hold model.onnx and card.json`);
        const card = JSON.parse(readFileSync(cardPath, 'utf8')) as {
          features: string[];
          target: string;
          split?: { timeColumn?: string | null; valid?: { to?: string } };
        };
        const after = opts.after ?? card.split?.valid?.to;
        if (!after)
          throw new InputError(
            'MISSING_AFTER',
            'the card has no out-of-time validation end: pass --after YYYY-MM-DD',
          );
        record = await measureStaleness({
          modelBytes: new Uint8Array(readFileSync(join(dir, 'model.onnx'))),
          card,
          input: resolve(opts.input),
          after,
          timeColumn: opts.timeColumn,
        });
      } else {
        if (!opts.trainUntil)
          throw new InputError(
            'MISSING_OPTION',
            'give --train-until YYYY-MM-DD (train here) or --model DIR (measure one)',
          );
        const study = await stalenessStudy({
          input: resolve(opts.input),
          scoreInput: opts.scoreInput ? resolve(opts.scoreInput) : undefined,
          trainUntil: opts.trainUntil,
          target: opts.target,
          timeColumn: opts.timeColumn,
          ignore: opts.ignore,
          train: {
            seed: opts.seed,
            params: definedOnly({ numThreads: opts.threads }),
            codeVersion: codeVersion(),
            onProgress: log,
          },
        });
        record = study.staleness;
        if (opts.out) await writeModelDirectory(resolve(opts.out), study.trained);
      }
      if (opts.out) {
        mkdirSync(resolve(opts.out), { recursive: true });
        writeFileSync(join(resolve(opts.out), 'staleness.json'), `${JSON.stringify(record, null, 2)}\n`);
      }
      if (opts.json)
        process.stdout.write(
          `${JSON.stringify({ ...record, monthsToLose001Auc: monthsUntilAucLoss(record, 0.01) })}\n`,
        );
      else process.stdout.write(formatStaleness(record));
    });

  program
    .command('predict-file')
    .summary('score every row of a table with a trained model directory, to CSV')
    .description(
      'score every row of a table with a trained model: writes a CSV with the id columns passed through\n' +
        'and a `probability` column (of the label being 1). Features are taken by name in the order\n' +
        'of card.json (next to model.onnx); empty cells are missing values.\n' +
        'With --explain also reason_1..reason_4 (the features that pushed the score toward default,\n' +
        'largest first, as POST /predict answers them; empty past the last) and contrib_<feature> for\n' +
        'every feature (exact TreeSHAP from explainer.json next to model.onnx, in log-odds).',
    )
    .requiredOption(
      '--model <model.onnx>',
      'a model written by `credit-risk train` (card.json must sit beside it)',
    )
    .requiredOption(
      '--input <table>',
      "the rows to score (.parquet or .csv) with the model's feature columns",
    )
    .requiredOption('--out <file.csv>', 'where to write the predictions')
    .option('--batch <rows>', 'rows per onnxruntime call', intOption('--batch', 1), 65_536)
    .option('--explain', 'add reason_1..reason_4 and contrib_<feature> columns (needs explainer.json)')
    .addHelpText(
      'after',
      `
Examples:
  credit-risk predict-file --model model/model.onnx --input features/features.parquet --out predictions.csv
  credit-risk predict-file --model model/model.onnx --input new-loans.csv --out scored.csv
  credit-risk predict-file --model model/model.onnx --input new-loans.csv --out explained.csv --explain
Exit code 2 with NO_EXPLAINER when --explain is given and model.onnx has no matching explainer.json.`,
    )
    .action(async (opts: PredictCliOptions) => {
      await predictFile(opts);
    });
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function wantsTuning(opts: TrainCliOptions): boolean {
  return (
    opts.tune === true ||
    [opts.trials, opts.budgetSeconds, opts.eta, opts.tuneSeed, opts.maxConcurrency].some(
      (v) => v !== undefined,
    )
  );
}

async function tuneFromCli(
  opts: TrainCliOptions,
  params: Record<string, unknown>,
  log: (line: string) => void,
): Promise<CliTuneResult> {
  const home = ensureHome(localHome());
  // Loaded only when tuning: it brings the local runner and the train handler with it.
  const { tuneForCli } = await import('./train-tune.ts');
  const tuned = await tuneForCli({
    input: resolve(opts.input),
    target: opts.target,
    timeColumn: opts.randomSplit ? null : opts.timeColumn,
    ignore: opts.ignore,
    // The split's seed and the trials' GBDT seed are the final training's (--seed).
    base: { ...params, seed: opts.seed },
    tune: definedOnly({
      trials: opts.trials,
      budgetSeconds: opts.budgetSeconds,
      eta: opts.eta,
      seed: opts.tuneSeed,
      // One machine: the Map's trials one at a time unless asked (they share its cores).
      maxConcurrency: opts.maxConcurrency ?? 1,
    }),
    inProcess: opts.inProcess === true,
    home,
    log,
  });
  const chosen = tuned.plan.chosen;
  log(
    `tuning (${tuned.runner}${tuned.executionId ? ` ${tuned.executionId}` : ''}): ${tuned.plan.record?.trials.length ?? 0} trials in ${tuned.seconds.toFixed(1)} s; chose configuration ${chosen?.id}${chosen?.isDefaults ? ' (the defaults)' : ''}${chosen?.validAuc == null ? '' : `, validation AUC ${chosen.validAuc.toFixed(4)}`}`,
  );
  return tuned;
}

function tuningSummary(tuned: CliTuneResult): Record<string, unknown> {
  const record = tuned.plan.record;
  const chosen = tuned.plan.chosen;
  const defaults = record?.trials.filter((t) => t.id === 0).sort((a, b) => b.rung - a.rung)[0];
  return {
    runner: tuned.runner,
    executionId: tuned.executionId,
    seconds: tuned.seconds,
    trials: record?.trials.length ?? 0,
    chosen: chosen ? { id: chosen.id, validAuc: chosen.validAuc, params: chosen.params } : null,
    defaultsValidAuc: defaults ? { rung: defaults.rung, validAuc: defaults.validAuc } : null,
  };
}

async function predictFile(opts: PredictCliOptions): Promise<void> {
  const modelPath = resolve(opts.model);
  if (!existsSync(modelPath)) throw new InputError('NO_SUCH_FILE', `${opts.model} does not exist`);
  const cardPath = join(dirname(modelPath), 'card.json');
  if (!existsSync(cardPath))
    throw new InputError(
      'MISSING_MODEL_FILE',
      `${cardPath} does not exist: predict-file needs the card beside model.onnx`,
    );
  const card = JSON.parse(readFileSync(cardPath, 'utf8')) as { features?: string[]; idColumns?: string[] };
  const features = card.features;
  if (!Array.isArray(features) || features.length === 0)
    throw new InputError('BAD_MODEL_CARD', `${cardPath} has no "features" list`);
  const table = await readTable(resolve(opts.input));
  const missing = features.filter((f) => !table.columns.has(f));
  if (missing.length > 0) {
    throw new InputError(
      'MISSING_FEATURE',
      `${opts.input} lacks the model's feature column(s) ${missing.join(', ')}`,
    );
  }
  const columns = features.map((f) => {
    const col = table.columns.get(f);
    if (!col || col.kind !== 'numeric')
      throw new InputError('NON_NUMERIC_FEATURE', `feature column "${f}" of ${opts.input} is not numeric`, {
        column: f,
      });
    return col.values;
  });
  const idColumns = (card.idColumns ?? []).filter((c) => table.columns.has(c));
  const explainer = opts.explain ? await fileExplainer(modelPath, features) : undefined;
  const model = await loadOnnxModel(modelPath);
  if (model.numFeatures !== features.length) {
    throw new InputError(
      'BAD_MODEL_CARD',
      `card.json lists ${features.length} features but model.onnx takes ${model.numFeatures}`,
    );
  }
  const outPath = resolve(opts.out);
  await mkdir(dirname(outPath), { recursive: true });
  const tmp = `${outPath}.tmp-${process.pid}`;
  const stream = createWriteStream(tmp);
  const csvCell = (v: string | number | null) => {
    if (v === null || (typeof v === 'number' && Number.isNaN(v))) return '';
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const write = async (s: string) => {
    if (!stream.write(s)) await once(stream, 'drain');
  };
  const pool =
    explainer && table.numRows >= 16_384 && availableParallelism() > 1
      ? new ShapPool(explainer.kernel, availableParallelism())
      : undefined;
  try {
    const explained = explainer ? explanationColumns(features) : [];
    await write(`${[...idColumns, 'probability', ...explained].map(csvCell).join(',')}\n`);
    const F = features.length;
    for (let start = 0; start < table.numRows; start += opts.batch) {
      const rows = Math.min(opts.batch, table.numRows - start);
      const matrix = new Float32Array(rows * F);
      for (let f = 0; f < F; f++) {
        const c = columns[f];
        for (let i = 0; i < rows; i++) matrix[i * F + f] = c[start + i];
      }
      const p = await model.scoreRows(matrix, rows);
      const shap = !explainer
        ? undefined
        : pool
          ? await pool.explainRows(matrix, rows)
          : explainer.explainRows(matrix, rows);
      let text = '';
      for (let i = 0; i < rows; i++) {
        const r = start + i;
        const cells = idColumns.map((c) => {
          const col = table.columns.get(c);
          if (!col) return '';
          const v = col.kind === 'text' ? textAt(col, r) : col.values[r];
          if (col.kind === 'date' && typeof v === 'number' && !Number.isNaN(v)) {
            return Number.isInteger(v) ? isoDay(v) : new Date(v * 86_400_000).toISOString();
          }
          return csvCell(v);
        });
        cells.push(String(Number(p[i].toPrecision(9))));
        if (shap) {
          const top = topReasonIndices(shap, i * (F + 1), F);
          for (let k = 0; k < MAX_REASONS; k++) cells.push(k < top.length ? features[top[k]] : '');
          // Full precision: bias + the sum of a row's contributions is its margin.
          for (let f = 0; f < F; f++) cells.push(String(shap[i * (F + 1) + f]));
        }
        text += `${cells.join(',')}\n`;
      }
      await write(text);
    }
    stream.end();
    await once(stream, 'finish');
    renameSync(tmp, outPath);
  } finally {
    await model.release();
    await pool?.close();
  }
  process.stderr.write(`scored ${table.numRows} rows -> ${opts.out}\n`);
}

/** The TreeSHAP explainer of a model file (explainer.json beside it, named by model.onnx), or NO_EXPLAINER. */
async function fileExplainer(modelPath: string, features: readonly string[]): Promise<TreeShapExplainer> {
  const explainerPath = join(dirname(modelPath), EXPLAINER_FILE);
  const loaded = explainerForModel({
    model: new Uint8Array(readFileSync(modelPath)),
    explainer: existsSync(explainerPath) ? new Uint8Array(readFileSync(explainerPath)) : undefined,
  });
  if (!loaded.explainer)
    throw new InputError('NO_EXPLAINER', `${modelPath} cannot explain: ${loaded.warning ?? 'no explainer'}`);
  const names = loaded.explainer.featureNames ?? [];
  if (names.join(',') !== features.join(','))
    throw new InputError(
      'NO_EXPLAINER',
      `${explainerPath} lists features ${names.join(', ')}, card.json ${features.join(', ')}`,
    );
  return loaded.explainer;
}
