import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateLoans } from '#lib/data/generate.ts';
import type { FeatureManifest } from '#lib/features/manifest.ts';
import { readCurrentSnapshot, snapshotKeys } from '#lib/features/publish.ts';
import { stagingKeys } from '#lib/features/staging.ts';
import { getJson } from '#lib/ports/object-store.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import type { LocalFunction } from '#local/sfn/local-functions.ts';
import { runPipelineLocally, type LocalPipelineRun } from '#local/sfn/local-pipeline.ts';
import { freshHome } from '../../support/home.ts';
import { describeWithPython } from '../../support/python.ts';

/**
 * The Glue branch of training.asl.json run for real on the local runner: the extract function's
 * prepare stage, jobs/glue/extract_features.py on local pyspark over the staged Parquet, the
 * publish stage. The same generated file (dirty rows included) goes through the DuckDB branch in
 * another home; both must publish the same snapshot: same id, byte-identical feature rows and
 * quarantine, the same manifest (but for the engine, the times and the scratch path), the same
 * online rows. Train and Evaluate are stand-ins (the gate rejects): this test is about features.
 */
const AS_OF = '2024-12-31';
const RAW_KEY = 'raw/loans-glue-branch.csv';

interface Side {
  root: LocalRoot;
  run: LocalPipelineRun;
  trainPayloads: unknown[];
}

const sha256 = (bytes: Uint8Array | undefined) =>
  createHash('sha256')
    .update(bytes ?? new Uint8Array())
    .digest('hex');
const tasks = (run: LocalPipelineRun) =>
  run.record.states.filter((s) => s.type === 'Task').map((s) => s.name);

