import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { generateLoans } from '#lib/data/generate.ts';
import type { FeatureManifest } from '#lib/features/manifest.ts';
import { readCurrentSnapshot, snapshotKeys } from '#lib/features/publish.ts';
import { stagingKeys } from '#lib/features/staging.ts';
import { getJson } from '#lib/ports/object-store.ts';
import type { RunRecord } from '#lib/pipeline/run-record.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { localFunctions, type LocalFunction } from '#local/sfn/local-functions.ts';
import { runPipelineLocally, type LocalPipelineRun } from '#local/sfn/local-pipeline.ts';
import { freshHome } from '../../support/home.ts';
import { describeWithPython } from '../../support/python.ts';

/**
 * A prefix input (raw/, what the schedule and a drift retraining start with) is resolved to its
 * newest raw object, key and size, BEFORE the DuckDB/Glue choice, by the real extract function's
 * resolve stage over the local store, on the real training.asl.json in the local runner. The
 * first part stubs every other step, so each input shape's path is cheap to check; the second runs
 * the real feature steps (DuckDB build, and prepare + jobs/glue/extract_features.py on local
 * pyspark + publish) on a generated file.
 */
// Every run first asks for its turn (AwaitTurn, the real turn stage: training-turn.test.ts); nothing else runs here.
const tasks = (record: RunRecord) => {
  const names = record.states.filter((s) => s.type === 'Task').map((s) => s.name);
  expect(names[0]).toBe('AwaitTurn');
  return names.slice(1);
};
const answer = (record: RunRecord, state: string) =>
  (record.tasks.find((t) => t.name === state)?.result as { Payload?: unknown } | undefined)?.Payload;

