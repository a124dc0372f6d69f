import { TIME_COLUMN } from '#lib/features/catalog.ts';
import type { FeatureManifest } from '#lib/features/manifest.ts';
import { CURRENT_KEY, snapshotPrefix } from '#lib/features/offline-layout.ts';
import { readCurrentSnapshot } from '#lib/features/publish.ts';
import { sqlIdentifier } from '#lib/features/sql-text.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import type { SnapshotWindow } from './drift-report.ts';
import { readDoubleColumns, selectNewestWindow, withParquetObjects } from './parquet-window.ts';

/**
 * What the drift check compares: the NEWEST rows of the current offline snapshot (features/CURRENT
 * -> features/snapshot=<id>/part-*.parquet), one row per loan, point-in-time features.
 *
 * The window is the loans of the last `windowDays` days ending at the snapshot's newest loan date
 * (not "today": a snapshot built from a file that stops in March is judged on March, whatever the
 * clock says). When that holds fewer than `minRows` rows, the newest `minRows` rows are taken
 * instead (`extended`), because PSI over a handful of loans is noise. Defaults: 30 days, 1,000 rows.
 */
export const DEFAULT_WINDOW_DAYS = 30;
export const DEFAULT_MIN_ROWS = 1000;

const SNAPSHOT_ID = /^[A-Za-z0-9._-]{1,128}$/;
const SHARD_FILE = /^part-[A-Za-z0-9._-]*\.parquet$/;

export interface WindowOptions {
  store: ObjectStore;
  /** The columns wanted (the champion's features); those the snapshot lacks are left out of the result. */
  columns: readonly string[];
  windowDays?: number;
  minRows?: number;
  /** Scratch directory for the downloaded shards (/tmp in Lambda). */
  tmpDir: string;
  /** Compare this snapshot instead of the one features/CURRENT names. */
  snapshotId?: string;
}

export type WindowResult =
  | { found: true; window: SnapshotWindow; values: Map<string, Float64Array> }
  | { found: false; reason: string };

/** The window's feature values, or why there is nothing to compare (no snapshot published, no shard). */
export async function readSnapshotWindow(options: WindowOptions): Promise<WindowResult> {
  const { store } = options;
  const windowDays = options.windowDays ?? DEFAULT_WINDOW_DAYS;
  const minRows = options.minRows ?? DEFAULT_MIN_ROWS;
  let snapshotId = options.snapshotId;
  if (snapshotId === undefined) {
    const current = await readCurrentSnapshot(store);
    if (!current || typeof current.snapshotId !== 'string')
      return {
        found: false,
        reason: `no published feature snapshot (${store.describe(CURRENT_KEY)} is missing)`,
      };
    snapshotId = current.snapshotId;
  }
  if (!SNAPSHOT_ID.test(snapshotId))
    return { found: false, reason: `snapshot id ${JSON.stringify(snapshotId)} is not a valid id` };
  const prefix = snapshotPrefix(snapshotId);
  const objects = await store.list(prefix);
  const manifestKey = `${prefix}manifest.json`;
  if (!objects.some((o) => o.key === manifestKey)) {
    return {
      found: false,
      reason: `snapshot ${snapshotId} has no ${store.describe(manifestKey)}: not a finished snapshot`,
    };
  }
  const shards = objects.map((o) => o.key).filter((k) => SHARD_FILE.test(k.slice(prefix.length)));
  if (shards.length === 0)
    return { found: false, reason: `snapshot ${snapshotId} has no part-*.parquet file` };
  const manifest = await getJson<Partial<FeatureManifest>>(store, manifestKey);
  const timeColumn = typeof manifest?.timeColumn === 'string' ? manifest.timeColumn : TIME_COLUMN;

  return withParquetObjects(
    { store, keys: shards, tmpDir: options.tmpDir, scratch: 'drift' },
    async (relation) => {
      const { conn, present } = relation;
      if (!present.has(timeColumn))
        return { found: false, reason: `snapshot ${snapshotId} has no time column ${timeColumn}` };
      // Loans of the boundary day are cut by id, so the same snapshot always gives the same rows.
      const ids = Array.isArray(manifest?.idColumns)
        ? manifest.idColumns.filter((c): c is string => typeof c === 'string' && present.has(c))
        : [];
      const selection = await selectNewestWindow(relation, {
        timeColumn,
        windowDays,
        minRows,
        tieBreak: ids.map((c) => `${sqlIdentifier(c)} DESC`),
      });
      const wanted = options.columns.filter((c) => present.has(c));
      const rowsInSnapshot = selection.rowsTotal;
      if (selection.newest === null) {
        const empty: SnapshotWindow = {
          snapshotId,
          from: null,
          to: null,
          windowDays,
          extended: false,
          rows: 0,
          rowsInSnapshot,
        };
        return { found: true, window: empty, values: new Map(wanted.map((c) => [c, new Float64Array(0)])) };
      }
      const read = await readDoubleColumns(conn, selection.sql, wanted, timeColumn);
      const values = new Map(wanted.map((c, j) => [c, read.values[j]]));
      const window: SnapshotWindow = {
        snapshotId,
        from: read.from,
        to: read.to,
        windowDays,
        extended: selection.extended,
        rows: read.rows,
        rowsInSnapshot,
      };
      return { found: true, window, values };
    },
  );
}
