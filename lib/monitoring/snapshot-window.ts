import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TIME_COLUMN } from '#lib/features/catalog.ts';
import type { FeatureManifest } from '#lib/features/manifest.ts';
import { CURRENT_KEY, readCurrentSnapshot } from '#lib/features/publish.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import type { SnapshotWindow } from './drift-report.ts';

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
    if (!current || typeof current.snapshotId !== 'string') return { found: false, reason: `no published feature snapshot (${store.describe(CURRENT_KEY)} is missing)` };
    snapshotId = current.snapshotId;
  }
  if (!SNAPSHOT_ID.test(snapshotId)) return { found: false, reason: `snapshot id ${JSON.stringify(snapshotId)} is not a valid id` };
  const prefix = `features/snapshot=${snapshotId}/`;
  const objects = await store.list(prefix);
  const manifestKey = `${prefix}manifest.json`;
  if (!objects.some((o) => o.key === manifestKey)) {
    return { found: false, reason: `snapshot ${snapshotId} has no ${store.describe(manifestKey)}: not a finished snapshot` };
  }
  const shards = objects.map((o) => o.key).filter((k) => SHARD_FILE.test(k.slice(prefix.length)));
  if (shards.length === 0) return { found: false, reason: `snapshot ${snapshotId} has no part-*.parquet file` };
  const manifest = await getJson<Partial<FeatureManifest>>(store, manifestKey);
  const timeColumn = typeof manifest?.timeColumn === 'string' ? manifest.timeColumn : TIME_COLUMN;

  const work = await mkdtemp(join(options.tmpDir, 'drift-'));
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    const files: string[] = [];
    for (const [i, key] of shards.entries()) {
      const file = join(work, `part-${i}.parquet`);
      await store.download(key, file);
      files.push(file);
    }
    const source = `read_parquet([${files.map(sqlString).join(', ')}], union_by_name = true)`;
    const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
    const present = new Set(described.getRowObjectsJS().map((r) => String(r.column_name)));
    if (!present.has(timeColumn)) return { found: false, reason: `snapshot ${snapshotId} has no time column ${timeColumn}` };
    const t = ident(timeColumn);
    const stats = (await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n, strftime(max(CAST(${t} AS DATE)), '%Y-%m-%d') AS newest FROM ${source}`)).getRowObjectsJS()[0];
    const rowsInSnapshot = Number(stats.n);
    const newest = stats.newest === null ? null : String(stats.newest);
    const wanted = options.columns.filter((c) => present.has(c));
    const empty: SnapshotWindow = { snapshotId, from: null, to: null, windowDays, extended: false, rows: 0, rowsInSnapshot };
    if (newest === null) return { found: true, window: empty, values: new Map(wanted.map((c) => [c, new Float64Array(0)])) };

    const inWindow = `CAST(${t} AS DATE) > DATE ${sqlString(newest)} - INTERVAL ${Math.trunc(windowDays)} DAY`;
    const windowRows = Number((await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${source} WHERE ${inWindow}`)).getRowObjectsJS()[0].n);
    const extended = windowRows < minRows && windowRows < rowsInSnapshot;
    // Loans of the boundary day are cut by id, so the same snapshot always gives the same rows.
    const ids = Array.isArray(manifest?.idColumns) ? manifest.idColumns.filter((c): c is string => typeof c === 'string' && present.has(c)) : [];
    const tieBreak = ids.map((c) => `${ident(c)} DESC`);
    const rowsSql = extended
      ? `SELECT * FROM ${source} ORDER BY ${[`CAST(${t} AS DATE) DESC`, ...tieBreak].join(', ')} LIMIT ${Math.trunc(minRows)}`
      : `SELECT * FROM ${source} WHERE ${inWindow}`;
    const selects = [`strftime(CAST(${t} AS DATE), '%Y-%m-%d') AS __day`, ...wanted.map((c) => `CAST(${ident(c)} AS DOUBLE) AS ${ident(c)}`)];
    const result = await conn.stream(`SELECT ${selects.join(', ')} FROM (${rowsSql})`);
    const chunks: (number | null)[][] = wanted.map(() => []);
    let from: string | null = null;
    let to: string | null = null;
    let rows = 0;
    for await (const batch of result.yieldRowsJs()) {
      for (const r of batch) {
        const day = r[0] as string | null;
        if (day !== null) {
          if (from === null || day < from) from = day;
          if (to === null || day > to) to = day;
        }
        for (let j = 0; j < wanted.length; j++) chunks[j].push(r[j + 1] as number | null);
        rows++;
      }
    }
    const values = new Map<string, Float64Array>();
    wanted.forEach((c, j) => values.set(c, Float64Array.from(chunks[j], (v) => (v === null ? Number.NaN : v))));
    return { found: true, window: { snapshotId, from, to, windowDays, extended, rows, rowsInSnapshot }, values };
  } finally {
    conn.closeSync();
    instance.closeSync();
    await rm(work, { recursive: true, force: true });
  }
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
