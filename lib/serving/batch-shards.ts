import { DuckDBInstance } from '@duckdb/node-api';
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import type { Clock } from '#lib/ports/clock.ts';
import { getJson, getText, type ObjectStore } from '#lib/ports/object-store.ts';
import { scoreFeatureTable } from './batch-scoring.ts';
import type { BatchModelSource } from '#lib/ports/batch-model-source.ts';
import {
  CURRENT_KEY as FEATURES_CURRENT_KEY,
  predictionsCurrentKey,
  predictionsPrefix,
  snapshotPrefix,
} from '#lib/features/offline-layout.ts';

/**
 * Batch scoring of a whole feature snapshot in the object store, in the three steps the
 * batch-scoring state machine runs (state-machines/batch-scoring.asl.json):
 *
 *   planBatch     features/CURRENT (or a given snapshot) -> its part-*.parquet shards, and the ONE
 *                 model version every shard will use (resolved once: a promotion during the run
 *                 must not mix two models in one output)
 *   scoreShard    one shard -> predictions/<model>/<version>/snapshot=<id>/<same file name>, with
 *                 scoreFeatureTable (the scoring code and threshold rule of POST /predict); with the
 *                 plan's `explain` (the execution input's, default false) also reason_1..reason_4
 *                 and contrib_<feature> (TreeSHAP, lib/serving/batch-scoring.ts)
 *   writeManifest every shard's result -> .../manifest.json, then predictions/<model>/CURRENT
 *                 swapped last (the commit point: readers of CURRENT never see a partial run). A
 *                 re-run of a snapshot and version already completed keeps the manifest's first
 *                 createdAt and runId and sets rescoredAt/rescoredRunId (docs/adr/0017-batch-rerun-keeps-manifest-history.md)
 *
 * Offline store layout: lib/features/offline-layout.ts (features/snapshot=<id>/part-NNNNN.parquet
 * and manifest.json, written last; features/CURRENT = JSON {snapshotId, ...}).
 */
export {
  CURRENT_KEY as FEATURES_CURRENT_KEY,
  predictionsCurrentKey,
  predictionsPrefix,
  snapshotPrefix,
} from '#lib/features/offline-layout.ts';

const SNAPSHOT_ID = /^[A-Za-z0-9._-]{1,128}$/;
const SHARD_FILE = /^part-[A-Za-z0-9._-]*\.parquet$/;

export type { BatchModelSource } from '#lib/ports/batch-model-source.ts';

export interface ShardRef {
  key: string;
  size: number;
}

/** list-shards' answer; the state machine hands it to every score-shard and to write-manifest. */
export interface BatchPlan {
  snapshotId: string;
  modelName: string;
  modelVersion: string;
  outputPrefix: string;
  shards: ShardRef[];
  /** Every shard's output also carries reason_1..reason_4 and contrib_<feature>. */
  explain: boolean;
}

export interface ShardResult {
  key: string;
  outputKey: string;
  rows: number;
  positives: number;
  snapshotId: string;
  modelVersion: string;
  /** True when the output was already there from an earlier attempt and was counted, not re-scored. */
  reused: boolean;
}

export interface BatchManifest {
  snapshotId: string;
  modelName: string;
  modelVersion: string;
  /** The run that FIRST completed this snapshot with this version (kept by every later re-run). */
  runId: string | null;
  /** When this snapshot was FIRST completed with this version; a re-run keeps it (score drift's order). */
  createdAt: string;
  /** Set when another run wrote this manifest again: that run's time and id (the latest such run). */
  rescoredAt?: string;
  rescoredRunId?: string | null;
  rows: number;
  positives: number;
  shards: Array<Pick<ShardResult, 'key' | 'outputKey' | 'rows' | 'positives'>>;
  /** Present (true) when the run asked for explanation columns. */
  explain?: true;
}

export interface ManifestResult {
  manifestKey: string;
  currentKey: string;
  snapshotId: string;
  modelVersion: string;
  shards: number;
  rows: number;
  positives: number;
  /** The manifest's createdAt: this run's time, or the first run's when the folder was scored before. */
  createdAt: string;
  /** This run's time when it re-ran a snapshot and version that an earlier run had completed. */
  rescoredAt?: string;
  /** What the run noticed and wrote anyway (an unreadable earlier manifest, totals that changed). */
  warnings?: string[];
}

