/**
 * The served path of the shap bench: the in-process predict handler (functions/predict/handler.ts:
 * parse, online lookup, features, TreeSHAP + reasons, ONNX, metrics, log line; stdout muted) over
 * an in-memory copy of the snapshot's online rows (what `credit-risk serve` answers from), with the
 * model of npm start loaded as serving loads it (model.onnx + card.json + explainer.json):
 *
 *   without reasons   the same ONNX session and card, no explainer (a version before explanations)
 *   with reasons      the default answer: TreeSHAP of the row and up to 4 reasons
 *   with explain      {"explain": true}: reasons and every contribution
 *
 * The three run in interleaved rounds (A, B, C, A, B, C, ...) so a change in the machine's load
 * hits each alike, one request at a time (latency), then 8 at a time (CPU per request, what bounds
 * throughput: requests in flight together share ONNX and TreeSHAP runs, lib/serving/row-batcher.ts).
 * TreeSHAP of the very rows the handler served is timed on its own. Memory: the explainer's
 * precomputed arrays, and the heap and RSS a load of explainer.json adds.
 */
import '../serve/untraced.ts';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPredictHandler } from '#functions/predict/handler.ts';
import { onlineFeatureVector, type CustomerFeatureRow } from '#lib/features/online.ts';
import { readOnlineRows } from '#lib/features/snapshot-reader.ts';
import { EXPLAINER_FILE, explainerForModel } from '#lib/model/explainer-artifact.ts';
import type { ShapKernelModel } from '#lib/model/shap.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import { loadServingModelFromDir } from '#lib/serving/model.ts';
import type { ServingModel } from '#lib/serving/predictor.ts';

/** Requests in flight at once for the CPU-per-request measure (a worker under HTTP load holds several). */
const CONCURRENCY = 8;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(micros: number[]) {
  const s = [...micros].sort((a, b) => a - b);
  return {
    calls: s.length,
    p50Ms: quantile(s, 0.5) / 1000,
    p99Ms: quantile(s, 0.99) / 1000,
    meanMs: s.reduce((a, b) => a + b, 0) / s.length / 1000,
  };
}

/** Bytes of every typed array of the precomputed explainer (what one loaded version holds). */
function kernelBytes(kernel: ShapKernelModel): number {
  let bytes = 0;
  for (const v of Object.values(kernel)) if (ArrayBuffer.isView(v)) bytes += v.byteLength;
  return bytes;
}

export interface ServedPathResult {
  customers: number;
  asOf: string;
  rounds: number;
  withoutReasons: ReturnType<typeof summary>;
  withReasons: ReturnType<typeof summary> & { meanReasons: number };
  withExplain: ReturnType<typeof summary>;
  /** Median over rounds of process CPU per request, 8 requests in flight at a time. */
  cpuPerRequestMicros: { concurrency: number; withoutReasons: number; withReasons: number; ratio: number };
  ratioP50: number;
  ratioExplainP50: number;
  shapServedRows: { samples: number; p50Micros: number; p99Micros: number };
  memory: {
    explainerJsonBytes: number;
    kernelBytes: number;
    tableEntries: number;
    heapDeltaMiB: number;
    rssDeltaMiB: number;
    rssMiB: number;
  };
}