describeWithPython('the training machine Glue branch on local pyspark', () => {
  const sides: Partial<Record<'glue' | 'duckdb', Side>> = {};
  let rawFile = '';

  async function runSide(forceGlue: boolean): Promise<Side> {
    const home = freshHome(forceGlue ? 'cr-glue-branch-' : 'cr-duck-branch-');
    const root = createLocalRoot(home);
    await root.objectStore.upload(rawFile, RAW_KEY, { contentType: 'text/csv' });
    const trainPayloads: unknown[] = [];
    const functions: Record<string, LocalFunction> = {
      train: async (p) => {
        trainPayloads.push(p);
        return { candidateKey: 'candidates/x', version: 'x', metrics: { auc: 0.7 } };
      },
      evaluate: async () => ({ gate: { pass: false, reasons: ['stand-in'], checks: [] } }),
    };
    const input = {
      input: RAW_KEY,
      asOf: AS_OF,
      sizeBytes: statSync(rawFile).size,
      // A tiny threshold sends this small file down the Glue branch.
      ...(forceGlue ? { largeInputBytes: 1000 } : {}),
    };
    const run = await runPipelineLocally({ root, input, functions, waitScale: 0 });
    return { root, run, trainPayloads };
  }

  beforeAll(async () => {
    const dir = freshHome('cr-glue-branch-data-').data;
    rawFile = join(dir, 'loans.csv');
    generateLoans({ rows: 3000, seed: 23, out: rawFile, dirtyRate: 0.03 });
    sides.glue = await runSide(true);
    sides.duckdb = await runSide(false);
  }, 300_000);

  afterAll(async () => {
    await sides.glue?.root.featureStore.close();
    await sides.duckdb?.root.featureStore.close();
  });

  const side = (name: 'glue' | 'duckdb'): Side => {
    const s = sides[name];
    if (!s) throw new Error(`the ${name} run did not happen`);
    return s;
  };

  it('runs prepare, the Glue job and publish, where the other run takes the one-Lambda build', () => {
    const glue = side('glue');
    const duck = side('duckdb');
    expect(glue.run.result).toMatchObject({ status: 'succeeded', output: { status: 'rejected' } });
    expect(duck.run.result).toMatchObject({ status: 'succeeded', output: { status: 'rejected' } });
    expect(tasks(glue.run)).toEqual([
      'AwaitTurn',
      'PrepareGlueFeatures',
      'ExtractFeaturesGlue',
      'PublishGlueFeatures',
      'Train',
      'Evaluate',
      'NotifyRejected',
    ]);
    expect(tasks(duck.run)).toEqual(['AwaitTurn', 'ExtractFeatures', 'Train', 'Evaluate', 'NotifyRejected']);
  });

  it('publishes the same snapshot: id, byte-identical feature rows and quarantine, and what Train is given', async () => {
    const glue = side('glue');
    const duck = side('duckdb');
    const glueCurrent = await readCurrentSnapshot(glue.root.objectStore);
    const duckCurrent = await readCurrentSnapshot(duck.root.objectStore);
    expect(glueCurrent?.snapshotId).toMatch(/^[0-9a-f]{16}$/);
    expect(glueCurrent?.snapshotId).toBe(duckCurrent?.snapshotId);
    const keys = snapshotKeys(glueCurrent?.snapshotId ?? '');
    for (const key of [keys.part, keys.quarantine]) {
      const a = await glue.root.objectStore.get(key);
      expect(a?.byteLength).toBeGreaterThan(0);
      expect({ key, sha256: sha256(a) }).toEqual({
        key,
        sha256: sha256(await duck.root.objectStore.get(key)),
      });
    }
    // Train is given the same work; runId is each run's own execution name (the card's lineage).
    const work = (payloads: unknown[]) => payloads.map((p) => ({ ...(p as object), runId: undefined }));
    expect(work(glue.trainPayloads)).toEqual(work(duck.trainPayloads));
    expect(glue.trainPayloads).toHaveLength(1);
    expect(glue.trainPayloads[0]).toMatchObject({ runId: expect.stringMatching(/^training-/) });
  });

  it('writes the same manifest, but for the engine, the times and the scratch path of the input', async () => {
    const id = (await readCurrentSnapshot(side('glue').root.objectStore))?.snapshotId ?? '';
    const manifest = async (s: Side) => {
      const m = await getJson<FeatureManifest>(s.root.objectStore, snapshotKeys(id).manifest);
      if (!m) throw new Error('no manifest');
      const { createdAt: _c, engine, timingsMs: _t, input, ...rest } = m;
      return { engine, rest: { ...rest, input: { sha256: input.sha256, bytes: input.bytes } } };
    };
    const glue = await manifest(side('glue'));
    const duck = await manifest(side('duckdb'));
    expect(glue.engine).toBe('spark');
    expect(duck.engine).toBe('duckdb');
    expect(glue.rest).toEqual(duck.rest);
    expect(glue.rest.validation.rowsQuarantined).toBeGreaterThan(0);
    expect(glue.rest.validation.rowsIn).toBe(
      glue.rest.validation.rowsValid + glue.rest.validation.rowsQuarantined,
    );
  });

  it('leaves the staged input and the job output under staging/<snapshotId>/, and nothing there in the DuckDB run', async () => {
    const glue = side('glue');
    const id = (await readCurrentSnapshot(glue.root.objectStore))?.snapshotId ?? '';
    const staging = stagingKeys(id);
    const staged = (await glue.root.objectStore.list(staging.prefix)).map((o) => o.key);
    expect(staged).toEqual(
      expect.arrayContaining([
        staging.rawValid,
        staging.quarantine,
        staging.prepared,
        `${staging.features}_SUCCESS`,
        `${staging.online}_SUCCESS`,
      ]),
    );
    expect(
      staged.filter((k) => k.startsWith(staging.features) && k.endsWith('.parquet')).length,
    ).toBeGreaterThan(0);
    expect(await side('duckdb').root.objectStore.list('staging/')).toEqual([]);
  });

  it('serves the same online rows for every customer', async () => {
    const glue = side('glue');
    const duck = side('duckdb');
    const id = (await readCurrentSnapshot(glue.root.objectStore))?.snapshotId ?? '';
    expect(await glue.root.featureStore.currentSnapshot()).toBe(id);
    expect(await duck.root.featureStore.currentSnapshot()).toBe(id);
    // The customers of the published feature rows.
    const part = join(glue.root.home.tmp, 'part.parquet');
    await glue.root.objectStore.download(snapshotKeys(id).part, part);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const ids = (
      await conn.runAndReadAll(`SELECT DISTINCT CAST(id AS VARCHAR) FROM read_parquet('${part}') ORDER BY 1`)
    )
      .getRows()
      .map((r) => String(r[0]));
    conn.closeSync();
    db.closeSync();
    expect(ids.length).toBeGreaterThan(100);
    const differing: string[] = [];
    for (const customer of ids) {
      const a = await glue.root.featureStore.get(customer);
      const b = await duck.root.featureStore.get(customer);
      if (a === undefined || JSON.stringify(a) !== JSON.stringify(b)) differing.push(customer);
    }
    expect(differing).toEqual([]);
  });
});
