/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHandler } from '#functions/batch-score/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { generateLoans, type Drift } from '#lib/data/generate.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { trainModel } from '#lib/model/train.ts';
import { runDriftCheck, type CheckedReport } from '#lib/monitoring/drift-check.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { registryModelSource } from '#lib/serving/batch-model-source.ts';
import { predictionsPrefix } from '#lib/serving/batch-shards.ts';
import { readAsl, substitute, type AslDefinition } from '#local/sfn/definition.ts';
import { runLocally } from '#local/sfn/runner.ts';

/**
 * Score drift from real batch runs: generated loans, the feature SQL, the project's trainer and
 * ONNX export, the registry, and the batch-scoring state machine run by the local runner calling
 * the batch-score handler (DuckDB + onnxruntime-node), twice or three times. The drift check then
 * reads the prediction Parquet those runs wrote: no model is run in the check.
 */
const ROWS = 20_000;
const AS_OF = '2021-12-31';
const work = mkdtempSync(join(tmpdir(), 'cr-score-drift-it-'));
const store = new FsObjectStore(join(work, 'store'));
const registry = new ModelRegistry(store);
const context = {
  awsRequestId: 'r',
  functionName: 'batch-score',
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;
const definition = JSON.parse(
  substitute(readAsl('batch-scoring'), {
    BatchScoreFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:credit-risk-test-batch-score',
    NotificationTopicArn: 'arn:aws:sns:eu-west-1:123456789012:credit-risk-test-notifications',
  }),
) as AslDefinition;
const sources: Array<{ release(): Promise<void> }> = [];
let version: string;

async function buildSnapshot(name: string, seed: number, drift?: Drift): Promise<string> {
  const raw = join(work, `${name}.csv`);
  generateLoans({ rows: ROWS, seed, out: raw, ...(drift ? { drift } : {}) });
  const built = await buildFeatures({
    input: raw,
    outDir: join(work, name),
    asOf: AS_OF,
    clock: fixedClock(AS_OF),
    threads: 1,
  });
  return built.snapshotId;
}

/** What `features publish` leaves in the offline store, under `snapshotId`, made current. */
async function publish(name: string, snapshotId: string): Promise<void> {
  await store.upload(
    join(work, name, 'features.parquet'),
    `features/snapshot=${snapshotId}/part-00000.parquet`,
  );
  await store.put(
    `features/snapshot=${snapshotId}/manifest.json`,
    JSON.stringify({ snapshotId, timeColumn: 'loan_date', idColumns: ['loan_id'] }),
  );
  await store.put(
    'features/CURRENT',
    JSON.stringify({
      snapshotId,
      publishedAt: '2022-01-01T00:00:00Z',
      manifestKey: `features/snapshot=${snapshotId}/manifest.json`,
    }),
  );
}

/** One nightly batch-scoring execution of the current snapshot with the champion, at `day`. */
async function batchRun(executionName: string, day: string): Promise<void> {
  const models = registryModelSource(store, registry);
  sources.push(models);
  const handler = createHandler({
    featuresStore: store,
    models,
    clock: fixedClock(day),
    tmpDir: mkdtempSync(join(work, 'tmp-')),
  });
  const run = await runLocally({
    definition,
    input: {},
    executionName,
    stateMachineName: 'batch-scoring',
    services: {
      lambda: async (_name, payload) => handler(payload, context),
      glueJob: async () => {
        throw new Error('no Glue in batch scoring');
      },
      codeBuild: async () => {
        throw new Error('no CodeBuild in batch scoring');
      },
      publish: async () => 'm',
    },
  });
  if (run.status !== 'succeeded')
    throw new Error(`batch run ${executionName}: ${run.status} ${JSON.stringify(run.error)}`);
}

async function check(): Promise<CheckedReport> {
  const out = await runDriftCheck(
    { featuresStore: store, modelsStore: store, clock: fixedClock('2022-01-10'), tmpDir: work },
    { windowDays: 90, minRows: 3000 },
  );
  if (out.status !== 'checked') throw new Error(`drift check skipped: ${out.reason}`);
  return out.report;
}

let clean: string;
let cleanOtherSeed: string;
let drifted: string;
let driftedPsi: number | undefined;

beforeAll(async () => {
  clean = await buildSnapshot('clean', 1);
  cleanOtherSeed = await buildSnapshot('clean-other-seed', 2);
  drifted = await buildSnapshot('drifted', 2, { income: 0.5, amount: 0.5 });
  const trained = await trainModel({
    input: join(work, 'clean', 'features.parquet'),
    seed: 1,
    params: { numTrees: 20, numThreads: 1 },
  });
  ({ version } = await registry.register({
    model: trained.modelBytes,
    card: JSON.stringify(trained.card),
    report: trained.reportHtml,
    explainer: trained.explainerBytes,
  }));
  await registry.promote(version);
}, 300_000);

afterAll(async () => {
  for (const s of sources) await s.release();
  rmSync(work, { recursive: true, force: true });
});

describe('score drift from real batch-scoring runs', () => {
  it('one batch run: the report says there are not enough runs', async () => {
    await publish('clean', clean);
    await batchRun('nightly-1', '2022-01-01');
    const report = await check();
    expect(report.score).toMatchObject({
      available: false,
      reason: expect.stringMatching(/^not enough batch runs: 1 complete/),
    });
  }, 120_000);

  it('a second run on the same loans (republished under another snapshot id): score PSI 0', async () => {
    await publish('clean', `${clean}-again`);
    await batchRun('nightly-2', '2022-01-02');
    const report = await check();
    if (!report.score.available) throw new Error(report.score.reason);
    expect(report.score.referenceRun).toMatchObject({
      snapshotId: clean,
      runId: 'nightly-1',
      window: { windowed: true },
    });
    expect(report.score.currentRun).toMatchObject({ snapshotId: `${clean}-again`, runId: 'nightly-2' });
    expect(report.score.referenceRun.window.rows).toBeGreaterThanOrEqual(3000);
    expect(report.score.currentRun.window.rows).toBe(report.score.referenceRun.window.rows);
    expect(report.score.psi).toBe(0);
    expect(report.score.bins.length).toBeGreaterThanOrEqual(5);
  }, 120_000);

  it('a run on clean loans of another seed (other customers, same process): score PSI below 0.2', async () => {
    await publish('clean-other-seed', cleanOtherSeed);
    await batchRun('nightly-3', '2022-01-03');
    const report = await check();
    if (!report.score.available) throw new Error(report.score.reason);
    expect(report.score.currentRun.snapshotId).toBe(cleanOtherSeed);
    process.stderr.write(`score PSI, clean run of seed 2 against the first: ${report.score.psi}\n`);
    expect(report.score.psi).toBeGreaterThan(0);
    expect(report.score.psi).toBeLessThan(0.2);
  }, 120_000);

  it('a run on income- and amount-drifted loans: score PSI above 0.2 against the first run', async () => {
    await publish('drifted', drifted);
    await batchRun('nightly-4', '2022-01-04');
    const report = await check();
    if (!report.score.available) throw new Error(report.score.reason);
    expect(report.score.referenceRun.snapshotId).toBe(clean);
    expect(report.score.currentRun.snapshotId).toBe(drifted);
    process.stderr.write(`score PSI, drifted run (seed 2) against the first: ${report.score.psi}\n`);
    expect(report.score.psi).toBeGreaterThan(0.2);
    expect(report.score.status).toBe('drifted');
    driftedPsi = report.score.psi;
  }, 120_000);

  it('re-running the reference snapshot later keeps its manifest createdAt: the reference run and the PSI do not move', async () => {
    if (driftedPsi === undefined) throw new Error("needs the previous test's run");
    await publish('clean', clean);
    await batchRun('nightly-5-rerun', '2022-01-05');
    const manifest = JSON.parse(
      new TextDecoder().decode(
        await store.get(`${predictionsPrefix(registry.name, version, clean)}manifest.json`),
      ),
    );
    expect(manifest).toMatchObject({
      runId: 'nightly-1',
      createdAt: '2022-01-01T12:00:00.000Z',
      rescoredAt: '2022-01-05T12:00:00.000Z',
      rescoredRunId: 'nightly-5-rerun',
    });
    const report = await check();
    if (!report.score.available) throw new Error(report.score.reason);
    expect(report.score.referenceRun).toMatchObject({
      snapshotId: clean,
      runId: 'nightly-1',
      createdAt: '2022-01-01T12:00:00.000Z',
    });
    expect(report.score.currentRun.snapshotId).toBe(drifted);
    expect(report.score.psi).toBe(driftedPsi);
  }, 120_000);
});
