/**
 * The train Lambda's work, in one process, for the bench's full-path check:
 *   node bin/run-ts.mjs bench/train/lambda-full.ts FEATURES.parquet OUT_DIR
 * Calls trainToDirectory exactly as functions/train does (default parameters: early stopping on
 * the validation split, the logistic baseline, ONNX export, test scoring, card and report), with
 * the table already on local disk (the Lambda first downloads it to /tmp: not measured here).
 * Prints {"wallSeconds","steps":[{"at","line"}],"version","auc","trees"} on stdout; the caller
 * measures the process's wall time and peak RSS from outside.
 */
import { trainToDirectory } from '#lib/model/train.ts';

const [input, out] = process.argv.slice(2);
const started = performance.now();
const steps: { at: number; line: string }[] = [];
const { trained } = await trainToDirectory({
  input,
  out,
  onProgress: (line) => {
    const at = (performance.now() - started) / 1000;
    steps.push({ at: Number(at.toFixed(2)), line });
    process.stderr.write(`  [${at.toFixed(1)} s] ${line}\n`);
  },
});
process.stdout.write(
  JSON.stringify({
    wallSeconds: (performance.now() - started) / 1000,
    steps,
    version: trained.version,
    auc: trained.card.metrics.test.auc,
    trees: trained.model.trees.length,
  }) + '\n',
);
