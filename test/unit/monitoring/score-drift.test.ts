import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { buildDriftReport, type SnapshotWindow } from '#lib/monitoring/drift-report.ts';
import {
  checkScoreDrift,
  completeBatchRuns,
  quantileEdges,
  readRunScores,
  scoreCounts,
  scorePsi,
} from '#lib/monitoring/score-drift.ts';
import { PSI_EPSILON } from '#lib/monitoring/statistics.ts';
import { getJson } from '#lib/ports/object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { predictionsPrefix, writeManifest, type ShardResult } from '#lib/serving/batch-shards.ts';
import { writeBatchRun } from './batch-runs.ts';

const work = mkdtempSync(join(tmpdir(), 'cr-score-drift-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const freshStore = () => new FsObjectStore(join(work, `store-${n++}`));

/** n values spread evenly over [lo, hi). */
const spread = (count: number, lo: number, hi: number) =>
  Float64Array.from({ length: count }, (_, i) => lo + ((hi - lo) * (i + 0.5)) / count);

describe('score bins and PSI', () => {
  it('decile edges of the reference: 9 edges, each bin holding a tenth of the reference', () => {
    const ref = spread(1000, 0, 1);
    const edges = quantileEdges(ref);
    expect(edges).toHaveLength(9);
    expect(edges[0]).toBeCloseTo(0.1005, 10);
    expect(edges[8]).toBeCloseTo(0.9005, 10);
    const counts = scoreCounts(ref, edges);
    expect(Array.from(counts)).toEqual([0, ...Array(10).fill(100)]);
  });

  it('tied scores (a GBDT gives few distinct values) collapse edges instead of splitting a spike', () => {
    // 60% of the scores are 0.05, the rest spread over [0.2, 0.6).
    const ref = Float64Array.from([...Array(600).fill(0.05), ...spread(400, 0.2, 0.6)]);
    const edges = quantileEdges(ref);
    expect(edges.filter((e) => e === 0.05)).toHaveLength(0); // the minimum is not an edge: no empty first bin
    expect([...edges].sort((a, b) => a - b)).toEqual(edges);
    expect(new Set(edges).size).toBe(edges.length);
    const counts = scoreCounts(ref, edges);
    expect(counts[1]).toBe(600 + 0); // the spike alone in the first value bin
    expect(scorePsi(ref, ref).psi).toBe(0);
  });

  it('identical score sets give PSI 0; scores pushed up give PSI above 0.2', () => {
    const ref = spread(2000, 0, 0.5);
    expect(scorePsi(ref, Float64Array.from(ref)).psi).toBe(0);
    expect(scorePsi(ref, spread(2000, 0.25, 0.75)).psi).toBeGreaterThan(0.2);
    // The same shape at another size is still ~0.
    expect(scorePsi(ref, spread(500, 0, 0.5)).psi).toBeLessThan(0.01);
  });

  it("uses the feature rule's epsilon: a reference decile left empty adds (0 - 0.1) ln(eps / 0.1) at epsilon", () => {
    const ref = spread(1000, 0, 1);
    // Every current score in the top nine deciles, spread evenly: the first decile is empty.
    const current = spread(900, 0.1005, 1);
    const { psi, bins } = scorePsi(ref, current);
    const emptyTerm = (PSI_EPSILON - 0.1) * Math.log(PSI_EPSILON / 0.1);
    const otherTerm = (1 / 9 - 0.1) * Math.log(1 / 9 / 0.1);
    expect(bins[0]).toMatchObject({ from: null, referenceShare: 0.1, currentShare: 0 });
    expect(psi).toBeCloseTo(emptyTerm + 9 * otherTerm, 2);
    expect(bins).toHaveLength(10); // no missing bin when no probability is missing
    expect(bins.at(-1)?.to).toBeNull();
  });

  it('a missing probability gets its own bin; an empty side gives no PSI (NaN), not 0', () => {
    const ref = spread(100, 0, 1);
    const { bins } = scorePsi(ref, Float64Array.from([...spread(99, 0, 1), Number.NaN]));
    expect(bins[0]).toMatchObject({ missing: true, referenceShare: 0, currentShare: 0.01 });
    expect(scorePsi(ref, new Float64Array(0)).psi).toBeNaN();
  });
});

describe('batch run selection', () => {
  it('first and latest complete runs of the version, oldest first by createdAt; incomplete runs and other versions ignored', async () => {
    const store = freshStore();
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's-mid',
      createdAt: '2022-01-02T03:00:00.000Z',
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's-new',
      createdAt: '2022-01-03T03:00:00.000Z',
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's-old',
      createdAt: '2022-01-01T03:00:00.000Z',
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's-running',
      createdAt: '2022-01-04T03:00:00.000Z',
      manifest: false,
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's-broken',
      createdAt: '2022-01-05T03:00:00.000Z',
      missingOutput: true,
    });
    await writeBatchRun(store, work, {
      version: 'v2',
      snapshotId: 's-other',
      createdAt: '2022-01-06T03:00:00.000Z',
    });
    await writeBatchRun(store, work, {
      version: 'v10',
      snapshotId: 's-prefix',
      createdAt: '2021-12-01T03:00:00.000Z',
    });
    await writeBatchRun(store, work, {
      model: 'other-model',
      version: 'v1',
      snapshotId: 's-model',
      createdAt: '2021-12-01T03:00:00.000Z',
    });
    const { runs, ignored } = await completeBatchRuns(store, 'credit-risk', 'v1');
    expect(runs.map((r) => r.snapshotId)).toEqual(['s-old', 's-mid', 's-new']);
    expect(runs[0]).toMatchObject({
      createdAt: '2022-01-01T03:00:00.000Z',
      runId: 'run-s-old',
      rows: 1000,
      outputKeys: [`${predictionsPrefix('credit-risk', 'v1', 's-old')}part-00000.parquet`],
    });
    expect(runs[0].manifestKey).toBe(`${predictionsPrefix('credit-risk', 'v1', 's-old')}manifest.json`);
    expect(ignored.map((i) => i.snapshotId).sort()).toEqual(['s-broken', 's-running']);
    expect(ignored.find((i) => i.snapshotId === 's-broken')?.why).toMatch(/missing/);
  });

  it('a manifest that names another version is not a run of this one', async () => {
    const store = freshStore();
    const prefix = await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's1',
      createdAt: '2022-01-01T00:00:00.000Z',
    });
    const manifest = (await getJson<Record<string, unknown>>(store, `${prefix}manifest.json`)) ?? {};
    await store.put(`${prefix}manifest.json`, JSON.stringify({ ...manifest, modelVersion: 'v9' }));
    const { runs, ignored } = await completeBatchRuns(store, 'credit-risk', 'v1');
    expect(runs).toEqual([]);
    expect(ignored[0].why).toMatch(/v9/);
  });

  it('fewer than two complete runs: not enough batch runs, no error', async () => {
    const store = freshStore();
    const options = {
      store,
      modelName: 'credit-risk',
      modelVersion: 'v1',
      windowDays: 30,
      minRows: 100,
      tmpDir: work,
      threshold: 0.2,
      warn: 0.1,
    };
    expect(await checkScoreDrift(options)).toEqual({
      available: false,
      reason: expect.stringMatching(/^not enough batch runs: 0 complete/),
      modelVersion: 'v1',
      completeRuns: 0,
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's1',
      createdAt: '2022-01-01T00:00:00.000Z',
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's2',
      createdAt: '2022-01-02T00:00:00.000Z',
      manifest: false,
    });
    await writeBatchRun(store, work, {
      version: 'v2',
      snapshotId: 's3',
      createdAt: '2022-01-03T00:00:00.000Z',
    });
    expect(await checkScoreDrift(options)).toMatchObject({
      available: false,
      reason: expect.stringMatching(/^not enough batch runs: 1 complete/),
      completeRuns: 1,
    });
  });

  it('two runs: the latest against the first, over the same window of each', async () => {
    const store = freshStore();
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's1',
      createdAt: '2022-01-01T00:00:00.000Z',
      lo: 0,
      hi: 0.4,
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's2',
      createdAt: '2022-01-02T00:00:00.000Z',
      lo: 0,
      hi: 0.4,
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's3',
      createdAt: '2022-01-03T00:00:00.000Z',
      lo: 0.2,
      hi: 0.6,
    });
    const options = {
      store,
      modelName: 'credit-risk',
      modelVersion: 'v1',
      windowDays: 30,
      minRows: 100,
      tmpDir: work,
      threshold: 0.2,
      warn: 0.1,
    };
    const drifted = await checkScoreDrift(options);
    if (!drifted.available) throw new Error(drifted.reason);
    expect(drifted.referenceRun.snapshotId).toBe('s1');
    expect(drifted.currentRun.snapshotId).toBe('s3');
    expect(drifted.psi).toBeGreaterThan(0.2);
    expect(drifted.status).toBe('drifted');
    expect(drifted.currentRun.window).toEqual({
      from: '2021-12-02',
      to: '2021-12-31',
      rows: 1000,
      rowsInRun: 1000,
      extended: false,
      windowed: true,
    });
    // A smaller window: the loans of the last 10 days (1000 loans, i % 30 days back: days 0-9 hold 34 each).
    const narrow = await checkScoreDrift({ ...options, windowDays: 10 });
    if (!narrow.available) throw new Error(narrow.reason);
    expect(narrow.referenceRun.window).toMatchObject({
      from: '2021-12-22',
      to: '2021-12-31',
      rows: 340,
      extended: false,
    });
  });

  it('a re-run of the reference snapshot (writeManifest again, later) does not move the reference run or the PSI', async () => {
    const store = freshStore();
    // Outputs as score-shard leaves them; the manifests are written by the real writeManifest.
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's-ref',
      createdAt: 'unused',
      lo: 0,
      hi: 0.4,
      manifest: false,
    });
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's-new',
      createdAt: 'unused',
      lo: 0.2,
      hi: 0.6,
      manifest: false,
    });
    const commit = (snapshotId: string, day: string, runId: string) => {
      const prefix = predictionsPrefix('credit-risk', 'v1', snapshotId);
      const result: ShardResult = {
        key: `features/snapshot=${snapshotId}/part-00000.parquet`,
        outputKey: `${prefix}part-00000.parquet`,
        rows: 1000,
        positives: 0,
        snapshotId,
        modelVersion: 'v1',
        reused: false,
      };
      return writeManifest({
        store,
        clock: fixedClock(day),
        results: [result],
        modelName: 'credit-risk',
        runId,
      });
    };
    await commit('s-ref', '2022-01-01', 'nightly-1');
    await commit('s-new', '2022-01-02', 'nightly-2');
    const options = {
      store,
      modelName: 'credit-risk',
      modelVersion: 'v1',
      windowDays: 30,
      minRows: 100,
      tmpDir: work,
      threshold: 0.2,
      warn: 0.1,
    };
    const before = await checkScoreDrift(options);
    if (!before.available) throw new Error(before.reason);
    expect(before.referenceRun).toMatchObject({
      snapshotId: 's-ref',
      runId: 'nightly-1',
      createdAt: '2022-01-01T12:00:00.000Z',
    });

    await commit('s-ref', '2022-01-03', 'rerun-of-s-ref');
    const { runs } = await completeBatchRuns(store, 'credit-risk', 'v1');
    expect(runs.map((r) => [r.snapshotId, r.createdAt, r.runId])).toEqual([
      ['s-ref', '2022-01-01T12:00:00.000Z', 'nightly-1'],
      ['s-new', '2022-01-02T12:00:00.000Z', 'nightly-2'],
    ]);
    const after = await checkScoreDrift(options);
    if (!after.available) throw new Error(after.reason);
    expect(after.referenceRun).toEqual(before.referenceRun);
    expect(after.currentRun).toEqual(before.currentRun);
    expect(after.psi).toBe(before.psi);
    expect(after.psi).toBeGreaterThan(0.2);
  });

  it('a window with fewer than minRows rows takes the newest minRows rows instead, the same ones each time', async () => {
    const store = freshStore();
    await writeBatchRun(store, work, {
      version: 'v1',
      snapshotId: 's1',
      createdAt: '2022-01-01T00:00:00.000Z',
    });
    const { runs } = await completeBatchRuns(store, 'credit-risk', 'v1');
    const read = () => readRunScores({ store, run: runs[0], windowDays: 1, minRows: 100, tmpDir: work });
    const a = await read();
    expect(a.window).toMatchObject({ rows: 100, extended: true, to: '2021-12-31', windowed: true });
    expect(Array.from((await read()).scores).sort()).toEqual(Array.from(a.scores).sort());
  });
});

