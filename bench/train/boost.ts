/**
 * One run of what `credit-risk train` waits for while it boosts, in its own process:
 *   node bin/run-ts.mjs bench/train/boost.ts DIR PARAMS_JSON
 * The boost stage exactly as trainModel calls it (lib/model/train-stages.ts `boost`: the GBDT
 * with the validation split scored after every tree), on float64 columns as trainModel hands
 * them over, without early stopping so that every contestant builds the same number of trees.
 * Prints {"trainSeconds","cpuSeconds","testAuc","peakRssBytes","trees","validLogloss"} on stdout:
 * trainSeconds is the stage's wall time, cpuSeconds the process's user + system CPU over it (all
 * threads), validLogloss the validation logloss after the last tree.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { predictProbability } from '#lib/model/gbdt/booster.ts';
import { resolveParams } from '#lib/model/gbdt/params.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';
import { boost, type TrainingPart } from '#lib/model/train-stages.ts';
import type { BenchSplit } from './data.ts';

const [dir, paramsJson] = process.argv.slice(2);
const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as BenchSplit;
const params = JSON.parse(paramsJson) as {
  trees: number;
  leaves: number;
  learningRate: number;
  threads: number;
  maxBin: number;
};
const F = meta.features.length;

function load(part: 'train' | 'valid' | 'test') {
  const xb = readFileSync(join(dir, `${part}.x.f32`));
  const x = new Float32Array(xb.buffer, xb.byteOffset, xb.byteLength / 4);
  const y = new Uint8Array(readFileSync(join(dir, `${part}.y.u8`)));
  return { x, y, n: y.length };
}

/** The part as trainModel's split stage makes it: one Float64Array per feature. */
function trainingPart(part: 'train' | 'valid'): TrainingPart {
  const { x, y, n } = load(part);
  const columns = Array.from({ length: F }, (_, f) => {
    const c = new Float64Array(n);
    for (let i = 0; i < n; i++) c[i] = x[i * F + f];
    return c;
  });
  return { numRows: n, columns, label: y };
}

const train = trainingPart('train');
const valid = trainingPart('valid');
const gbdtParams = resolveParams({
  numTrees: params.trees,
  numLeaves: params.leaves,
  learningRate: params.learningRate,
  maxBin: params.maxBin,
  minDataInLeaf: 20,
  lambdaL2: 0,
  earlyStoppingRounds: 0,
  numThreads: params.threads,
});
const cpuBefore = process.cpuUsage();
const started = performance.now();
const { result } = await boost(train, valid, gbdtParams, () => {});
const trainSeconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const test = load('test');
const p = predictProbability(result.model, test.x, test.n);
process.stdout.write(
  JSON.stringify({
    trainSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    testAuc: binaryMetrics(test.y, p, 0.5).auc,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    trees: result.model.trees.length,
    validLogloss: result.history.at(-1)?.validLogloss,
  }) + '\n',
);