export async function planBatch(options: {
  store: ObjectStore;
  models: BatchModelSource;
  snapshotId?: string;
  modelVersion?: string;
  /** Ask every shard for explanation columns (default false). */
  explain?: boolean;
}): Promise<BatchPlan> {
  const { store, models } = options;
  let snapshotId = options.snapshotId;
  if (snapshotId === undefined) {
    const current = await getJson<{ snapshotId?: unknown }>(store, FEATURES_CURRENT_KEY);
    if (current === undefined) {
      throw new InputError(
        'NO_CURRENT_SNAPSHOT',
        `${store.describe(FEATURES_CURRENT_KEY)} does not exist: publish features first, or name a snapshotId`,
      );
    }
    if (typeof current.snapshotId !== 'string') {
      throw new InputError(
        'BAD_CURRENT_POINTER',
        `${store.describe(FEATURES_CURRENT_KEY)} has no string "snapshotId"`,
      );
    }
    snapshotId = current.snapshotId;
  }
  if (!SNAPSHOT_ID.test(snapshotId)) {
    throw new InputError(
      'BAD_SNAPSHOT_ID',
      `snapshot id ${JSON.stringify(snapshotId)} must be 1-128 of letters, digits, dot, dash, underscore`,
    );
  }
  const prefix = snapshotPrefix(snapshotId);
  const manifestKey = `${prefix}manifest.json`;
  const objects = await store.list(prefix);
  if (!objects.some((o) => o.key === manifestKey)) {
    throw new InputError(
      'SNAPSHOT_INCOMPLETE',
      `snapshot ${snapshotId} has no ${store.describe(manifestKey)}: it is not a published snapshot (publish writes the manifest last)`,
    );
  }
  const shards = objects
    .filter((o) => !o.key.slice(prefix.length).includes('/') && SHARD_FILE.test(o.key.slice(prefix.length)))
    .map((o) => ({ key: o.key, size: o.size }));
  if (shards.length === 0) {
    throw new InputError(
      'NO_SHARDS',
      `snapshot ${snapshotId} (${store.describe(manifestKey)}) has no part-*.parquet file next to its manifest to score`,
    );
  }
  const modelVersion = await models.resolve(options.modelVersion);
  return {
    snapshotId,
    modelName: models.modelName,
    modelVersion,
    outputPrefix: predictionsPrefix(models.modelName, modelVersion, snapshotId),
    shards,
    explain: options.explain === true,
  };
}

/** The snapshot a shard key belongs to; an InputError when the key is not a snapshot shard. */
export function snapshotOfShard(key: string): string {
  const m = /^features\/snapshot=([^/]+)\/([^/]+)$/.exec(key);
  if (!m || !SNAPSHOT_ID.test(m[1]) || !SHARD_FILE.test(m[2])) {
    throw new InputError(
      'BAD_SHARD_KEY',
      `shard key ${JSON.stringify(key)} is not features/snapshot=<id>/part-*.parquet`,
    );
  }
  return m[1];
}