describe('prefix inputs on the training machine (feature steps stubbed)', () => {
  const OLD = 'raw/2025-01-31/loans-jan.csv';
  const NEW = 'raw/2025-02-28/loans-feb.csv';
  let root: LocalRoot;
  let oldSize = 0;
  let newSize = 0;

  beforeAll(async () => {
    root = createLocalRoot(freshHome('cr-resolve-stub-'));
    await root.objectStore.put(OLD, 'id,loan_id\n1,1\n');
    await root.objectStore.put(
      NEW,
      `id,loan_id\n${Array.from({ length: 400 }, (_, i) => `${i},${i}`).join('\n')}\n`,
    );
    await root.objectStore.put('raw/2025-03-31/notes.txt', 'not a raw file');
    await root.objectStore.put('raw/empty/2025-04-30/loans.csv', '');
    oldSize = (await root.objectStore.head(OLD))?.size ?? 0;
    newSize = (await root.objectStore.head(NEW))?.size ?? 0;
    expect(newSize).toBeGreaterThan(1000);
    expect(oldSize).toBeLessThan(1000);
  });

  /** One run: the real extract function answers the resolve stage; every other step records its payload and answers a stand-in. */
  async function run(input: Record<string, unknown>) {
    const real = localFunctions(root)['extract-features'];
    const payloads: { state: 'resolve' | 'prepare' | 'build'; payload: Record<string, unknown> }[] = [];
    const functions: Record<string, LocalFunction> = {
      'extract-features': async (p) => {
        const payload = p as Record<string, unknown>;
        if (payload.stage === 'turn') return real(p);
        if (payload.stage === 'resolve') {
          payloads.push({ state: 'resolve', payload });
          return real(p);
        }
        const counts = { rowsIn: 2, rowsValid: 2, rowsQuarantined: 0 };
        if (payload.stage === 'prepare') {
          payloads.push({ state: 'prepare', payload });
          const staging = stagingKeys('0123456789abcdef');
          return {
            staging: staging.prefix,
            snapshotId: '0123456789abcdef',
            asOf: '2025-02-28',
            rawValidKey: staging.rawValid,
            engineOutputKey: staging.engineOutput,
            ...counts,
          };
        }
        if (payload.stage === 'publish') return { snapshotId: '0123456789abcdef', ...counts };
        payloads.push({ state: 'build', payload });
        return { snapshotId: 'fedcba9876543210', ...counts };
      },
      train: async () => ({ candidateKey: 'candidates/x', version: 'x', metrics: { auc: 0.7 } }),
      evaluate: async () => ({ gate: { pass: false, reasons: ['stand-in'], checks: [] } }),
    };
    const glueJobs = { 'extract-features': async () => ({ jobRunId: 'jr_stub' }) };
    const done = await runPipelineLocally({ root, input, functions, glueJobs, waitScale: 0 });
    return { ...done, payloads };
  }

  it('a prefix whose newest file is larger than largeInputBytes takes the Glue branch, with the concrete key', async () => {
    const { result, record, payloads } = await run({ input: 'raw/', largeInputBytes: 1000 });
    expect(result).toMatchObject({ status: 'succeeded', output: { status: 'rejected' } });
    expect(tasks(record).slice(0, 4)).toEqual([
      'ResolveInput',
      'PrepareGlueFeatures',
      'ExtractFeaturesGlue',
      'PublishGlueFeatures',
    ]);
    expect(answer(record, 'ResolveInput')).toEqual({
      input: NEW,
      sizeBytes: newSize,
      requestedInput: 'raw/',
    });
    expect(payloads.map((p) => p.state)).toEqual(['resolve', 'prepare']);
    expect(payloads[1].payload.request).toMatchObject({
      input: NEW,
      sizeBytes: newSize,
      resolvedFrom: 'raw/',
      largeInputBytes: 1000,
    });
    // What the engine choice saw.
    expect(record.states.find((s) => s.name === 'ChooseFeatureEngine')?.input).toMatchObject({
      config: { input: NEW, sizeBytes: newSize },
    });
  });

  it('a prefix whose newest file is not larger takes the Lambda branch, with the concrete key', async () => {
    const { record, payloads } = await run({ input: 'raw/', largeInputBytes: newSize });
    expect(tasks(record).slice(0, 3)).toEqual(['ResolveInput', 'ExtractFeatures', 'Train']);
    expect(payloads.map((p) => p.state)).toEqual(['resolve', 'build']);
    expect(payloads[1].payload).toMatchObject({ input: NEW, sizeBytes: newSize });
  });

  it('a narrower prefix resolves under itself; the default input (none given) is raw/', async () => {
    const narrow = await run({ input: 'raw/2025-01-31/', largeInputBytes: 1000 });
    expect(tasks(narrow.record).slice(0, 2)).toEqual(['ResolveInput', 'ExtractFeatures']);
    expect(narrow.payloads[1].payload).toMatchObject({ input: OLD, sizeBytes: oldSize });

    const byDefault = await run({ largeInputBytes: 1000 });
    expect(byDefault.payloads[0].payload).toEqual({ stage: 'resolve', input: 'raw/' });
    expect(tasks(byDefault.record).slice(0, 2)).toEqual(['ResolveInput', 'PrepareGlueFeatures']);
  });

  it('the resolved size replaces a sizeBytes given with a prefix', async () => {
    const { record, payloads } = await run({ input: 'raw/', sizeBytes: 1, largeInputBytes: 1000 });
    expect(tasks(record)[1]).toBe('PrepareGlueFeatures');
    expect(payloads[1].payload.request).toMatchObject({ input: NEW, sizeBytes: newSize });
  });

  it('an explicit key is used exactly as before: not resolved, its given sizeBytes (or none) chooses', async () => {
    const noSize = await run({ input: NEW, largeInputBytes: 1000 });
    expect(tasks(noSize.record).slice(0, 2)).toEqual(['ExtractFeatures', 'Train']);
    expect(noSize.payloads.map((p) => p.state)).toEqual(['build']);
    expect(noSize.payloads[0].payload).toEqual({
      input: NEW,
      trigger: 'manual',
      canaryWeight: 0.1,
      largeInputBytes: 1000,
      train: {},
      gate: {},
      canary: {},
      canaryDeadlineSeconds: 1800,
      maxTurnWaitSeconds: 7200,
    });

    const large = await run({ input: OLD, sizeBytes: 5000, largeInputBytes: 1000 });
    expect(tasks(large.record).slice(0, 2)).toEqual(['PrepareGlueFeatures', 'ExtractFeaturesGlue']);
    expect(large.payloads[0].payload.request).toMatchObject({ input: OLD, sizeBytes: 5000 });
    expect(large.payloads[0].payload.request).not.toHaveProperty('resolvedFrom');
  });

  it('a prefix with no raw file fails at ResolveInput with RAW_NOT_FOUND, before any feature step', async () => {
    const { result, record, payloads } = await run({ input: 'raw/empty/' });
    expect(result).toMatchObject({
      status: 'failed',
      error: {
        error: 'TrainingFailed',
        cause: expect.stringContaining('no .csv or .parquet raw file under'),
      },
    });
    expect(record.states.find((s) => s.error)).toMatchObject({
      name: 'ResolveInput',
      error: { error: 'InputError' },
    });
    expect(tasks(record)).toEqual(['ResolveInput', 'NotifyFailure']);
    expect(payloads.map((p) => p.state)).toEqual(['resolve']);
  });

  afterAll(async () => {
    await root?.featureStore.close();
  });
});

