/**
 * Small-data benchmark (issue 18, docs/adr/0142-small-data-refit.md): test AUC of ours and of
 * LightGBM on real credit tables of 1,000-10,000 rows, same random split per seed, same search
 * budget (the grid below, chosen by validation AUC), 5 seeds.
 *
 *   node bin/run-ts.mjs bench/small-data/run.ts DIR [--seeds 5]
 *
 * DIR holds german.csv and taiwan.csv from bench/small-data/prepare.py. For each seed and table:
 * ours trains every grid point without refit (validation AUC picks one), then the picked point
 * is trained again with refit "auto" (small tables are refit on train + validation); LightGBM
 * (bench/small-data/lgb_peer.py) does the same search, then scores its pick as trained and
 * refit on train + validation. Prints a markdown table and writes DIR/small-data-results.json.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomSplit, DEFAULT_SPLIT_FRACTIONS } from '../../lib/model/split.ts';
import { readTable } from '../../lib/model/table.ts';
import { trainModel } from '../../lib/model/train.ts';

const GRID = [7, 15, 31].flatMap((numLeaves) =>
  [5, 20].map((minDataInLeaf) => ({ numLeaves, minDataInLeaf, learningRate: 0.05 })),
);
const NUM_TREES = 500;
const EARLY = 50;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seeds: { type: 'string', default: '5' } },
});
const dir = resolve(positionals[0] ?? '.');
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i + 1);
const python = resolve(import.meta.dirname, '../../.venv/bin/python');

interface Row {
  table: string;
  rows: number;
  seed: number;
  ours: number;
  oursNoRefit: number;
  lightgbm: number;
  lightgbmRefit: number;
  oursPick: string;
  lgbPick: string;
}
const results: Row[] = [];
for (const name of ['german', 'taiwan']) {
  const csv = join(dir, `${name}.csv`);
  const table = await readTable(csv);
  for (const seed of seeds) {
    const common = {
      input: table,
      target: 'status',
      timeColumn: null,
      ignore: ['row_id'],
      seed,
      protectedColumns: [],
    };
    const trials = [];
    for (const g of GRID) {
      const t = await trainModel({
        ...common,
        refit: 'never',
        params: { ...g, numTrees: NUM_TREES, earlyStoppingRounds: EARLY, numThreads: 1 },
      });
      trials.push({ g, valid: t.card.metrics.valid.auc, test: t.card.metrics.test.auc });
    }
    const pick = trials.reduce((a, b) => (b.valid > a.valid ? b : a));
    const final = await trainModel({
      ...common,
      refit: 'auto',
      params: { ...pick.g, numTrees: NUM_TREES, earlyStoppingRounds: EARLY, numThreads: 1 },
    });
    const split = randomSplit(table.numRows, seed, DEFAULT_SPLIT_FRACTIONS);
    const spec = join(dir, `spec-${name}-${seed}.json`);
    writeFileSync(
      spec,
      JSON.stringify({
        csv,
        target: 'status',
        ignore: ['row_id'],
        split: { train: [...split.train], valid: [...split.valid], test: [...split.test] },
        grid: GRID,
        numTrees: NUM_TREES,
        earlyStoppingRounds: EARLY,
        seed,
      }),
    );
    const r = spawnSync(python, [join(import.meta.dirname, 'lgb_peer.py'), spec], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    const lgb = JSON.parse(r.stdout) as {
      testAuc: number;
      refitTestAuc: number;
      best: { numLeaves: number; minDataInLeaf: number; trees: number };
    };
    const row: Row = {
      table: name,
      rows: table.numRows,
      seed,
      ours: final.card.metrics.test.auc,
      oursNoRefit: pick.test,
      lightgbm: lgb.testAuc,
      lightgbmRefit: lgb.refitTestAuc,
      oursPick: `${pick.g.numLeaves}/${pick.g.minDataInLeaf}, ${final.card.training.trees} trees`,
      lgbPick: `${lgb.best.numLeaves}/${lgb.best.minDataInLeaf}, ${lgb.best.trees} trees`,
    };
    results.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
}
writeFileSync(join(dir, 'small-data-results.json'), JSON.stringify(results, null, 2));
const f = (x: number) => x.toFixed(4);
console.log(
  '| table | seed | ours (refit) | ours, no refit | LightGBM | LightGBM refit | ours - best LightGBM |',
);
console.log('|---|---|---|---|---|---|---|');
for (const r of results)
  console.log(
    `| ${r.table} (${r.rows}) | ${r.seed} | ${f(r.ours)} | ${f(r.oursNoRefit)} | ${f(r.lightgbm)} | ${f(r.lightgbmRefit)} | ${f(r.ours - Math.max(r.lightgbm, r.lightgbmRefit))} |`,
  );
for (const name of ['german', 'taiwan']) {
  const rs = results.filter((r) => r.table === name);
  const mean = (k: keyof Row) => rs.reduce((s, r) => s + (r[k] as number), 0) / rs.length;
  console.log(
    `| ${name} mean | | ${f(mean('ours'))} | ${f(mean('oursNoRefit'))} | ${f(mean('lightgbm'))} | ${f(mean('lightgbmRefit'))} | ${f(mean('ours') - Math.max(mean('lightgbm'), mean('lightgbmRefit')))} |`,
  );
}
