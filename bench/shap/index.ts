/**
 * `npm run bench -- shap [options]`: TreeSHAP of the default model (what `npm start` trains),
 * ours against the `shap` package and LightGBM on the same trees, in one run.
 *
 *   (a) one row: explainRow p50 / p99 over --samples rows of the feature table (after a warm-up),
 *       with the precomputed contribution tables (the default) and with Algorithm 2 on every path;
 *   (b) batch: --batch-rows rows (the feature table's rows, cycled) on --threads threads
 *       (lib/model/shap-pool.ts), against bench/peers/shap_reference.py reading the same
 *       explainer.json: shap.TreeExplainer (tree_path_dependent; single-threaded C++) in one
 *       process and in --threads forked processes, and LightGBM pred_contrib on --threads threads.
 *       Times are the SHAP call only (no loading); every peer's output is compared with ours.
 *   (c) served path (bench/shap/served.ts): the in-process predict handler without reasons, with
 *       reasons and with explain, interleaved, over the snapshot's online rows; TreeSHAP of the
 *       served rows; the explainer's memory.
 *
 *   --rows N          loan records to generate (default: npm start's, 777,715)
 *   --seed N          generator seed (default 42, npm start's)
 *   --batch-rows N    rows of the batch run (default 1,000,000)
 *   --threads N       threads / processes of the batch run (default 2)
 *   --samples N       rows timed one by one (default 20,000)
 *   --peers LIST      shap,shap-processes,lightgbm (default all; "none" for ours only)
 *   --params JSON     GBDT parameters over npm start's (e.g. '{"numTrees":300,"earlyStoppingRounds":0}'
 *                     for a bigger model than the default)
 *   --dir DIR         cache for data and model (default $TMPDIR/credit-risk-bench-shap-r<rows>-s<seed>[-<params>])
 *   --skip-batch      (a) and (c) only: no batch run, no peers
 *   --rounds N        interleaved rounds of (c), 2,000 calls per variant each (default 10)
 *
 *   --blocks LIST     instead of (a)-(c): microseconds per row for blocks of LIST rows (e.g.
 *                     1,2,4,8,16: what the serving row batcher sends) for each table layout,
 *                     interleaved over --rounds rounds (default 10), and the explainer's load time
 *                     (bench/shap/blocks.ts)
 *   --model-dir DIR   with --blocks: this model directory instead of the prepared one (e.g. the
 *                     serve bench's), its rows from --features FILE (default: the prepared table)
 */
import '../serve/untraced.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { generateLoans } from '#lib/data/generate.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { EXPLAINER_FILE, explainerForModel } from '#lib/model/explainer-artifact.ts';
import { TreeShapExplainer } from '#lib/model/shap.ts';
import { ShapPool } from '#lib/model/shap-pool.ts';
import { readFeatureMatrix } from './feature-matrix.ts';
import { trainModel, writeModelDirectory } from '#lib/model/train.ts';
import { FULL_ROWS, START_TRAIN_PARAMS } from '#local/commands/start.ts';
import { blocksBench, blocksTable } from './blocks.ts';
import { servedPath, type ServedPathResult } from './served.ts';

const repo = resolve(import.meta.dirname, '../..');
const log = (m: string) => console.error(m);

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface Prepared {
  rows: number;
  seed: number;
  params: Record<string, unknown>;
  modelDir: string;
  features: string;
  trees: number;
  testAuc: number;
}

/** Generated loans -> features (DuckDB) -> the GBDT with npm start's parameters; cached per (rows, seed). */
async function prepare(
  dir: string,
  rows: number,
  seed: number,
  params: Record<string, unknown>,
): Promise<Prepared> {
  const done = join(dir, 'prepared.json');
  if (existsSync(done)) {
    const p = JSON.parse(readFileSync(done, 'utf8')) as Prepared;
    if (p.rows === rows && p.seed === seed && JSON.stringify(p.params) === JSON.stringify(params)) {
      log(`[shap bench] reusing data and model in ${dir}`);
      return p;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`[shap bench] generating ${rows.toLocaleString('en-US')} loans (seed ${seed}) and their features`);
  const raw = join(dir, 'loans.csv');
  generateLoans({ rows, seed, out: raw });
  await buildFeatures({
    input: raw,
    outDir: join(dir, 'snapshot'),
    onProgress: (m) => log(`[features] ${m}`),
  });
  rmSync(raw);
  const features = join(dir, 'snapshot', 'features.parquet');
  log(`[shap bench] training with parameters ${JSON.stringify(params)}`);
  const trained = await trainModel({
    input: features,
    params,
    onProgress: (line) => log(`[train] ${line}`),
  });
  const modelDir = join(dir, 'model');
  await writeModelDirectory(modelDir, trained);
  const p: Prepared = {
    rows,
    seed,
    params,
    modelDir,
    features,
    trees: trained.model.trees.length,
    testAuc: trained.card.metrics.test.auc,
  };
  writeFileSync(done, JSON.stringify(p, null, 2));
  return p;
}

function oneRow(explainer: TreeShapExplainer, matrix: Float32Array, rows: number, samples: number) {
  const F = explainer.numFeatures;
  const out = new Float64Array(F + 1);
  const row = (i: number) => matrix.subarray((i % rows) * F, ((i % rows) + 1) * F);
  for (let i = 0; i < 5000; i++) explainer.explainRow(row(i * 7), out);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const r = row(i * 13);
    const t = performance.now();
    explainer.explainRow(r, out);
    times.push((performance.now() - t) * 1000);
  }
  times.sort((a, b) => a - b);
  return {
    samples,
    p50Micros: quantile(times, 0.5),
    p99Micros: quantile(times, 0.99),
    meanMicros: times.reduce((s, x) => s + x, 0) / times.length,
  };
}