export async function scoreShard(options: {
  store: ObjectStore;
  models: BatchModelSource;
  key: string;
  /** The version list-shards pinned (or any reference the model source resolves). */
  modelVersion: string;
  /** Scratch space (/tmp in Lambda); the shard and its predictions are removed after. */
  tmpDir: string;
  /** Also write reason_1..reason_4 and contrib_<feature>; the model must have an explainer. */
  explain?: boolean;
}): Promise<ShardResult> {
  const { store, models, key } = options;
  const snapshotId = snapshotOfShard(key);
  // The plan carries a full version already; a person invoking by hand may say "champion".
  const modelVersion = await models.resolve(options.modelVersion);
  const fileName = key.slice(key.lastIndexOf('/') + 1);
  const outputKey = predictionsPrefix(models.modelName, modelVersion, snapshotId) + fileName;
  const work = join(options.tmpDir, `batch-score-${randomUUID()}`);
  await mkdir(work, { recursive: true });
  try {
    // Outputs are written whole (atomic put) under a key named by model version and shard: one
    // that exists is this shard's finished answer from an earlier attempt, so count it and reuse;
    // unless this run asks for explanations and that answer has none (an earlier run without them).
    if (await store.head(outputKey)) {
      const existing = join(work, 'existing.parquet');
      await store.download(outputKey, existing);
      const { explained, ...counted } = await countPredictions(existing);
      if (!options.explain || explained)
        return { key, outputKey, ...counted, snapshotId, modelVersion, reused: true };
    }
    if (!(await store.head(key))) throw new InputError('UNKNOWN_SHARD', `no shard at ${store.describe(key)}`);
    const model = await models.load(modelVersion);
    const input = join(work, fileName);
    const output = join(work, `predictions-${fileName}`);
    await store.download(key, input);
    const scored = await scoreFeatureTable({ input, output, model, explain: options.explain === true });
    await store.upload(output, outputKey, { contentType: 'application/vnd.apache.parquet' });
    return {
      key,
      outputKey,
      rows: scored.rows,
      positives: scored.positives,
      snapshotId,
      modelVersion,
      reused: false,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function countPredictions(
  file: string,
): Promise<{ rows: number; positives: number; explained: boolean }> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const source = `read_parquet('${file.replace(/'/g, "''")}', hive_partitioning = false)`;
    const reader = await connection.runAndReadAll(
      `SELECT count(*)::BIGINT AS n, coalesce(sum(prediction), 0)::BIGINT AS p FROM ${source}`,
    );
    const row = reader.getRowObjects()[0];
    const columns = (await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`))
      .getRowObjects()
      .map((r) => String(r.column_name));
    return { rows: Number(row.n), positives: Number(row.p), explained: columns.includes('reason_1') };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

export async function writeManifest(options: {
  store: ObjectStore;
  clock: Clock;
  results: readonly ShardResult[];
  /** When given, every planned shard must have exactly one result (nothing silently missing). */
  plan?: Pick<BatchPlan, 'snapshotId' | 'modelName' | 'modelVersion'> & {
    shards: ReadonlyArray<{ key: string }>;
    explain?: boolean;
  };
  modelName: string;
  runId?: string;
}): Promise<ManifestResult> {
  const { store, results, plan } = options;
  if (results.length === 0) throw new InputError('NO_RESULTS', 'write-manifest got no shard results');
  const snapshotId = plan?.snapshotId ?? results[0].snapshotId;
  const modelVersion = plan?.modelVersion ?? results[0].modelVersion;
  const modelName = plan?.modelName ?? options.modelName;
  for (const r of results) {
    if (r.snapshotId !== snapshotId || r.modelVersion !== modelVersion) {
      throw new InputError(
        'MIXED_RESULTS',
        `shard ${r.key} was scored for snapshot ${r.snapshotId} with ${r.modelVersion}, the run is snapshot ${snapshotId} with ${modelVersion}`,
      );
    }
  }
  const seen = new Set<string>();
  for (const r of results) {
    if (seen.has(r.key)) throw new InputError('DUPLICATE_SHARD', `shard ${r.key} has two results`);
    seen.add(r.key);
  }
  if (plan) {
    const missing = plan.shards.filter((s) => !seen.has(s.key)).map((s) => s.key);
    if (missing.length > 0)
      throw new InputError('MISSING_SHARDS', `no result for planned shard(s) ${missing.join(', ')}`);
    const planned = new Set(plan.shards.map((s) => s.key));
    const extra = results.filter((r) => !planned.has(r.key)).map((r) => r.key);
    if (extra.length > 0)
      throw new InputError('UNPLANNED_SHARDS', `result(s) for shard(s) not in the plan: ${extra.join(', ')}`);
  }
  for (const r of results) {
    if (!(await store.head(r.outputKey))) {
      throw new InputError(
        'MISSING_OUTPUT',
        `shard ${r.key} reports ${store.describe(r.outputKey)}, which does not exist`,
      );
    }
  }
  const manifestKey = `${predictionsPrefix(modelName, modelVersion, snapshotId)}manifest.json`;
  const now = options.clock.now().toISOString();
  const runId = options.runId ?? null;
  const shards = [...results]
    .sort((a, b) => (a.key < b.key ? -1 : 1))
    .map(({ key, outputKey, rows, positives }) => ({ key, outputKey, rows, positives }));
  const rows = results.reduce((s, r) => s + r.rows, 0);
  const positives = results.reduce((s, r) => s + r.positives, 0);
  const warnings: string[] = [];
  const earlier = await readEarlierManifest(store, manifestKey, snapshotId, modelVersion);
  let history: Pick<BatchManifest, 'runId' | 'createdAt' | 'rescoredAt' | 'rescoredRunId'> = {
    runId,
    createdAt: now,
  };
  let rescored = false;
  if (earlier.kind === 'unusable') {
    warnings.push(
      `${store.describe(manifestKey)} was there but ${earlier.why}: written as a new run (createdAt ${now})`,
    );
  } else if (earlier.kind === 'found') {
    // The folder was completed before: its first run stays its history (score drift's reference is
    // the oldest createdAt). A retry of the write by the run that wrote it is not a re-run.
    const e = earlier.manifest;
    rescored = runId === null || runId !== e.runId;
    history = rescored
      ? { runId: e.runId, createdAt: e.createdAt, rescoredAt: now, rescoredRunId: runId }
      : {
          runId: e.runId,
          createdAt: e.createdAt,
          ...(e.rescoredAt !== undefined
            ? { rescoredAt: e.rescoredAt, rescoredRunId: e.rescoredRunId ?? null }
            : {}),
        };
    const changed = describeChange(e, { rows, positives, shards });
    if (changed !== null)
      warnings.push(
        `${store.describe(manifestKey)}: this re-run's outputs differ from those of the run at ${e.createdAt} (${changed}); its createdAt is kept`,
      );
  }
  const manifest: BatchManifest = {
    snapshotId,
    modelName,
    modelVersion,
    ...history,
    rows,
    positives,
    shards,
    ...(plan?.explain ? { explain: true as const } : {}),
  };
  await store.put(manifestKey, JSON.stringify(manifest, null, 2) + '\n', { contentType: 'application/json' });
  const currentKey = predictionsCurrentKey(modelName);
  await store.put(
    currentKey,
    JSON.stringify(
      {
        manifestKey,
        snapshotId,
        modelVersion,
        createdAt: manifest.createdAt,
        ...(manifest.rescoredAt !== undefined ? { rescoredAt: manifest.rescoredAt } : {}),
      },
      null,
      2,
    ) + '\n',
    { contentType: 'application/json' },
  );
  return {
    manifestKey,
    currentKey,
    snapshotId,
    modelVersion,
    shards: results.length,
    rows,
    positives,
    createdAt: manifest.createdAt,
    ...(rescored ? { rescoredAt: now } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

type EarlierManifest =
  | { kind: 'none' }
  | {
      kind: 'found';
      manifest: Pick<
        BatchManifest,
        'runId' | 'createdAt' | 'rescoredAt' | 'rescoredRunId' | 'rows' | 'positives' | 'shards'
      >;
    }
  | { kind: 'unusable'; why: string };

/**
 * The manifest an earlier run left at this key. A store failure is thrown (the step is retried:
 * treating an outage as "no earlier run" would move the run's history); bytes that are not a
 * manifest of this snapshot and version are 'unusable' and the run is written as new, with a
 * warning (score drift ignores such a folder anyway, so it had no history to keep).
 */
async function readEarlierManifest(
  store: ObjectStore,
  key: string,
  snapshotId: string,
  modelVersion: string,
): Promise<EarlierManifest> {
  const text = await getText(store, key);
  if (text === undefined) return { kind: 'none' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'unusable', why: 'is not JSON' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { kind: 'unusable', why: 'is not a JSON object' };
  const m = parsed as Record<string, unknown>;
  if (m.snapshotId !== snapshotId || m.modelVersion !== modelVersion) {
    return {
      kind: 'unusable',
      why: `names snapshot ${String(m.snapshotId)} with version ${String(m.modelVersion)}`,
    };
  }
  if (typeof m.createdAt !== 'string' || Number.isNaN(Date.parse(m.createdAt)))
    return { kind: 'unusable', why: 'has no valid createdAt' };
  const shards = Array.isArray(m.shards) ? (m.shards as BatchManifest['shards']) : [];
  return {
    kind: 'found',
    manifest: {
      runId: typeof m.runId === 'string' ? m.runId : null,
      createdAt: m.createdAt,
      ...(typeof m.rescoredAt === 'string'
        ? {
            rescoredAt: m.rescoredAt,
            rescoredRunId: typeof m.rescoredRunId === 'string' ? m.rescoredRunId : null,
          }
        : {}),
      rows: typeof m.rows === 'number' ? m.rows : Number.NaN,
      positives: typeof m.positives === 'number' ? m.positives : Number.NaN,
      shards,
    },
  };
}

/** What differs between the earlier manifest's outputs and this run's, or null when nothing does. */
function describeChange(
  before: Pick<BatchManifest, 'rows' | 'positives' | 'shards'>,
  after: Pick<BatchManifest, 'rows' | 'positives' | 'shards'>,
): string | null {
  const changes: string[] = [];
  if (before.rows !== after.rows) changes.push(`rows ${before.rows} -> ${after.rows}`);
  if (before.positives !== after.positives)
    changes.push(`positives ${before.positives} -> ${after.positives}`);
  const outputs = (m: Pick<BatchManifest, 'shards'>) =>
    m.shards.map((s) => (s !== null && typeof s === 'object' ? s.outputKey : String(s))).join(',');
  if (outputs(before) !== outputs(after))
    changes.push(`shards ${before.shards.length} -> ${after.shards.length} outputs, or other keys`);
  return changes.length > 0 ? changes.join(', ') : null;
}
