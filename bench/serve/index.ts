/**
 * `npm run bench -- serve [--seconds S] [--connections C] [--customers N] [--batch-rows N]
 *                         [--data-rows N] [--data-dir DIR] [--warmup S] [--targets a,b] [--http-only]
 *                         [--generator wrk|node] [--ours-workers N]`
 *
 * Serving figures for docs/BENCHMARKS.md "## Serving": in-process handler latency with the feature
 * lookup, ONNX run cost per row, cold start of the bundled predict function in a fresh process,
 * batch scoring (these four with the serving test fixture model: tiny, so ONNX time is a floor),
 * and HTTP side by side (bench/peers/http-compare.ts): our `credit-risk serve` and the Python
 * peers (the challenge's Flask + pickled random forest reference design on Flask's server and on
 * gunicorn, and Starlette + uvicorn + onnxruntime with our model.onnx), each a child process hit in
 * turn by wrk (autocannon when wrk is missing) with the same request mix, over data the bench prepares
 * once (bench/peers/prepare.ts: generated loans, features build, publish, trained and registered
 * GBDT, SQLite rows, random forest) and reuses from --data-dir.
 */
import './untraced.ts';
import { DuckDBInstance } from '@duckdb/node-api';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { createPredictHandler } from '#functions/predict/handler.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { scoreFeatureTable } from '#lib/serving/batch-scoring.ts';
import { CachedFeatureStore, isScannable } from '#lib/serving/cached-feature-store.ts';
import { loadServingModelFromDir } from '#lib/serving/model.ts';
import { buildFunctions } from '../../scripts/build.ts';
import { checkTargetNames, compareHttp, ratios } from '../peers/http-compare.ts';
import { peersPython } from '../peers-venv.ts';
import { prepareServeData } from '../peers/prepare.ts';

const repo = resolve(import.meta.dirname, '../..');

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function customers(n: number): CustomerFeatureRow[] {
  const rows: CustomerFeatureRow[] = [];
  for (let i = 0; i < n; i++) {
    const nb = 1 + (i % 30);
    rows.push({
      id: String(5008804 + i),
      snapshotId: 'bench',
      nbLoans: nb,
      sumLoanAmount: nb * 100,
      lastLoanDate: '2024-06-01',
      nbLoansBeforeLastDate: nb - 1,
      sumLoanAmountBeforeLastDate: (nb - 1) * 100,
      birthday: `19${60 + (i % 40)}-0${1 + (i % 9)}-15`,
      jobStartDate: i % 4 === 0 ? null : `20${10 + (i % 10)}-03-01`,
      flagOwnCar: (i % 2) as 0 | 1,
      previousLoanDate: '2024-03-01',
      amtIncomeTotal: 50000 + (i % 100) * 1000,
    });
  }
  return rows;
}