export async function servedPath(options: {
  modelDir: string;
  onlineFile: string;
  rounds?: number;
  callsPerRound?: number;
  log: (line: string) => void;
}): Promise<ServedPathResult> {
  const rounds = options.rounds ?? 10;
  const perRound = options.callsPerRound ?? 2000;
  const rows = new Map<string, CustomerFeatureRow>();
  let asOf = '0000-00-00';
  for await (const batch of readOnlineRows(options.onlineFile, 'bench'))
    for (const r of batch) {
      rows.set(r.id, r);
      if (r.lastLoanDate > asOf) asOf = r.lastLoanDate;
    }
  const ids = [...rows.keys()];
  const store: FeatureStore = {
    init: async () => {},
    replaceSnapshot: async () => ({ rows: 0 }),
    deleteCustomer: async () => ({ deleted: 0 }),
    get: async (id) => rows.get(id),
    currentSnapshot: async () => 'bench',
    ping: async () => {},
    close: async () => {},
  };
  const clock = fixedClock(asOf);

  // Memory of one explainer: parse + precompute explainer.json alone, heap and RSS around it.
  const explainerBytes = readFileSync(join(options.modelDir, EXPLAINER_FILE));
  const modelBytes = readFileSync(join(options.modelDir, 'model.onnx'));
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  const probe = explainerForModel({ model: modelBytes, explainer: explainerBytes });
  globalThis.gc?.();
  const heapDeltaMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const rssDeltaMiB = (process.memoryUsage().rss - rss0) / 2 ** 20;
  if (!probe.explainer) throw new Error(`no explainer: ${probe.warning}`);

  const model = await loadServingModelFromDir(options.modelDir);
  if (!model.explainer) throw new Error(`the served model has no explainer: ${model.explainerWarning}`);
  const plain: ServingModel = {
    version: model.version,
    featureNames: model.featureNames,
    threshold: model.threshold,
    typicalValues: model.typicalValues,
    scoreRows: model.scoreRows,
  };
  const context = { awsRequestId: 'bench', functionName: 'predict' } as Context;
  const event = (id: string, explain: boolean) => ({
    resource: '/predict',
    path: '/predict',
    httpMethod: 'POST',
    body: explain ? `{"id":"${id}","explain":true}` : `{"id":"${id}"}`,
    isBase64Encoded: false,
    requestContext: { requestId: 'r' },
  });
  const variants = [
    {
      name: 'withoutReasons',
      handler: createPredictHandler({ featureStore: store, clock, model: plain }),
      explain: false,
    },
    {
      name: 'withReasons',
      handler: createPredictHandler({ featureStore: store, clock, model }),
      explain: false,
    },
    {
      name: 'withExplain',
      handler: createPredictHandler({ featureStore: store, clock, model }),
      explain: true,
    },
  ] as const;
  const micros: Record<string, number[]> = { withoutReasons: [], withReasons: [], withExplain: [] };
  let reasons = 0;
  const cpu: Record<string, number[]> = { withoutReasons: [], withReasons: [] };
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    for (const v of variants)
      for (let i = 0; i < 2000; i++) await v.handler(event(ids[(i * 31) % ids.length], v.explain), context);
    let k = 0;
    for (let round = 0; round < rounds; round++) {
      for (const v of variants) {
        for (let i = 0; i < perRound; i++) {
          const id = ids[((k + i) * 7919) % ids.length];
          const t = performance.now();
          const r = (await v.handler(event(id, v.explain), context)) as APIGatewayProxyResult;
          micros[v.name].push((performance.now() - t) * 1000);
          if (r.statusCode !== 200) throw new Error(`unexpected ${r.statusCode}: ${r.body}`);
          if (v.name === 'withReasons')
            reasons += (JSON.parse(r.body) as { reasons: unknown[] }).reasons.length;
        }
      }
      k += perRound;
    }
    for (let round = 0; round < rounds; round++) {
      for (const v of variants) {
        if (v.explain) continue;
        const c0 = process.cpuUsage();
        for (let i = 0; i < perRound / CONCURRENCY; i++, k += CONCURRENCY)
          await Promise.all(
            Array.from({ length: CONCURRENCY }, (_, j) =>
              v.handler(event(ids[((k + j) * 7919) % ids.length], false), context),
            ),
          );
        const c = process.cpuUsage(c0);
        cpu[v.name].push((c.user + c.system) / perRound);
      }
    }
  } finally {
    process.stdout.write = write;
  }

  // TreeSHAP alone on the rows the handler served (the float32 vector it builds).
  const explainer = model.explainer;
  const F = model.featureNames.length;
  const out = new Float64Array(F + 1);
  const row = new Float32Array(F);
  const shapMicros: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const vector = onlineFeatureVector(rows.get(ids[(i * 7919) % ids.length])!, asOf) as Record<
      string,
      number | null
    >;
    for (let f = 0; f < F; f++) row[f] = vector[model.featureNames[f]] ?? Number.NaN;
    const t = performance.now();
    explainer.explainRow(row, out);
    if (i >= 2000) shapMicros.push((performance.now() - t) * 1000);
  }
  shapMicros.sort((a, b) => a - b);
  await model.release();

  const withoutReasons = summary(micros.withoutReasons);
  const withReasons = { ...summary(micros.withReasons), meanReasons: reasons / micros.withReasons.length };
  const withExplain = summary(micros.withExplain);
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const cpuPerRequestMicros = {
    concurrency: CONCURRENCY,
    withoutReasons: median(cpu.withoutReasons),
    withReasons: median(cpu.withReasons),
    ratio: median(cpu.withReasons) / median(cpu.withoutReasons),
  };
  const result: ServedPathResult = {
    customers: ids.length,
    asOf,
    rounds,
    withoutReasons,
    withReasons,
    withExplain,
    cpuPerRequestMicros,
    ratioP50: withReasons.p50Ms / withoutReasons.p50Ms,
    ratioExplainP50: withExplain.p50Ms / withoutReasons.p50Ms,
    shapServedRows: {
      samples: shapMicros.length,
      p50Micros: quantile(shapMicros, 0.5),
      p99Micros: quantile(shapMicros, 0.99),
    },
    memory: {
      explainerJsonBytes: explainerBytes.length,
      kernelBytes: kernelBytes(probe.explainer.kernel),
      tableEntries: probe.explainer.stats.tableEntries,
      heapDeltaMiB,
      rssDeltaMiB,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    },
  };
  const ms = (x: number) => `${(x * 1000).toFixed(0)} us`;
  options.log(
    `served path (${ids.length.toLocaleString('en-US')} customers, ${rounds} interleaved rounds of ${perRound}): ` +
      `handler p50 without reasons ${ms(withoutReasons.p50Ms)}, with reasons ${ms(withReasons.p50Ms)} ` +
      `(${result.ratioP50.toFixed(2)}x; ${withReasons.meanReasons.toFixed(2)} reasons per answer), with explain ${ms(withExplain.p50Ms)} ` +
      `(${result.ratioExplainP50.toFixed(2)}x); p99 ${ms(withoutReasons.p99Ms)} / ${ms(withReasons.p99Ms)} / ${ms(withExplain.p99Ms)}; ` +
      `CPU per request, ${CONCURRENCY} in flight: ${cpuPerRequestMicros.withoutReasons.toFixed(0)} us without reasons, ${cpuPerRequestMicros.withReasons.toFixed(0)} us with (${cpuPerRequestMicros.ratio.toFixed(2)}x); ` +
      `TreeSHAP of the served rows p50 ${result.shapServedRows.p50Micros.toFixed(1)} us, p99 ${result.shapServedRows.p99Micros.toFixed(1)} us; ` +
      `explainer ${(result.memory.kernelBytes / 1024).toFixed(0)} KiB of arrays (explainer.json ${(explainerBytes.length / 1024).toFixed(0)} KiB), ` +
      `heap +${heapDeltaMiB.toFixed(1)} MiB, RSS +${rssDeltaMiB.toFixed(1)} MiB to load it`,
  );
  return result;
}