interface PeerReport {
  impl: string;
  rows: number;
  seconds: number;
  cpuSeconds: number;
  setupSeconds: number;
  threads: number;
  processes: number;
}

function runPeer(
  python: string,
  args: string[],
  out: string,
): { report: PeerReport; output: Float64Array } | { error: string } {
  const r = spawnSync(python, [join(repo, 'bench/peers/shap_reference.py'), ...args, '--out', out], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0)
    return { error: (r.stderr || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ') };
  const report = JSON.parse(r.stdout.trim().split('\n').pop() as string) as PeerReport;
  const bytes = readFileSync(out);
  rmSync(out);
  return {
    report,
    output: new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
  };
}

export async function main(args: string[]): Promise<void> {
  const rows = Number(arg(args, '--rows', String(FULL_ROWS)));
  const seed = Number(arg(args, '--seed', '42'));
  const batchRows = args.includes('--skip-batch') ? 0 : Number(arg(args, '--batch-rows', '1000000'));
  const threads = Number(arg(args, '--threads', '2'));
  const samples = Number(arg(args, '--samples', '20000'));
  const peerList = arg(args, '--peers', 'shap,shap-processes,lightgbm');
  const skipBatch = args.includes('--skip-batch');
  const peers = peerList === 'none' || skipBatch ? [] : peerList.split(',');
  const rounds = Number(arg(args, '--rounds', '10'));
  const extra = arg(args, '--params', '');
  const params = { ...START_TRAIN_PARAMS, ...(extra ? (JSON.parse(extra) as Record<string, unknown>) : {}) };
  const tag = extra ? `-${extra.replace(/[^a-zA-Z0-9]+/g, '')}` : '';
  const dir = resolve(arg(args, '--dir', join(tmpdir(), `credit-risk-bench-shap-r${rows}-s${seed}${tag}`)));
  const python = process.env.CREDIT_RISK_PYTHON ?? join(repo, '.venv/bin/python');
  const loadStart = loadavg()[0];
  log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );

  const prepared = await prepare(dir, rows, seed, params);
  const blockList = arg(args, '--blocks', '');
  if (blockList) {
    const blocks = blockList.split(',').map(Number);
    if (blocks.some((b) => !Number.isInteger(b) || b < 1))
      throw new Error(`--blocks ${blockList}: integers >= 1`);
    const result = await blocksBench({
      modelDir: resolve(arg(args, '--model-dir', prepared.modelDir)),
      features: resolve(arg(args, '--features', prepared.features)),
      blocks,
      rounds,
      log,
    });
    console.log(blocksTable(result, blocks));
    log(`load average: ${loadStart.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end`);
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/shap-blocks-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    writeFileSync(
      file,
      JSON.stringify({ args, ...result, loadAverage: { start: loadStart, end: loadavg()[0] } }, null, 2),
    );
    log(`raw results: ${file}`);
    return;
  }
  // The serving path: model.onnx names explainer.json by its sha256.
  const files = {
    model: readFileSync(join(prepared.modelDir, 'model.onnx')),
    explainer: readFileSync(join(prepared.modelDir, EXPLAINER_FILE)),
  };
  const loadStarted = performance.now();
  const loaded = explainerForModel(files);
  const loadMillis = performance.now() - loadStarted;
  if (!loaded.explainer) throw new Error(`no explainer: ${loaded.warning}`);
  const explainer = loaded.explainer;
  const names = explainer.featureNames as readonly string[];
  const F = names.length;
  const { matrix: base, rows: tableRows } = await readFeatureMatrix(prepared.features, names);
  log(
    `model: ${prepared.trees} trees, ${F} features (${names.join(', ')}), test AUC ${prepared.testAuc.toFixed(4)}; ` +
      `${explainer.stats.leaves} leaves, ${explainer.stats.tableEntries} table entries (${((explainer.stats.tableEntries * 8) / 1024).toFixed(0)} KiB), ` +
      `unique features per path ${JSON.stringify(explainer.stats.pathFeatureHistogram)}; explainer.json parsed + precomputed in ${loadMillis.toFixed(1)} ms`,
  );

  // (a) one row.
  const tables = oneRow(explainer, base, tableRows, samples);
  const algorithm2 = oneRow(
    explainerForModel(files, { maxTableDepth: 0 }).explainer as TreeShapExplainer,
    base,
    tableRows,
    samples,
  );
  log(
    `one row (${samples} rows): tables p50 ${tables.p50Micros.toFixed(1)} us, p99 ${tables.p99Micros.toFixed(1)} us; ` +
      `Algorithm 2 on every path p50 ${algorithm2.p50Micros.toFixed(1)} us, p99 ${algorithm2.p99Micros.toFixed(1)} us`,
  );

  // (c) the served path, before the batch run fills the heap.
  const served: ServedPathResult = await servedPath({
    modelDir: prepared.modelDir,
    onlineFile: join(dirname(prepared.features), 'online.parquet'),
    rounds,
    log,
  });

  // (b) batch.
  const batch = new Float32Array(new SharedArrayBuffer(batchRows * F * 4), 0, batchRows * F);
  for (let r = 0; r < batchRows; r += tableRows) {
    const n = Math.min(tableRows, batchRows - r);
    batch.set(base.subarray(0, n * F), r * F);
  }
  // The references cannot route -inf like us (bench/peers/shap_reference.py): such rows are not compared.
  const skipRow = new Uint8Array(batchRows);
  for (let i = 0; i < batch.length; i++)
    if (batch[i] === Number.NEGATIVE_INFINITY) skipRow[Math.floor(i / F)] = 1;
  const minusInf = skipRow.reduce((s, v) => s + v, 0);
  const xFile = join(dir, `batch-${batchRows}.f32`);
  writeFileSync(xFile, new Uint8Array(batch.buffer, 0, batch.byteLength));

  // CPU time (every thread of this process) beside wall time: on a shared machine the wall time of
  // each side depends on what else runs at that moment, the CPU time much less.
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const pool = new ShapPool(explainer.kernel, threads);
  let t = performance.now();
  let c = cpu();
  const ours = await pool.explainRows(batch, batchRows);
  const oursSeconds = (performance.now() - t) / 1000;
  const oursCpuSeconds = cpu() - c;
  await pool.close();
  t = performance.now();
  c = cpu();
  explainer.explainRows(batch, batchRows, new Float64Array(batchRows * (F + 1)));
  const oursOneThreadSeconds = (performance.now() - t) / 1000;
  const oursOneThreadCpuSeconds = cpu() - c;
  log(
    `batch ${batchRows.toLocaleString('en-US')} rows: ours ${oursSeconds.toFixed(2)} s on ${threads} threads (${Math.round(batchRows / oursSeconds).toLocaleString('en-US')} rows/s, ${oursCpuSeconds.toFixed(2)} CPU s), ` +
      `${oursOneThreadSeconds.toFixed(2)} s on 1 (${oursOneThreadCpuSeconds.toFixed(2)} CPU s)`,
  );

  const peerRuns: Record<string, unknown>[] = [];
  for (const peer of peers) {
    const peerArgs = ['--explainer', join(prepared.modelDir, EXPLAINER_FILE), '--rows', xFile];
    if (peer === 'shap') peerArgs.push('--impl', 'shap');
    else if (peer === 'shap-processes') peerArgs.push('--impl', 'shap', '--processes', String(threads));
    else if (peer === 'lightgbm') peerArgs.push('--impl', 'lightgbm', '--threads', String(threads));
    else throw new Error(`unknown peer ${peer} (shap, shap-processes, lightgbm)`);
    log(`[peer] ${peer} on ${batchRows.toLocaleString('en-US')} rows ...`);
    const r = runPeer(python, peerArgs, join(dir, `peer-${peer}.f64`));
    if ('error' in r) {
      log(`[peer] ${peer} FAILED: ${r.error}`);
      peerRuns.push({ peer, error: r.error });
      continue;
    }
    let worst = 0;
    for (let row = 0; row < batchRows; row++) {
      if (skipRow[row]) continue;
      for (let j = 0; j <= F; j++) {
        const k = row * (F + 1) + j;
        worst = Math.max(worst, Math.abs(ours[k] - r.output[k]));
      }
    }
    const ratio = r.report.seconds / oursSeconds;
    const cpuRatio = r.report.cpuSeconds / oursCpuSeconds;
    log(
      `[peer] ${peer}: ${r.report.seconds.toFixed(2)} s (${Math.round(batchRows / r.report.seconds).toLocaleString('en-US')} rows/s, ${r.report.cpuSeconds.toFixed(2)} CPU s); ` +
        `wall ratio ${ratio.toFixed(2)}, CPU ratio ${cpuRatio.toFixed(2)} (peer / ours); max |difference| ${worst.toExponential(2)}`,
    );
    peerRuns.push({ peer, ...r.report, ratio, cpuRatio, maxAbsDifference: worst });
  }
  rmSync(xFile);

  const loadEnd = loadavg()[0];
  const lines = [
    '| measure | ours | peer | peer value | ratio (peer / ours) wall, CPU |',
    '|---|---|---|---|---|',
    `| one row p50 (tables) | ${tables.p50Micros.toFixed(1)} us | goal | 200 us | |`,
    `| one row p99 (tables) | ${tables.p99Micros.toFixed(1)} us | | | |`,
    `| one row p50, Algorithm 2 on every path | ${algorithm2.p50Micros.toFixed(1)} us | | | |`,
    `| served rows: TreeSHAP p50 / p99 | ${served.shapServedRows.p50Micros.toFixed(1)} / ${served.shapServedRows.p99Micros.toFixed(1)} us | goal | 200 us | |`,
    `| predict handler p50, with reasons | ${(served.withReasons.p50Ms * 1000).toFixed(0)} us | same handler without reasons | ${(served.withoutReasons.p50Ms * 1000).toFixed(0)} us | ${served.ratioP50.toFixed(2)}x (goal <= 2x; p50 goal <= 500 us) |`,
    `| predict handler p99, with reasons | ${(served.withReasons.p99Ms * 1000).toFixed(0)} us | same handler without reasons | ${(served.withoutReasons.p99Ms * 1000).toFixed(0)} us | ${(served.withReasons.p99Ms / served.withoutReasons.p99Ms).toFixed(2)}x |`,
    `| predict handler CPU per request, ${served.cpuPerRequestMicros.concurrency} in flight, with reasons | ${served.cpuPerRequestMicros.withReasons.toFixed(0)} us | same handler without reasons | ${served.cpuPerRequestMicros.withoutReasons.toFixed(0)} us | ${served.cpuPerRequestMicros.ratio.toFixed(2)}x |`,
    `| predict handler p50, explain: true | ${(served.withExplain.p50Ms * 1000).toFixed(0)} us | same handler without reasons | ${(served.withoutReasons.p50Ms * 1000).toFixed(0)} us | ${served.ratioExplainP50.toFixed(2)}x |`,
    `| explainer in memory | ${(served.memory.kernelBytes / 1024).toFixed(0)} KiB arrays, heap +${served.memory.heapDeltaMiB.toFixed(1)} MiB | | | |`,
    ...peerRuns.map((p) =>
      'error' in p
        ? `| ${batchRows} rows | ${oursSeconds.toFixed(2)} s | ${p.peer} | failed | |`
        : `| ${batchRows} rows, ${threads} threads | ${oursSeconds.toFixed(2)} s (${oursCpuSeconds.toFixed(1)} CPU s) | ${p.peer}${p.peer === 'shap' ? ' (1 process)' : p.peer === 'shap-processes' ? ` (${threads} processes)` : ` (${threads} threads)`} | ${(p.seconds as number).toFixed(2)} s (${(p.cpuSeconds as number).toFixed(1)} CPU s) | ${(p.ratio as number).toFixed(2)}x, ${(p.cpuRatio as number).toFixed(2)}x |`,
    ),
  ];
  console.log(lines.join('\n'));
  log(`load average: ${loadStart.toFixed(1)} at start, ${loadEnd.toFixed(1)} at end`);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/shap-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        args,
        model: {
          params,
          trees: prepared.trees,
          features: names,
          testAuc: prepared.testAuc,
          stats: explainer.stats,
        },
        explainerLoadMillis: loadMillis,
        served,
        oneRow: { tables, algorithm2 },
        batch: {
          rows: batchRows,
          threads,
          oursSeconds,
          oursCpuSeconds,
          oursOneThreadSeconds,
          oursOneThreadCpuSeconds,
          rowsWithMinusInfinity: minusInf,
        },
        peers: peerRuns,
        loadAverage: { start: loadStart, end: loadEnd },
      },
      null,
      2,
    ),
  );
  log(`raw results: ${file}`);
}
