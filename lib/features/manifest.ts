import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import type { ColumnRole } from './catalog.ts';
import type { ValidationSummary } from './validate.ts';

/**
 * DIR/manifest.json, written LAST by `features build`: what the snapshot holds and how it was made.
 * A directory with a manifest is a finished snapshot; without one it is not (publish refuses it).
 * Readers: `features publish` (snapshotId), the trainer (columns and their roles), people (lineage).
 */
export const MANIFEST_VERSION = 1;

export interface ManifestColumn {
  name: string;
  /** DuckDB type name (BIGINT, INTEGER, DOUBLE, DATE, VARCHAR). */
  type: string;
  role: ColumnRole;
}

export interface ManifestFile {
  /** File name inside the snapshot directory. */
  name: string;
  rows: number;
  bytes: number;
  sha256: string;
}

export interface FeatureManifest {
  manifestVersion: typeof MANIFEST_VERSION;
  /** Content-derived: see snapshotIdOf. */
  snapshotId: string;
  /** The as-of date: loans after it were quarantined (future_loan_date). */
  asOf: string;
  createdAt: string;
  engine: 'duckdb' | 'spark';
  format: 'parquet' | 'csv';
  input: { path: string; sha256: string; bytes: number };
  code: {
    /** The checkout's commit when built from a git checkout (lineage only; not in the snapshot id). */
    gitCommit: string | null;
    /** sha256 of lib/features/sql/features.sql, byte for byte. */
    sqlSha256: string;
    /** catalog.ts FEATURE_CODE_VERSION. */
    featureCodeVersion: string;
  };
  validation: ValidationSummary;
  /** The feature table's columns in file order, with their role for the trainer. */
  columns: ManifestColumn[];
  idColumns: string[];
  timeColumn: string;
  labelColumn: string;
  features: string[];
  /** The online aggregation (one row per customer), for `features publish`. */
  onlineColumns: { name: string; type: string }[];
  files: { features: ManifestFile; online: ManifestFile; quarantine: ManifestFile };
  /** Where the build spent its time, milliseconds per step. */
  timingsMs: Record<string, number>;
}

export interface SnapshotIdInputs {
  inputSha256: string;
  sqlSha256: string;
  featureCodeVersion: string;
  asOf: string;
  format: 'parquet' | 'csv';
  /** Which rows validation kept: a change in the rules that changes the outcome changes the id. */
  validation: Pick<ValidationSummary, 'rowsIn' | 'rowsValid' | 'rowsQuarantined' | 'byReason'>;
}

/**
 * The snapshot id: the first 16 hex digits of a sha256 over everything that decides the
 * snapshot's content. The same input built by the same feature definition (either engine: they
 * give identical rows) gets the same id, so re-running a build or a pipeline is idempotent; the
 * git commit is deliberately NOT part of it (a commit that does not touch the features must not
 * make a "new" snapshot).
 */
export function snapshotIdOf(inputs: SnapshotIdInputs): string {
  const byReason = Object.fromEntries(
    Object.entries(inputs.validation.byReason).sort(([a], [b]) => a.localeCompare(b)),
  );
  const canonical = JSON.stringify([
    'features-snapshot-v1',
    inputs.inputSha256,
    inputs.sqlSha256,
    inputs.featureCodeVersion,
    inputs.asOf,
    inputs.format,
    inputs.validation.rowsIn,
    inputs.validation.rowsValid,
    inputs.validation.rowsQuarantined,
    byReason,
  ]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** Writes the manifest atomically: a temp file in the same directory, then a rename. */
export function writeManifest(path: string, manifest: FeatureManifest): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, path);
}
