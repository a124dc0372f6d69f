/**
 * One contestant run, in its own process so its peak RSS is its own:
 *   node bin/run-ts.mjs bench/train/ours.ts DIR PARAMS_JSON
 * Prints {"trainSeconds","cpuSeconds","testAuc","peakRssBytes","trees"} on stdout (cpuSeconds: user +
 * system CPU of the process over the training, all threads).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { predictProbability, trainGbdt } from '#lib/model/gbdt/booster.ts';
import { binaryMetrics } from '#lib/model/metrics.ts';
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

function columns(x: Float32Array, n: number): Float32Array[] {
  return Array.from({ length: F }, (_, f) => {
    const c = new Float32Array(n);
    for (let i = 0; i < n; i++) c[i] = x[i * F + f];
    return c;
  });
}

const train = load('train');
const trainColumns = columns(train.x, train.n);
train.x = new Float32Array(0);
const cpuBefore = process.cpuUsage();
const started = performance.now();
const result = await trainGbdt(
  { numRows: train.n, columns: trainColumns, label: train.y },
  {
    params: {
      numTrees: params.trees,
      numLeaves: params.leaves,
      learningRate: params.learningRate,
      maxBin: params.maxBin,
      minDataInLeaf: 20,
      lambdaL2: 0,
      earlyStoppingRounds: 0,
      numThreads: params.threads,
    },
  },
);
const trainSeconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const test = load('test');
const p = predictProbability(result.model, test.x, test.n);
const testAuc = binaryMetrics(test.y, p, 0.5).auc;
process.stdout.write(
  JSON.stringify({
    trainSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    testAuc,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    trees: result.model.trees.length,
  }) + '\n',
);
