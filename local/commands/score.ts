import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry, shortId } from '#lib/registry/registry.ts';
import { scoreFeatureTable } from '#lib/serving/batch-scoring.ts';
import { loadRegisteredModel, loadServingModelFromDir, type OnnxServingModel } from '#lib/serving/model.ts';
import { createLocalRoot } from '#local/root.ts';

/** `--model` is a directory (model.onnx + card.json) or a registry reference. */
async function openModel(ref: string, name: string): Promise<OnnxServingModel> {
  const threads = { intraOpNumThreads: 0 }; // 0: onnxruntime picks one thread per core for batches
  if (existsSync(ref) && statSync(ref).isDirectory()) {
    for (const f of ['model.onnx', 'card.json']) {
      if (!existsSync(resolve(ref, f)))
        throw new InputError('MODEL_DIR_INCOMPLETE', `${resolve(ref)} has no ${f}`);
    }
    return loadServingModelFromDir(ref, threads);
  }
  const root = createLocalRoot();
  return loadRegisteredModel(root.objectStore, new ModelRegistry(root.objectStore, { name }), ref, threads);
}

interface ScoreFlags {
  input: string;
  out: string;
  model: string;
  name: string;
  explain?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('score')
    .summary('batch-score a features table with a model (the same scoring as POST /predict)')
    .description(
      'batch-score a features table with a model: the same scoring code and threshold rule as POST /predict;\n' +
        'writes the input rows (minus the feature columns) plus probability, prediction and model_version.\n' +
        'With --explain also reason_1..reason_4 (the features that pushed each score toward default, largest\n' +
        'first, as /predict answers them; empty past the last) and contrib_<feature> for every model feature\n' +
        '(exact TreeSHAP, log-odds: the model bias plus their sum is the score in log-odds).',
    )
    .requiredOption(
      '--input <file>',
      "features table (.parquet or .csv) with the model card's feature columns",
    )
    .requiredOption('--out <file>', 'predictions file (.parquet or .csv)')
    .option(
      '--model <dir|version>',
      'a model directory (model.onnx + card.json), or a registered version, prefix, champion or canary',
      'champion',
    )
    .option('--name <model>', 'registered model name', DEFAULT_MODEL_NAME)
    .option(
      '--explain',
      'add reason_1..reason_4 and contrib_<feature> columns (the model needs explainer.json: trained with this version or later)',
    )
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  credit-risk score --input features/features.parquet --out predictions.parquet\n' +
        '  credit-risk score --input features.csv --out predictions.csv --model canary\n' +
        '  credit-risk score --input features.parquet --out p.parquet --model ./trained-model --json\n' +
        '  credit-risk score --input features.parquet --out explained.csv --explain\n' +
        'Exit code 2 with NO_EXPLAINER when --explain is given for a model without explainer.json.',
    )
    .action(async (options: ScoreFlags) => {
      if (!existsSync(options.input))
        throw new InputError('INPUT_NOT_FOUND', `no such file: ${options.input}`);
      const started = performance.now();
      const model = await openModel(options.model, options.name);
      try {
        if (!options.json)
          console.error(
            `scoring ${options.input} with ${shortId(model.version)} (threshold ${model.threshold})${options.explain ? ', with TreeSHAP reasons' : ''}`,
          );
        const result = await scoreFeatureTable({
          input: resolve(options.input),
          output: resolve(options.out),
          model,
          explain: options.explain === true,
        });
        const seconds = (performance.now() - started) / 1000;
        const summary = { ...result, seconds: Number(seconds.toFixed(3)), threshold: model.threshold };
        if (options.json) console.log(JSON.stringify(summary));
        else
          console.error(
            `${result.rows} rows scored, ${result.positives} predicted bad, in ${seconds.toFixed(2)} s -> ${result.output}`,
          );
      } finally {
        await model.release();
      }
    });
}