/** The PGlite online store when its adapter is present (the real local store), else a Map. */
async function openStore(
  rows: CustomerFeatureRow[],
  dir: string,
): Promise<{ store: FeatureStore; kind: string }> {
  try {
    const mod = (await import('#lib/adapters/local/pglite-feature-store.ts')) as {
      PgliteFeatureStore: new (dataDir?: string) => FeatureStore;
    };
    const store = new mod.PgliteFeatureStore(join(dir, 'pglite'));
    await store.init();
    await store.replaceSnapshot('bench', [rows]);
    return { store, kind: 'PGlite (embedded PostgreSQL, on disk)' };
  } catch (e) {
    console.error(`PGlite store unavailable (${(e as Error).message}); using an in-memory Map`);
    const map = new Map(rows.map((r) => [r.id, r]));
    const store: FeatureStore = {
      init: async () => {},
      replaceSnapshot: async () => ({ rows: 0 }),
      get: async (id) => map.get(id),
      deleteCustomer: async (id) => ({ deleted: map.delete(id) ? 1 : 0 }),
      currentSnapshot: async () => 'bench',
      ping: async () => {},
      close: async () => {},
    };
    return { store, kind: 'in-memory Map' };
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '32' },
      customers: { type: 'string', default: '50000' },
      'batch-rows': { type: 'string', default: '1000000' },
      'data-rows': { type: 'string', default: '200000' },
      'data-dir': { type: 'string' },
      warmup: { type: 'string', default: '2' },
      targets: { type: 'string', default: 'ours,flask,gunicorn,starlette-onnx,node-floor' },
      'http-only': { type: 'boolean', default: false },
      generator: { type: 'string', default: 'wrk' },
      'ours-workers': { type: 'string' },
    },
  });
  // Before minutes of preparing data: a misspelt target would otherwise just not run.
  checkTargetNames(values.targets!.split(','));
  const work = mkdtempSync(join(tmpdir(), 'cr-bench-serve-'));
  const python = resolve(repo, '.venv/bin/python');
  const results: Record<string, unknown> = {
    machine: '2 cores shared with other work; load generator on the same machine',
  };

  if (!values['http-only']) {
    const modelDir = join(work, 'model');
    execFileSync(python, [join(repo, 'test/integration/serving/make_fixture_model.py'), modelDir, '0.5']);
    const rows = customers(Number(values.customers));
    const ids = rows.map((r) => r.id);
    const { store, kind } = await openStore(rows, work);
    const model = await loadServingModelFromDir(modelDir);
    results.store = kind;

    // 1. In-process handler latency (parse, lookup, features, ONNX, metrics, log), stdout muted:
    // over the store itself, and over the in-memory copy of its current snapshot that
    // `credit-risk serve` puts in front of it (lib/serving/cached-feature-store.ts); and the
    // lookup alone through each.
    const context = { awsRequestId: 'bench', functionName: 'predict' } as Context;
    const event = (id: string) => ({
      resource: '/predict',
      path: '/predict',
      httpMethod: 'POST',
      body: `{"id":"${id}"}`,
      isBase64Encoded: false,
      requestContext: { requestId: 'r' },
    });
    const inProcess = async (featureStore: FeatureStore) => {
      const handler = createPredictHandler({ featureStore, clock: fixedClock('2025-01-01'), model });
      const write = process.stdout.write;
      process.stdout.write = (() => true) as typeof process.stdout.write;
      const lat: number[] = [];
      const lookup: number[] = [];
      try {
        for (let i = 0; i < 2000; i++) await handler(event(ids[i % ids.length]), context);
        for (let i = 0; i < 20000; i++) {
          const t = performance.now();
          const r = (await handler(event(ids[(i * 7919) % ids.length]), context)) as APIGatewayProxyResult;
          lat.push(performance.now() - t);
          if (r.statusCode !== 200) throw new Error(`unexpected ${r.statusCode}`);
        }
        for (let i = 0; i < 20000; i++) {
          const t = performance.now();
          await featureStore.get(ids[(i * 7919) % ids.length]);
          lookup.push(performance.now() - t);
        }
      } finally {
        process.stdout.write = write;
      }
      lat.sort((a, b) => a - b);
      lookup.sort((a, b) => a - b);
      return {
        calls: lat.length,
        p50Ms: percentile(lat, 0.5),
        p99Ms: percentile(lat, 0.99),
        lookupP50Ms: percentile(lookup, 0.5),
        lookupP99Ms: percentile(lookup, 0.99),
      };
    };
    results.inProcess = { store: kind, ...(await inProcess(store)) };
    if (isScannable(store)) {
      const heapBefore = process.memoryUsage().heapUsed;
      let load: { rows: number; ms: number } | undefined;
      const cache = await new CachedFeatureStore(store, { onLoad: (l) => (load = l) }).start();
      const heapAfter = process.memoryUsage().heapUsed;
      results.inProcessCached = {
        store: `in-memory copy of the ${kind} snapshot`,
        load,
        heapDeltaMiB: (heapAfter - heapBefore) / 2 ** 20,
        ...(await inProcess(cache)),
      };
      await cache.close();
    }

    // 2. ONNX run cost: one row at a time, and per row in a 100k batch.
    const one = new Float32Array([5, 100, 40, 10, 0]);
    let t = performance.now();
    for (let i = 0; i < 20000; i++) await model.scoreRows(one, 1);
    const singleUs = ((performance.now() - t) / 20000) * 1000;
    const big = new Float32Array(100_000 * 5).map((_, i) => i % 37);
    t = performance.now();
    await model.scoreRows(big, 100_000);
    results.onnx = { singleRowUs: singleUs, batchUsPerRow: ((performance.now() - t) / 100_000) * 1000 };

    // 3. Cold start: a fresh node process imports the predict bundle, creates the ONNX session and
    // answers its first prediction (store already running: an in-process Map, no connection cost).
    const [bundle] = await buildFunctions({ outDir: join(work, 'dist'), only: ['predict'] });
    const coldScript = join(work, 'cold.mjs');
    writeFileSync(
      coldScript,
      `const t0 = performance.now();
       const { createPredictHandler } = await import(${JSON.stringify(bundle.file)});
       const { loadServingModelFromDir } = await import(${JSON.stringify(join(work, 'dist', 'model-loader.mjs'))});
       const model = await loadServingModelFromDir(${JSON.stringify(modelDir)});
       const row = ${JSON.stringify(rows[0])};
       const store = { init: async () => {}, get: async (id) => (id === row.id ? row : undefined), ping: async () => {}, close: async () => {}, currentSnapshot: async () => 'bench', replaceSnapshot: async () => ({ rows: 0 }) };
       const clock = { now: () => new Date('2025-01-01T12:00:00Z'), today: () => '2025-01-01' };
       const handler = createPredictHandler({ featureStore: store, clock, model });
       const w = process.stdout.write; process.stdout.write = () => true;
       const r = await handler({ resource: '/predict', path: '/predict', httpMethod: 'POST', body: '{"id":"' + row.id + '"}', requestContext: { requestId: 'cold' } }, { awsRequestId: 'cold' });
       process.stdout.write = w;
       console.log(JSON.stringify({ status: r.statusCode, coldMs: performance.now() - t0, sinceProcessStartMs: performance.now(), maxRssMiB: process.resourceUsage().maxRSS / 1024 }));`,
    );
    // The model loader as its own small bundle (in the image it is part of the predict bundle).
    const { build } = await import('esbuild');
    await build({
      entryPoints: [join(repo, 'lib/serving/model.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: join(work, 'dist', 'model-loader.mjs'),
      external: ['onnxruntime-node'],
      logLevel: 'error',
    });
    mkdirSync(join(work, 'node_modules'), { recursive: true });
    execFileSync('ln', [
      '-sfn',
      join(repo, 'node_modules/onnxruntime-node'),
      join(work, 'node_modules/onnxruntime-node'),
    ]);
    execFileSync('ln', [
      '-sfn',
      join(repo, 'node_modules/onnxruntime-common'),
      join(work, 'node_modules/onnxruntime-common'),
    ]);
    const colds = [];
    for (let i = 0; i < 5; i++)
      colds.push(JSON.parse(execFileSync(process.execPath, [coldScript], { cwd: work }).toString()));
    colds.sort((a, b) => a.coldMs - b.coldMs);
    results.coldStart = {
      runs: colds.length,
      medianMs: colds[2].coldMs,
      medianSinceProcessStartMs: colds[2].sinceProcessStartMs,
      maxRssMiB: colds[2].maxRssMiB,
      bundleBytes: bundle.bytes,
    };

    // 4. Batch scoring of a features table.
    const batchRows = Number(values['batch-rows']);
    const input = join(work, 'features.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(`COPY (SELECT i AS loan_id, CAST(5008804 + i % 36000 AS VARCHAR) AS id, i % 30 AS nb_previous_loans,
      CASE WHEN i % 30 = 0 THEN NULL ELSE 50 + i % 200 END AS avg_amount_loans_previous, 20 + i % 50 AS age,
      CASE WHEN i % 4 = 0 THEN NULL ELSE i % 25 END AS years_on_the_job, i % 2 AS flag_own_car FROM range(${batchRows}) t(i)) TO '${input}' (FORMAT parquet)`);
    c.closeSync();
    db.closeSync();
    const batchModel = await loadServingModelFromDir(modelDir, { intraOpNumThreads: 0 });
    t = performance.now();
    const scored = await scoreFeatureTable({
      input,
      output: join(work, 'predictions.parquet'),
      model: batchModel,
    });
    results.batch = { rows: scored.rows, seconds: (performance.now() - t) / 1000 };
    await batchModel.release();
    await model.release();
    await store.close();
  }

  // 5. HTTP side by side: ours and the Python peers, each a child process, the same autocannon run.
  const dataRows = Number(values['data-rows']);
  // The Python peers (Flask, gunicorn, Starlette, uvicorn, onnxruntime, scikit-learn's forest) run
  // at their latest releases from .venv-peers, not from npm test's .venv (requirements-peers.txt).
  const peers = peersPython();
  const data = await prepareServeData({
    dir: values['data-dir'] ?? join(tmpdir(), `credit-risk-bench-serve-r${dataRows}`),
    rows: dataRows,
    seed: 7,
    python: peers,
  });
  const loadBefore = loadavg();
  const http = await compareHttp({
    data,
    python: peers,
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    connections: Number(values.connections),
    work,
    only: values.targets!.split(','),
    generator: values.generator === 'node' ? 'node' : 'wrk',
    oursArgs: values['ours-workers'] ? ['--workers', values['ours-workers']] : [],
  });
  results.httpData = {
    customers: data.customers,
    loans: data.loans,
    snapshotId: data.snapshotId,
    modelVersion: data.modelVersion,
    features: data.features,
    prepareSeconds: data.seconds,
  };
  results.http = {
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    connections: Number(values.connections),
    mix: '80% known ids, 10% unknown ids, 10% bad bodies',
    client: http[0]?.client,
    loadAverage: { before: loadBefore, after: loadavg() },
    targets: http,
  };
  results.ratios = ratios(http);
  // The bench process itself (sections 1-4 run in it; the HTTP targets are measured above).
  results.benchProcessPeakRssMiB = process.resourceUsage().maxRSS / 1024;

  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  const file = join(repo, 'bench/results', `serve-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(JSON.stringify(results, null, 2));
  console.error(`written ${file}`);
}
