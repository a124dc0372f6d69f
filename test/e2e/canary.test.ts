/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPredictHandler } from '#functions/predict/handler.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { loadRegisteredModel } from '#lib/serving/model.ts';
import type { ServingModel } from '#lib/serving/predictor.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { startLocalApiServer, type ApiHandler, type LocalApiServer } from '#local/server/http-server.ts';
import { ModelRouter } from '#local/server/model-router.ts';
import { OPENAPI_FILE } from '#local/server/serve.ts';
import { divertTelemetry } from '#local/server/telemetry-sink.ts';
import { localDeployment, type LocalDeployment } from '#local/sfn/local-functions.ts';
import { runPipelineLocally } from '#local/sfn/local-pipeline.ts';
import { ensureGeneratedRaw } from '#local/sfn/raw-data.ts';
import { knownCustomerIds, startTraffic, type TrafficStats } from '#local/sfn/synthetic-traffic.ts';
import { freshHome } from '../support/home.ts';

/**
 * The canary, proven end to end: real data (generated), the real training state machine on the
 * local runner, real extract/train/evaluate/register/canary handlers, the real local serving path
 * (router + HTTP server + predict handler + PGlite), and synthetic clients sending requests the
 * whole time. A "bad" challenger is a real trained model whose serving misbehaves the way a bad
 * build would: it throws, it is slow, or its scores are shifted. The router applies that behaviour
 * to every version not yet trusted when it loads it, which is how the canary gets it.
 */
type Misbehaviour = 'none' | 'throws' | 'slow' | 'shifted';

let root: LocalRoot;
let deployment: LocalDeployment;
let registry: ModelRegistry;
let server: LocalApiServer;
let router: ModelRouter<ApiHandler>;
let restoreTelemetry: () => Promise<void>;
let ids: string[];
let rawKey: string;
let asOf: string;
let misbehaviour: Misbehaviour = 'none';
const trusted = new Set<string>();

function misbehave(model: ServingModel, how: Misbehaviour): ServingModel {
  if (how === 'none') return model;
  return {
    version: model.version,
    featureNames: model.featureNames,
    threshold: model.threshold,
    async scoreRows(features, rows) {
      if (how === 'throws') throw new Error('bad build: the model session crashed');
      if (how === 'slow') await new Promise((r) => setTimeout(r, 250));
      const p = await model.scoreRows(features, rows);
      return how === 'shifted' ? p.map((x) => Math.min(1, 0.55 + x)) : p;
    },
  };
}

// Loose offline gate: 20k generated rows give a small test split; the gate's own tests cover it.
const GATE = {
  requireBrierBeatsBaseRate: false,
  maxEce: 0.2,
  minAuc: 0.55,
  minTestPositives: 5,
  minTestRows: 100,
  maxAucDrop: 0.05,
};
const CANARY = { minCanaryRequests: 30, minChampionRequests: 30 };

async function pipeline(train: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const traffic = startTraffic({ url: server.url, ids, concurrency: 4 });
  try {
    const run = await runPipelineLocally({
      root,
      deployment,
      input: { input: rawKey, asOf, train, gate: GATE, canary: CANARY, ...extra },
      waitScale: 4 / 600,
    });
    return { ...run, traffic: await traffic.stop() };
  } catch (e) {
    await traffic.stop();
    throw e;
  }
}

/** No request went unanswered; every non-200 came from `allowedBad` (the misbehaving canary). */
function expectServedThroughout(stats: TrafficStats, allowedBad?: string) {
  expect(stats.requests).toBeGreaterThan(100);
  expect(stats.failures).toEqual([]);
  for (const [version, counts] of Object.entries(stats.byVersion)) {
    if (version !== allowedBad)
      expect({ version, statuses: counts.statuses }).toEqual({ version, statuses: {} });
  }
}

