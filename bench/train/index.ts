/**
 * `npm run bench -- train [options]`: our GBDT vs LightGBM 4.x vs scikit-learn
 * HistGradientBoostingClassifier, same rows, bins, trees, leaves, learning rate and threads,
 * each in its own process (wall time of training incl. binning, peak RSS, test AUC).
 *
 *   --rows N            main table size (default 777715, the size of the real data set)
 *   --big-rows N        second table (default 5000000; 0 skips)
 *   --lambda-rows N     ours alone on a Lambda-sized run (default 10000000; 0 skips)
 *   --features FILE     use a `features build` table (manifest next to it) instead of synthetic rows
 *   --trees N --leaves L --learning-rate R --threads T --max-bin B
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { toRowMajorFloat32 } from '#lib/model/gbdt/booster.ts';
import { outOfTimeSplit, randomSplit, take } from '#lib/model/split.ts';
import { readTable } from '#lib/model/table.ts';
import { readManifestNextTo } from '#lib/model/train.ts';
import { writeSyntheticSplit, type BenchSplit } from './data.ts';

interface RunResult {
  trainSeconds: number;
  testAuc: number;
  peakRssBytes: number;
  trees: number;
}

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function runJson(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): RunResult | { error: string } {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (r.status !== 0) return { error: (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ') };
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as RunResult;
}

/** A features table split out of time (by its manifest's time column) into the bench files. */
export async function writeFeaturesSplit(file: string, dir: string): Promise<BenchSplit> {
  const manifest = readManifestNextTo(file);
  const table = await readTable(file);
  const label = manifest?.label ?? 'status';
  const skip = new Set([label, ...(manifest?.ids ?? []), ...(manifest?.time ? [manifest.time] : [])]);
  const features = table.schema.filter((c) => !skip.has(c.name)).map((c) => c.name);
  const col = (name: string) => {
    const c = table.columns.get(name);
    if (!c || c.kind === 'text') throw new Error(`column ${name} is not numeric`);
    return c.values;
  };
  const split = manifest?.time ? outOfTimeSplit(col(manifest.time)) : randomSplit(table.numRows, 42);
  mkdirSync(dir, { recursive: true });
  for (const part of ['train', 'valid', 'test'] as const) {
    const rows = split[part];
    const x = toRowMajorFloat32(features.map((f) => take(col(f), rows)), rows.length);
    writeFileSync(join(dir, `${part}.x.f32`), new Uint8Array(x.buffer));
    writeFileSync(join(dir, `${part}.y.u8`), Uint8Array.from(take(col(label), rows)));
  }
  const meta: BenchSplit = { features, rows: { train: split.train.length, valid: split.valid.length, test: split.test.length } };
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
  return meta;
}

const gib = (b: number) => (b / 2 ** 30).toFixed(2);

