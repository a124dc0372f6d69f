import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { generateLoans, type Drift } from '#lib/data/generate.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { trainModel } from '#lib/model/train.ts';
import { runDriftCheck, type CheckedReport, type TrainingStarter } from '#lib/monitoring/drift-check.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';

/**
 * Real components end to end: the generator (clean, and with its --drift knob), the feature SQL on
 * DuckDB, the project's trainer (its card's reference bins), the registry on a directory, and the
 * drift check reading the published snapshot's Parquet with DuckDB. A model trained on clean data
 * must see a clean snapshot of the same period below the threshold, and a snapshot of drifted
 * data above it, on the features the drift moved.
 */
const ROWS = 30_000;
const AS_OF = '2021-12-31';
const work = mkdtempSync(join(tmpdir(), 'cr-drift-it-'));
const store = new FsObjectStore(join(work, 'store'));
const clock = fixedClock('2022-01-05');
const starts: { name: string; input: Record<string, unknown> }[] = [];
const starter: TrainingStarter = {
  async start(request) {
    starts.push(request);
    return { started: true, executionId: request.name };
  },
  async running() {
    return [];
  },
};

async function snapshotOf(name: string, seed: number, drift?: Drift): Promise<string> {
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

/** What `features publish` leaves in the offline store (the online half is not needed here). */
async function publishOffline(name: string, snapshotId: string): Promise<void> {
  await store.upload(
    join(work, name, 'features.parquet'),
    `features/snapshot=${snapshotId}/part-00000.parquet`,
  );
  await store.upload(join(work, name, 'manifest.json'), `features/snapshot=${snapshotId}/manifest.json`);
  await store.put(
    'features/CURRENT',
    JSON.stringify({
      snapshotId,
      publishedAt: '2022-01-01T00:00:00Z',
      manifestKey: `features/snapshot=${snapshotId}/manifest.json`,
    }),
  );
}

async function check(): Promise<CheckedReport> {
  const out = await runDriftCheck(
    { featuresStore: store, modelsStore: store, clock, tmpDir: work, starter },
    { cooldownDays: 0, windowDays: 90, minRows: 3000 },
  );
  if (out.status !== 'checked') throw new Error(`drift check skipped: ${out.reason}`);
  return out.report;
}

let clean: string;
let cleanLater: string;
let drifted: string;

beforeAll(async () => {
  clean = await snapshotOf('clean', 1);
  cleanLater = await snapshotOf('clean-other-seed', 2);
  drifted = await snapshotOf('drifted', 2, { income: 0.5, amount: 0.5 });
  const trained = await trainModel({
    input: join(work, 'clean', 'features.parquet'),
    seed: 1,
    params: { numTrees: 10, numThreads: 1 },
  });
  const registry = new ModelRegistry(store);
  const { version } = await registry.register({
    model: trained.modelBytes,
    card: JSON.stringify(trained.card),
    report: trained.reportHtml,
    explainer: trained.explainerBytes,
  });
  await registry.promote(version);
  // The training snapshot stays in the offline store (snapshots are immutable): the baseline window comes from it.
  await publishOffline('clean', clean);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('drift check on generated data', () => {
  it('a clean snapshot from another seed stays below the threshold and starts nothing', async () => {
    await publishOffline('clean-other-seed', cleanLater);
    const report = await check();
    expect(report.snapshot.snapshotId).toBe(cleanLater);
    expect(report.snapshot.rows).toBeGreaterThanOrEqual(1000);
    expect(report.features.map((f) => f.feature)).toContain('amt_income_total');
    expect(report.baseline.kind).toBe('training-snapshot-window');
    expect(report.maxPsi).toBeLessThan(report.threshold);
    expect(report.decision.retrain).toBe(false);
    // Why the baseline is the training snapshot's newest window and not the card's training rows:
    // loans accumulate history, so the newest loans have more previous loans than the oldest ones.
    const previous = report.features.find((f) => f.feature === 'nb_previous_loans');
    expect(previous?.psiTrainingRows).toBeGreaterThan(report.threshold);
    expect(previous?.status).toBe('stable');
    expect(starts).toHaveLength(0);
  });

  it('a snapshot of income- and amount-drifted data crosses the threshold on those features and starts one retraining', async () => {
    await publishOffline('drifted', drifted);
    const report = await check();
    const income = report.features.find((f) => f.feature === 'amt_income_total');
    expect(income?.status).toBe('drifted');
    expect(income?.psi).toBeGreaterThan(report.threshold);
    expect(report.maxPsi).toBeGreaterThan(report.threshold);
    expect(['amt_income_total', 'avg_amount_loans_previous']).toContain(report.maxPsiFeature);
    // Age does not depend on income or amounts: the drift knob must not move it.
    expect(report.features.find((f) => f.feature === 'age')?.status).not.toBe('drifted');
    expect(report.decision.retrain).toBe(true);
    expect(starts).toHaveLength(1);
    expect(starts[0].input).toMatchObject({ trigger: 'drift', drift: { feature: report.maxPsiFeature } });
  });

  it('the trained-on snapshot itself is recorded in the report', async () => {
    await publishOffline('clean', clean);
    const report = await check();
    expect(report.model.trainedOnSnapshot).toBe(clean);
    expect(report.snapshot.snapshotId).toBe(clean);
  });
});