beforeAll(async () => {
  const home = freshHome('cr-e2e-canary-');
  root = createLocalRoot(home);
  deployment = localDeployment(root);
  registry = new ModelRegistry(root.objectStore);
  restoreTelemetry = divertTelemetry({ metrics: home.metrics, logs: join(home.root, 'logs') }, 'e2e');
  const raw = await ensureGeneratedRaw(root, { rows: 20_000, seed: 7 });
  rawKey = raw.key;
  asOf = raw.lastLoanDate;
  // The baseline champion (the first model is promoted without a canary: nothing to compare with).
  const first = await runPipelineLocally({
    root,
    deployment,
    input: {
      input: rawKey,
      asOf,
      train: { numTrees: 15, learningRate: 0.1, earlyStoppingRounds: 0 },
      gate: GATE,
    },
    waitScale: 0,
  });
  expect(first.result.output).toMatchObject({ status: 'promoted' });
  trusted.add((await registry.aliases()).champion as string);
  ids = await knownCustomerIds(root.featureStore, 200);
  router = new ModelRouter<ApiHandler>({
    readAliases: async () => {
      const a = await registry.aliases();
      return { champion: a.champion, canary: a.canary };
    },
    load: async (version) => {
      const model = await loadRegisteredModel(root.objectStore, registry, version);
      const served = misbehave(model, trusted.has(version) ? 'none' : misbehaviour);
      return {
        handler: createPredictHandler({
          featureStore: root.featureStore,
          clock: root.clock,
          model: served,
        }) as ApiHandler,
        dispose: () => model.release(),
      };
    },
  });
  await router.refresh();
  router.watch(100);
  server = await startLocalApiServer({
    router,
    openapi: JSON.parse(await readFile(OPENAPI_FILE, 'utf8')) as unknown,
    port: 0,
  });
}, 300_000);

afterAll(async () => {
  await server?.close();
  await router?.close();
  await restoreTelemetry?.();
  await root?.featureStore.close();
});

describe('canary end to end, under load', () => {
  it('promotes a good challenger, and no request fails while the aliases move', async () => {
    misbehaviour = 'none';
    const before = (await registry.aliases()).champion;
    const { result, record, traffic } = await pipeline({
      numTrees: 40,
      learningRate: 0.1,
      earlyStoppingRounds: 0,
    });
    // On failure, the judge's reasons are in the message (a loaded machine can slow either side).
    const judged = record.states.find((s) => s.name === 'JudgeCanary')?.output;
    expect({ output: result.output, judged }).toMatchObject({ output: { status: 'promoted' } });
    const champion = (await registry.aliases()).champion as string;
    expect(champion).not.toBe(before);
    trusted.add(champion);
    expect(record.states.map((s) => s.name)).toEqual(
      expect.arrayContaining(['WaitForCanaryTraffic', 'JudgeCanary', 'PromoteCanary']),
    );
    // Both versions answered during the run: the canary took its share, then all of it.
    expect(Object.keys(traffic.byVersion).sort()).toEqual([before, champion].sort());
    expectServedThroughout(traffic);
  }, 180_000);

  it.each([
    ['throws', /canary_error_rate/],
    ['slow', /p99_latency_vs_champion/],
    ['shifted', /score_psi_vs_champion/],
  ] as const)(
    'rolls back a challenger that %s; the champion keeps serving',
    async (how, reason) => {
      misbehaviour = how;
      const champion = (await registry.aliases()).champion as string;
      const trees = { throws: 30, slow: 35, shifted: 45 }[how];
      const { result, traffic } = await pipeline({
        numTrees: trees,
        learningRate: 0.1,
        earlyStoppingRounds: 0,
      });
      expect(result.output).toMatchObject({
        status: 'rolled-back',
        reasons: expect.arrayContaining([expect.stringMatching(reason)]),
      });
      const bad = (result.output as { modelVersion: string }).modelVersion;
      expect(await registry.aliases()).toMatchObject({ champion, canary: null });
      expect((await deployment.deployer.routing())?.canary).toBeNull();
      expect(await deployment.deployer.modelOf((await deployment.deployer.routing())!.functionVersion)).toBe(
        champion,
      );
      // The canary did get traffic, and only the canary answered badly.
      expect(traffic.byVersion[bad]).toBeDefined();
      expectServedThroughout(traffic, bad);
    },
    180_000,
  );

  it('never deploys a model that fails the quality gate', async () => {
    misbehaviour = 'none';
    const champion = (await registry.aliases()).champion;
    const versionsBefore = (await deployment.deployer.read()).versions.length;
    const { result, record, traffic } = await pipeline(
      { numTrees: 25, learningRate: 0.1, earlyStoppingRounds: 0 },
      { gate: { ...GATE, minAuc: 0.999 } },
    );
    expect(result.output).toMatchObject({
      status: 'rejected',
      reasons: [expect.stringMatching(/^auc_below_floor/)],
    });
    const rejected = (result.output as { modelVersion: string }).modelVersion;
    expect(record.states.map((s) => s.name)).not.toContain('Register');
    expect(await registry.isRegistered(rejected)).toBe(false);
    expect((await deployment.deployer.read()).versions.length).toBe(versionsBefore);
    expect((await registry.aliases()).champion).toBe(champion);
    expect(Object.keys(traffic.byVersion)).toEqual([champion]);
    expectServedThroughout(traffic);
  }, 180_000);
});
