/**
 * `npm run bench -- shap --blocks 1,2,4,8,16 [--model-dir DIR] [--features FILE]`: TreeSHAP cost
 * per row when rows come in blocks of a few (what the serving row batcher sends), for the kernel's
 * table layouts side by side in one run: the defaults (contribution tables per subtree), one table
 * per leaf (maxGroupSplits 0) and Algorithm 2 on every path (maxTableDepth 0). Variants alternate
 * block by block within each round, so a busy machine slows all of them alike; the figure is the
 * median over rounds. Also the explainer's load time (first build in this process, then the
 * median of 5) and its table entries per layout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXPLAINER_FILE, parseExplainer } from '#lib/model/explainer-artifact.ts';
import { TreeShapExplainer, type TreeShapOptions } from '#lib/model/shap.ts';
import { readFeatureMatrix } from './feature-matrix.ts';

export const LAYOUTS: { name: string; options: TreeShapOptions }[] = [
  { name: 'subtree tables (defaults)', options: {} },
  { name: 'one table per leaf', options: { maxGroupSplits: 0 } },
  { name: 'Algorithm 2 on every path', options: { maxTableDepth: 0 } },
];

/** Rows timed per block size and round: every block size explains the same rows. */
const ROWS = 4096;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1];
}

export interface BlocksResult {
  modelDir: string;
  rows: number;
  rounds: number;
  layouts: {
    name: string;
    options: TreeShapOptions;
    firstBuildMillis: number;
    buildMillis: number;
    tableEntries: number;
    tableGroups: number;
    microsPerRow: Record<string, number>;
  }[];
}

export async function blocksBench(options: {
  modelDir: string;
  features: string;
  blocks: number[];
  rounds: number;
  log: (m: string) => void;
}): Promise<BlocksResult> {
  const { model, featureNames } = parseExplainer(
    new Uint8Array(readFileSync(join(options.modelDir, EXPLAINER_FILE))),
  );
  const built = LAYOUTS.map(({ name, options: o }) => {
    let t = performance.now();
    let explainer = TreeShapExplainer.fromModel(model, o);
    const firstBuildMillis = performance.now() - t;
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      explainer = TreeShapExplainer.fromModel(model, o);
      times.push(performance.now() - t);
    }
    return { name, options: o, explainer, firstBuildMillis, buildMillis: median(times) };
  });
  const { matrix: all, rows: tableRows } = await readFeatureMatrix(options.features, featureNames);
  const F = featureNames.length;
  // Rows spread over the whole table, not its first (oldest) ones.
  const x = new Float32Array(ROWS * F);
  const step = Math.max(1, Math.floor(tableRows / ROWS));
  for (let i = 0; i < ROWS; i++) {
    const r = (i * step) % tableRows;
    x.set(all.subarray(r * F, (r + 1) * F), i * F);
  }
  const time = (explainer: TreeShapExplainer, block: number): number => {
    const out = new Float64Array(block * (F + 1));
    let n = 0;
    const t = performance.now();
    for (let i = 0; i + block <= ROWS; i += block) {
      explainer.explainRows(x.subarray(i * F, (i + block) * F), block, out);
      n += block;
    }
    return ((performance.now() - t) * 1000) / n;
  };
  // Warm-up: every variant and block size compiled before the timed rounds.
  for (const b of built) for (const block of options.blocks) time(b.explainer, block);
  const samples = built.map(() => new Map<number, number[]>());
  for (let round = 0; round < options.rounds; round++) {
    for (const block of options.blocks) {
      built.forEach((b, i) => {
        const list = samples[i].get(block) ?? [];
        list.push(time(b.explainer, block));
        samples[i].set(block, list);
      });
    }
    options.log(`[shap blocks] round ${round + 1}/${options.rounds}`);
  }
  return {
    modelDir: options.modelDir,
    rows: ROWS,
    rounds: options.rounds,
    layouts: built.map((b, i) => ({
      name: b.name,
      options: b.options,
      firstBuildMillis: b.firstBuildMillis,
      buildMillis: b.buildMillis,
      tableEntries: b.explainer.stats.tableEntries,
      tableGroups: b.explainer.stats.tableGroups,
      microsPerRow: Object.fromEntries(
        options.blocks.map((block) => [block, median(samples[i].get(block) ?? [])]),
      ),
    })),
  };
}

export function blocksTable(result: BlocksResult, blocks: number[]): string {
  return [
    `| layout | ${blocks.map((b) => `block ${b}`).join(' | ')} | table entries | build first / median |`,
    `|---|${blocks.map(() => '---|').join('')}---|---|`,
    ...result.layouts.map(
      (l) =>
        `| ${l.name} | ${blocks.map((b) => `${l.microsPerRow[b].toFixed(1)} us`).join(' | ')} | ${l.tableEntries.toLocaleString('en-US')} | ${l.firstBuildMillis.toFixed(0)} / ${l.buildMillis.toFixed(0)} ms |`,
    ),
  ].join('\n');
}
