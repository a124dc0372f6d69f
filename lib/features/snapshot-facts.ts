import { DuckDBInstance } from '@duckdb/node-api';
import type { CandidateFacts, SnapshotColumn } from './publish-guards.ts';

/**
 * What a snapshot holds, as the publish guards and the audit log need it: counts and columns
 * from its manifest.json, and the customers counted in its online.parquet (the rows the online
 * store would serve; counted from the file, not trusted from the manifest). A manifest written by
 * another tool may lack any field: what it lacks is null, and the guards say what they could not
 * check.
 */
export interface SnapshotFacts extends CandidateFacts {
  /** Rows of the feature table (one per valid loan), when known. */
  rows: number | null;
}

interface ManifestLike {
  validation?: { rowsIn?: unknown; rowsValid?: unknown; rowsQuarantined?: unknown };
  columns?: unknown;
  files?: { features?: { rows?: unknown }; online?: { rows?: unknown } };
  rowsValid?: unknown;
}

const count = (v: unknown): number | null =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null;

/** The manifest's counts and columns (null where it says nothing usable). */
export function manifestFacts(manifest: unknown): {
  rows: number | null;
  customers: number | null;
  rowsIn: number | null;
  rowsQuarantined: number | null;
  columns: SnapshotColumn[] | null;
} {
  const m = (manifest ?? {}) as ManifestLike;
  const columns = Array.isArray(m.columns)
    ? m.columns.filter(
        (c): c is SnapshotColumn =>
          c !== null &&
          typeof c === 'object' &&
          typeof (c as SnapshotColumn).name === 'string' &&
          typeof (c as SnapshotColumn).type === 'string',
      )
    : null;
  return {
    rows: count(m.files?.features?.rows) ?? count(m.validation?.rowsValid) ?? count(m.rowsValid),
    customers: count(m.files?.online?.rows),
    rowsIn: count(m.validation?.rowsIn),
    rowsQuarantined: count(m.validation?.rowsQuarantined),
    columns: columns === null ? null : columns.map((c) => ({ name: c.name, type: c.type })),
  };
}

/** Rows of a local Parquet file (DuckDB reads the count from the footer). */
export async function countParquetRows(file: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(
      `SELECT count(*)::BIGINT FROM read_parquet('${file.replace(/'/g, "''")}', hive_partitioning = false)`,
    );
    return Number(reader.getRows()[0]?.[0] ?? 0);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** The facts of a snapshot from its manifest and its online rows file. */
export async function snapshotFacts(
  snapshotId: string,
  manifest: unknown,
  onlineFile: string,
): Promise<SnapshotFacts> {
  const m = manifestFacts(manifest);
  return {
    snapshotId,
    customers: await countParquetRows(onlineFile),
    rows: m.rows,
    rowsIn: m.rowsIn,
    rowsQuarantined: m.rowsQuarantined,
    columns: m.columns,
  };
}
