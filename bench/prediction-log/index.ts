/**
 * `npm run bench -- prediction-log [--calls N] [--rounds R]`
 *
 * What recording every served prediction costs the predict handler (issue 19: p50 may grow by at
 * most 0.05 ms). One process, one model (the serving test fixture, ONNX), one in-memory feature
 * store, three handlers: without a prediction log, with the local files adapter (LineFile batches
 * into a temp dir, as `credit-risk serve` does), and with the Firehose adapter over a client that
 * answers at once (what the handler pays is record(): encoding and a queue push; the network call
 * happens off the request). The modes alternate in rounds so drift in machine load hits them alike;
 * p50 and p99 of each mode over all its calls, and p50 deltas to "none".
 */
import '../serve/untraced.ts';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { createPredictHandler, type PredictHandler } from '#functions/predict/handler.ts';
import { FirehosePredictionLog } from '#lib/adapters/aws/firehose-prediction-log.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import type { PredictionLog } from '#lib/ports/prediction-log.ts';
import { loadServingModelFromDir } from '#lib/serving/model.ts';
import { PredictionLogFiles } from '#local/server/prediction-log-files.ts';

const repo = resolve(import.meta.dirname, '../..');

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function rows(n: number): CustomerFeatureRow[] {
  return Array.from({ length: n }, (_, i) => {
    const nb = 1 + (i % 30);
    return {
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
    };
  });
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: 'string', default: '60000' },
      rounds: { type: 'string', default: '20' },
      customers: { type: 'string', default: '20000' },
    },
  });
  const calls = Number(values.calls);
  const rounds = Number(values.rounds);
  const work = mkdtempSync(join(tmpdir(), 'cr-bench-prediction-log-'));
  const modelDir = join(work, 'model');
  execFileSync(resolve(repo, '.venv/bin/python'), [
    join(repo, 'test/integration/serving/make_fixture_model.py'),
    modelDir,
    '0.5',
  ]);
  const model = await loadServingModelFromDir(modelDir);
  const data = rows(Number(values.customers));
  const byId = new Map(data.map((r) => [r.id, r]));
  const store: FeatureStore = {
    init: async () => {},
    replaceSnapshot: async () => ({ rows: 0 }),
    get: async (id) => byId.get(id),
    deleteCustomer: async () => ({ deleted: 0 }),
    currentSnapshot: async () => 'bench',
    ping: async () => {},
    close: async () => {},
  };
  const ids = data.map((r) => r.id);
  const clock = fixedClock('2025-01-01');
  let firehoseCalls = 0;
  const logs: Record<string, PredictionLog | undefined> = {
    none: undefined,
    'local files': new PredictionLogFiles(join(work, 'store'), 'bench'),
    firehose: new FirehosePredictionLog(
      {
        putRecordBatch: async (input) => {
          firehoseCalls += input.Records.length;
          return { FailedPutCount: 0 };
        },
      },
      'bench',
    ),
  };
  const handlers: Record<string, PredictHandler> = {};
  for (const [name, predictionLog] of Object.entries(logs))
    handlers[name] = createPredictHandler({ featureStore: store, clock, model, predictionLog });
  const context = { awsRequestId: 'bench', functionName: 'predict' } as Context;
  const event = (id: string) => ({
    resource: '/predict',
    path: '/predict',
    httpMethod: 'POST',
    body: `{"id":"${id}"}`,
    isBase64Encoded: false,
    requestContext: { requestId: 'r' },
  });
  const lat: Record<string, number[]> = Object.fromEntries(Object.keys(handlers).map((k) => [k, []]));
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  const load = loadavg()[0];
  try {
    for (const h of Object.values(handlers))
      for (let i = 0; i < 2000; i++) await h(event(ids[i % ids.length]), context);
    const perRound = Math.ceil(calls / rounds);
    for (let r = 0; r < rounds; r++)
      for (const [name, h] of Object.entries(handlers)) {
        for (let i = 0; i < perRound; i++) {
          const id = ids[(r * perRound + i * 7919) % ids.length];
          const t = performance.now();
          const res = (await h(event(id), context)) as APIGatewayProxyResult;
          lat[name].push(performance.now() - t);
          if (res.statusCode !== 200) throw new Error(`unexpected ${res.statusCode}`);
        }
        // Let LineFile's 20 ms timer and Firehose's flushes run between rounds, as between requests.
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
  } finally {
    process.stdout.write = write;
  }
  for (const l of Object.values(logs)) await l?.close();
  let logged = 0;
  for (const e of readdirSync(join(work, 'store'), { recursive: true, withFileTypes: true }))
    if (e.isFile()) logged += readFileSync(join(e.parentPath, e.name), 'utf8').split('\n').length - 1;
  const results: Record<string, unknown> = {
    machine: '2 cores shared with other work',
    loadAvg1m: load,
    callsPerMode: lat.none.length,
    rounds,
    modes: {} as Record<string, unknown>,
    firehoseRecordsSent: firehoseCalls,
    localLogLines: logged,
  };
  const p50None = percentile(
    [...lat.none].sort((a, b) => a - b),
    0.5,
  );
  for (const [name, l] of Object.entries(lat)) {
    l.sort((a, b) => a - b);
    (results.modes as Record<string, unknown>)[name] = {
      p50Ms: percentile(l, 0.5),
      p99Ms: percentile(l, 0.99),
      meanMs: l.reduce((s, x) => s + x, 0) / l.length,
      p50DeltaMs: percentile(l, 0.5) - p50None,
    };
  }
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  const file = join(
    repo,
    'bench/results',
    `prediction-log-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(JSON.stringify(results, null, 2));
  console.log(`written ${file}`);
  rmSync(work, { recursive: true, force: true });
}