describe("the report's score section", () => {
  const window: SnapshotWindow = {
    snapshotId: 's1',
    from: '2021-12-01',
    to: '2021-12-31',
    windowDays: 30,
    extended: false,
    rows: 10,
    rowsInSnapshot: 10,
  };
  const base = {
    checkedAt: '2022-01-05T00:00:00.000Z',
    model: { name: 'credit-risk', version: 'v1', trainedOnSnapshot: 's1' },
    reference: [],
    snapshot: window,
    columns: new Map(),
  };
  const run = (snapshotId: string) => ({
    snapshotId,
    createdAt: '2022-01-01T00:00:00.000Z',
    runId: null,
    manifestKey: 'k',
    rows: 10,
    window: { from: null, to: null, rows: 10, rowsInRun: 10, extended: false, windowed: false },
  });

  it('absent: the reason is in the section and in the notes; the decision is untouched', () => {
    const report = buildDriftReport({
      ...base,
      score: {
        available: false,
        reason: 'not enough batch runs: 1 complete',
        modelVersion: 'v1',
        completeRuns: 1,
      },
    });
    expect(report.score).toMatchObject({ available: false, reason: 'not enough batch runs: 1 complete' });
    expect(report.notes).toContain('score drift: not enough batch runs: 1 complete');
    expect(report.decision.retrain).toBe(false);
  });

  it('a drifted score is a note, never a retrain reason', () => {
    const score = {
      available: true as const,
      psi: 0.9,
      status: 'drifted' as const,
      modelVersion: 'v1',
      referenceRun: run('s1'),
      currentRun: run('s2'),
      bins: [],
    };
    const report = buildDriftReport({ ...base, score });
    expect(report.score).toEqual(score);
    expect(report.decision.retrain).toBe(false);
    expect(
      report.notes.some((n) => /^score PSI 0\.9000 > 0\.2 \(batch run s2 against the first, s1\)/.test(n)),
    ).toBe(true);
  });
});