export async function main(args: string[]): Promise<void> {
  const rows = Number(arg(args, '--rows', '777715'));
  const bigRows = Number(arg(args, '--big-rows', '5000000'));
  const lambdaRows = Number(arg(args, '--lambda-rows', '10000000'));
  const featuresFile = arg(args, '--features', '');
  const params = {
    trees: Number(arg(args, '--trees', '200')),
    leaves: Number(arg(args, '--leaves', '31')),
    learningRate: Number(arg(args, '--learning-rate', '0.1')),
    threads: Number(arg(args, '--threads', '2')),
    maxBin: Number(arg(args, '--max-bin', '255')),
  };
  const python = resolve('.venv/bin/python');
  // OpenMP threads spin while waiting by default; on a shared, oversubscribed machine (ours) that
  // makes LightGBM and scikit-learn several times slower than they are. Passive waiting is the
  // fair setting there (our workers block in Atomics.wait, i.e. passive too).
  const peerEnv = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE', OMP_NUM_THREADS: String(params.threads) };
  const work = join(tmpdir(), `bench-train-${process.pid}`);
  const results: Record<string, unknown>[] = [];
  const datasets: { label: string; rows: number; peers: boolean }[] = [
    { label: featuresFile ? `features (${featuresFile})` : `synthetic ${rows.toLocaleString('en-US')}`, rows, peers: true },
  ];
  if (bigRows > 0) datasets.push({ label: `synthetic ${bigRows.toLocaleString('en-US')}`, rows: bigRows, peers: true });
  if (lambdaRows > 0) datasets.push({ label: `synthetic ${lambdaRows.toLocaleString('en-US')} (Lambda check)`, rows: lambdaRows, peers: false });

  try {
    for (const [k, ds] of datasets.entries()) {
      const dir = join(work, String(k));
      const meta = k === 0 && featuresFile ? await writeFeaturesSplit(resolve(featuresFile), dir) : writeSyntheticSplit(dir, ds.rows, 1 + k);
      console.error(`# ${ds.label}: train ${meta.rows.train}, test ${meta.rows.test}, ${meta.features.length} features`);
      const contestants: [string, () => RunResult | { error: string }][] = [
        ['ours (TypeScript GBDT)', () => runJson(process.execPath, ['bin/run-ts.mjs', 'bench/train/ours.ts', dir, JSON.stringify(params)])],
      ];
      if (ds.peers) {
        contestants.push(['LightGBM 4.5', () => runJson(python, ['bench/train/peers.py', 'lightgbm', dir, JSON.stringify(params)], peerEnv)]);
        contestants.push([
          'scikit-learn HGB 1.5',
          () => runJson(python, ['bench/train/peers.py', 'sklearn', dir, JSON.stringify(params)], peerEnv),
        ]);
      }
      const row: Record<string, unknown> = { dataset: ds.label, trainRows: meta.rows.train, features: meta.features.length };
      for (const [name, run] of contestants) {
        const loadBefore = loadavg()[0];
        const r = run();
        // The machine is shared: the 1-minute load average says how contended each run was.
        row[name] = { ...r, loadBefore, loadAfter: loadavg()[0] };
        console.error(`  ${name}: ${'error' in r ? `FAILED ${r.error}` : `${r.trainSeconds.toFixed(2)} s, AUC ${r.testAuc.toFixed(4)}, peak RSS ${gib(r.peakRssBytes)} GiB, ${r.trees} trees`}`);
      }
      results.push(row);
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const lines = [
    '| data | train rows | contestant | train wall s | x LightGBM | peak RSS GiB | test AUC | AUC - LightGBM | load avg before/after |',
    '|---|---:|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of results) {
    const lgbm = row['LightGBM 4.5'] as RunResult | undefined;
    for (const name of ['ours (TypeScript GBDT)', 'LightGBM 4.5', 'scikit-learn HGB 1.5']) {
      const r = row[name] as (RunResult & { loadBefore: number; loadAfter: number }) | { error: string } | undefined;
      if (!r) continue;
      if ('error' in r) {
        lines.push(`| ${row.dataset} | ${row.trainRows} | ${name} | failed: ${r.error} | | | | | |`);
        continue;
      }
      const ok = lgbm && !('error' in lgbm);
      lines.push(
        `| ${row.dataset} | ${(row.trainRows as number).toLocaleString('en-US')} | ${name} | ${r.trainSeconds.toFixed(2)} | ${ok ? (r.trainSeconds / lgbm.trainSeconds).toFixed(2) : ''} | ${gib(r.peakRssBytes)} | ${r.testAuc.toFixed(4)} | ${ok ? (r.testAuc - lgbm.testAuc >= 0 ? '+' : '') + (r.testAuc - lgbm.testAuc).toFixed(4) : ''} | ${r.loadBefore.toFixed(1)} / ${r.loadAfter.toFixed(1)} |`,
      );
    }
  }
  const table = lines.join('\n');
  console.log(table);
  mkdirSync('bench/results', { recursive: true });
  const out = `bench/results/train-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(out, JSON.stringify({ params, results, table, cpus: process.env.BENCH_NOTE ?? null }, null, 2));
  console.error(`raw results: ${out}`);
}