describeWithPython(
  'prefix inputs on the training machine (real feature steps, local pyspark for Glue)',
  () => {
    let root: LocalRoot;
    let key = '';
    let size = 0;
    const runs: Record<'glue' | 'duckdb' | 'again', LocalPipelineRun | undefined> = {
      glue: undefined,
      duckdb: undefined,
      again: undefined,
    };
    const trainPayloads: unknown[] = [];

    beforeAll(async () => {
      const home = freshHome('cr-resolve-real-');
      root = createLocalRoot(home);
      const older = join(home.data, 'older.csv');
      const newer = join(home.data, 'newer.csv');
      generateLoans({ rows: 300, seed: 5, out: older });
      generateLoans({ rows: 2500, seed: 29, out: newer, dirtyRate: 0.02 });
      await root.objectStore.upload(older, 'raw/2024-11-30/loans-nov.csv', { contentType: 'text/csv' });
      key = 'raw/2024-12-31/loans-dec.csv';
      await root.objectStore.upload(newer, key, { contentType: 'text/csv' });
      size = statSync(newer).size;
      const functions: Record<string, LocalFunction> = {
        train: async (p) => {
          trainPayloads.push(p);
          return { candidateKey: 'candidates/x', version: 'x', metrics: { auc: 0.7 } };
        },
        evaluate: async () => ({ gate: { pass: false, reasons: ['stand-in'], checks: [] } }),
      };
      // No asOf, as the schedule and a drift retraining send: the build's default (today) applies.
      const run = (largeInputBytes: number) =>
        runPipelineLocally({ root, input: { input: 'raw/', largeInputBytes }, functions, waitScale: 0 });
      runs.glue = await run(1000);
      runs.duckdb = await run(size);
      runs.again = await run(size);
    }, 400_000);

    afterAll(async () => {
      await root?.featureStore.close();
    });

    const ran = (name: keyof typeof runs): LocalPipelineRun => {
      const r = runs[name];
      if (!r) throw new Error(`the ${name} run did not happen`);
      return r;
    };

    it('larger than largeInputBytes: prepare, the Glue job and publish on the newest file under raw/', async () => {
      const { result, record } = ran('glue');
      expect(result).toMatchObject({ status: 'succeeded', output: { status: 'rejected' } });
      expect(tasks(record)).toEqual([
        'ResolveInput',
        'PrepareGlueFeatures',
        'ExtractFeaturesGlue',
        'PublishGlueFeatures',
        'Train',
        'Evaluate',
        'NotifyRejected',
      ]);
      expect(answer(record, 'ResolveInput')).toEqual({ input: key, sizeBytes: size, requestedInput: 'raw/' });
      // Lineage names the real file: the staged source and the publish stage's answer.
      const id = (result.output as { snapshotId: string }).snapshotId;
      expect(await getJson(root.objectStore, stagingKeys(id).prepared)).toMatchObject({ source: { key } });
      expect(answer(record, 'PublishGlueFeatures')).toMatchObject({ snapshotId: id, input: key });
    });

    it('not larger: the one-Lambda DuckDB build of the same file, the same snapshot, its manifest naming the file', async () => {
      const { result, record } = ran('duckdb');
      expect(tasks(record)).toEqual([
        'ResolveInput',
        'ExtractFeatures',
        'Train',
        'Evaluate',
        'NotifyRejected',
      ]);
      const id = (result.output as { snapshotId: string }).snapshotId;
      expect(id).toBe((ran('glue').result.output as { snapshotId: string }).snapshotId);
      expect(answer(record, 'ExtractFeatures')).toMatchObject({ snapshotId: id, input: key });
      const manifest = await getJson<FeatureManifest>(root.objectStore, snapshotKeys(id).manifest);
      expect(manifest?.input.bytes).toBe(size);
      expect(manifest?.input.path.endsWith('/loans-dec.csv')).toBe(true);
      expect((await readCurrentSnapshot(root.objectStore))?.snapshotId).toBe(id);
      // Train is given the same snapshot by all three runs (Glue, DuckDB, cached).
      // (each with its own run's execution name as runId, for the card's lineage)
      expect(trainPayloads).toHaveLength(3);
      const runIds = trainPayloads.map((p) => (p as { runId?: string }).runId);
      expect(new Set(runIds).size).toBe(3);
      const sameWork = trainPayloads.map((p) => JSON.stringify({ ...(p as object), runId: undefined }));
      expect(new Set(sameWork).size).toBe(1);
    });

    it('a second prefix run is answered from the local extract cache (keyed on the resolved object)', () => {
      const { result, record } = ran('again');
      expect(result.status).toBe('succeeded');
      expect(answer(record, 'ExtractFeatures')).toMatchObject({
        snapshotId: (ran('duckdb').result.output as { snapshotId: string }).snapshotId,
        alreadyCurrent: true,
        reused: true,
      });
    });
  },
);
