import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * Test helper: a batch-scoring run in the layout lib/serving/batch-shards.ts writes
 * (predictions/<model>/<version>/snapshot=<id>/part-*.parquet, manifest.json last).
 * Scores: `rows` loans over the 30 days to 2021-12-31, probability = lo + (hi - lo) * (i + 0.5) / rows.
 */
export interface RunSpec {
  model?: string;
  version: string;
  snapshotId: string;
  createdAt: string;
  lo?: number;
  hi?: number;
  rows?: number;
  /** false: the outputs without a manifest (an unfinished run). */
  manifest?: boolean;
  /** The manifest names a second output that was never written. */
  missingOutput?: boolean;
}

export async function writeBatchRun(store: ObjectStore, work: string, spec: RunSpec): Promise<string> {
  const model = spec.model ?? 'credit-risk';
  const rows = spec.rows ?? 1000;
  const lo = spec.lo ?? 0;
  const hi = spec.hi ?? 1;
  const dir = mkdtempSync(join(work, 'run-'));
  const file = join(dir, 'part-00000.parquet');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run(`COPY (SELECT i AS loan_id, DATE '2021-12-31' - (i % 30)::INTEGER AS loan_date,
                   CAST(${lo} + (${hi} - ${lo}) * (i + 0.5) / ${rows} AS FLOAT) AS probability,
                   0 AS prediction, '${spec.version}' AS model_version FROM range(${rows}) t(i)) TO '${file}' (FORMAT parquet)`);
  } finally {
    c.closeSync();
    db.closeSync();
  }
  const prefix = `predictions/${model}/${spec.version}/snapshot=${spec.snapshotId}/`;
  await store.upload(file, `${prefix}part-00000.parquet`);
  if (spec.manifest !== false) {
    const shards = [
      {
        key: `features/snapshot=${spec.snapshotId}/part-00000.parquet`,
        outputKey: `${prefix}part-00000.parquet`,
        rows,
        positives: 0,
      },
    ];
    if (spec.missingOutput)
      shards.push({
        key: `features/snapshot=${spec.snapshotId}/part-00001.parquet`,
        outputKey: `${prefix}part-00001.parquet`,
        rows: 1,
        positives: 0,
      });
    await store.put(
      `${prefix}manifest.json`,
      JSON.stringify({
        snapshotId: spec.snapshotId,
        modelName: model,
        modelVersion: spec.version,
        runId: `run-${spec.snapshotId}`,
        createdAt: spec.createdAt,
        rows,
        positives: 0,
        shards,
      }),
    );
  }
  return prefix;
}
