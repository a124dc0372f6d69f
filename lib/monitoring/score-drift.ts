import { TIME_COLUMN } from '#lib/features/catalog.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import type { BatchManifest } from '#lib/serving/batch-shards.ts';
import { readDoubleColumns, selectNewestWindow, withParquetObjects } from './parquet-window.ts';
import { psi, PSI_EPSILON } from './statistics.ts';
import { batchRunsPrefix } from '#lib/features/offline-layout.ts';

/**
 * Score drift of the champion from what batch scoring already writes, with no score reference in
 * the model card and no ONNX in the drift check (docs/adr/0092-score-drift-from-batch-runs.md).
 *
 * A batch run (state-machines/batch-scoring.asl.json, lib/serving/batch-shards.ts) writes
 * predictions/<model>/<version>/snapshot=<id>/part-*.parquet (the snapshot's rows plus
 * `probability`) and, last, manifest.json naming every output: a folder with a manifest whose
 * outputs all exist is a COMPLETE run; a folder without one is a run still going or one that
 * failed, and is ignored.
 *
 * - reference: the champion version's FIRST complete run (oldest manifest createdAt), the model's
 *   own scores on the first population it scored; current: its LATEST complete run. Runs of other
 *   versions are never looked at (their folders are other versions').
 * - rows compared: the same window the feature check uses, on each run (the loans of its last
 *   windowDays days ending at the run's newest loan date, extended to the newest minRows rows). A
 *   snapshot holds the whole loan history, so two whole runs share most rows and their PSI would
 *   be diluted by that shared history. A run without the time column is compared whole.
 * - bins: deciles of the reference window's scores (9 edges, duplicates dropped when scores tie),
 *   plus a bin for a missing probability. Fixed edges (0.1, 0.2, ...) would put most rows of a
 *   credit-risk model in the first bin (default rates of a few percent), where PSI sees nothing.
 * - PSI with statistics.ts's psi() and PSI_EPSILON: the feature rule's epsilon.
 */
export const SCORE_BINS = 10;
const SNAPSHOT_FOLDER = /^snapshot=([A-Za-z0-9._-]{1,128})\/(.+)$/;

export interface BatchRunRef {
  snapshotId: string;
  createdAt: string;
  runId: string | null;
  manifestKey: string;
  /** Rows the run scored (the manifest's count). */
  rows: number;
  outputKeys: string[];
}

export interface ScoreWindow {
  /** Inclusive loan_date range of the scores compared; null when the run has no time column or no dated row. */
  from: string | null;
  to: string | null;
  rows: number;
  rowsInRun: number;
  /** true when the window held fewer than minRows rows and the newest minRows were taken instead. */
  extended: boolean;
  /** false: the run has no time column and every row was compared. */
  windowed: boolean;
}

export interface ScoreRun extends Omit<BatchRunRef, 'outputKeys'> {
  window: ScoreWindow;
}

export interface ScoreBin {
  /** Inclusive lower edge (null: below every edge; the missing bin has both null and missing: true). */
  from: number | null;
  /** Exclusive upper edge (null: no upper edge). */
  to: number | null;
  missing?: true;
  referenceShare: number;
  currentShare: number;
}

export type ScoreDrift =
  | {
      available: true;
      psi: number;
      /** stable / shifting / drifted by the feature rule's levels; reported only, never a retrain reason. */
      status: 'stable' | 'shifting' | 'drifted';
      modelVersion: string;
      referenceRun: ScoreRun;
      currentRun: ScoreRun;
      bins: ScoreBin[];
    }
  | { available: false; reason: string; modelVersion: string; completeRuns: number };

export { batchRunsPrefix } from '#lib/features/offline-layout.ts';

/**
 * The complete batch runs of one model version, oldest first (manifest createdAt, then snapshot
 * id). `ignored` says which folders were left out and why (no manifest yet, a missing output, a
 * manifest of another version or snapshot).
 */
export async function completeBatchRuns(
  store: ObjectStore,
  modelName: string,
  modelVersion: string,
): Promise<{ runs: BatchRunRef[]; ignored: Array<{ snapshotId: string; why: string }> }> {
  const prefix = batchRunsPrefix(modelName, modelVersion);
  const bySnapshot = new Map<string, Set<string>>();
  for (const o of await store.list(prefix)) {
    const m = SNAPSHOT_FOLDER.exec(o.key.slice(prefix.length));
    if (!m) continue;
    const files = bySnapshot.get(m[1]) ?? new Set<string>();
    files.add(o.key);
    bySnapshot.set(m[1], files);
  }
  const runs: BatchRunRef[] = [];
  const ignored: Array<{ snapshotId: string; why: string }> = [];
  for (const [snapshotId, keys] of bySnapshot) {
    const manifestKey = `${prefix}snapshot=${snapshotId}/manifest.json`;
    if (!keys.has(manifestKey)) {
      ignored.push({ snapshotId, why: 'no manifest.json: the run is unfinished or failed' });
      continue;
    }
    const manifest = await getJson<Partial<BatchManifest>>(store, manifestKey);
    const why = incompleteBecause(manifest, modelVersion, snapshotId, keys);
    if (why !== null || manifest === undefined) {
      ignored.push({ snapshotId, why: why ?? 'manifest unreadable' });
      continue;
    }
    runs.push({
      snapshotId,
      createdAt: manifest.createdAt as string,
      runId: typeof manifest.runId === 'string' ? manifest.runId : null,
      manifestKey,
      rows: typeof manifest.rows === 'number' ? manifest.rows : 0,
      outputKeys: (manifest.shards ?? []).map((s) => s.outputKey),
    });
  }
  runs.sort((a, b) =>
    a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? -1 : 1) : a.snapshotId < b.snapshotId ? -1 : 1,
  );
  return { runs, ignored };
}

function incompleteBecause(
  manifest: Partial<BatchManifest> | undefined,
  modelVersion: string,
  snapshotId: string,
  keys: ReadonlySet<string>,
): string | null {
  if (manifest === undefined || manifest === null || typeof manifest !== 'object')
    return 'manifest.json is unreadable';
  if (manifest.modelVersion !== modelVersion)
    return `the manifest names model version ${String(manifest.modelVersion)}`;
  if (manifest.snapshotId !== snapshotId) return `the manifest names snapshot ${String(manifest.snapshotId)}`;
  if (typeof manifest.createdAt !== 'string' || Number.isNaN(Date.parse(manifest.createdAt)))
    return 'the manifest has no createdAt';
  if (!Array.isArray(manifest.shards) || manifest.shards.length === 0) return 'the manifest names no output';
  const missing = manifest.shards.filter((s) => typeof s?.outputKey !== 'string' || !keys.has(s.outputKey));
  if (missing.length > 0) return `${missing.length} output(s) named by the manifest are missing`;
  return null;
}

/**
 * The reference's decile edges: the scores at ranks floor(k n / bins), k = 1..bins-1, ascending,
 * duplicates dropped (a spike of equal scores stays in one bin). NaN is left out.
 */
export function quantileEdges(reference: ArrayLike<number>, bins = SCORE_BINS): number[] {
  const sorted = Float64Array.from(Array.from(reference).filter((v) => !Number.isNaN(v))).sort();
  if (sorted.length === 0) return [];
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const v = sorted[Math.min(sorted.length - 1, Math.floor((k * sorted.length) / bins))];
    if (edges.length === 0 || v > edges[edges.length - 1]) edges.push(v);
  }
  // An edge at the minimum would leave bin 1 empty on the reference side.
  if (edges[0] === sorted[0]) edges.shift();
  return edges;
}

/** Counts per bin: [missing, value bin 1 .. edges.length + 1]; value bin = 1 + #{edges <= x}. */
export function scoreCounts(scores: ArrayLike<number>, edges: readonly number[]): Float64Array {
  const counts = new Float64Array(edges.length + 2);
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    if (Number.isNaN(v)) {
      counts[0]++;
      continue;
    }
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (edges[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    counts[1 + lo]++;
  }
  return counts;
}

/** Score PSI of `current` against `reference` over the reference's decile bins (NaN when a side is empty). */
export function scorePsi(
  reference: ArrayLike<number>,
  current: ArrayLike<number>,
  options: { bins?: number; epsilon?: number } = {},
): { psi: number; bins: ScoreBin[] } {
  const edges = quantileEdges(reference, options.bins ?? SCORE_BINS);
  const expected = scoreCounts(reference, edges);
  const actual = scoreCounts(current, edges);
  const value = psi(expected, actual, options.epsilon ?? PSI_EPSILON);
  const te = expected.reduce((s, c) => s + c, 0) || 1;
  const ta = actual.reduce((s, c) => s + c, 0) || 1;
  const bins: ScoreBin[] = [];
  for (let k = 0; k < expected.length; k++) {
    if (k === 0 && expected[0] === 0 && actual[0] === 0) continue; // no missing probability on either side
    const share = { referenceShare: expected[k] / te, currentShare: actual[k] / ta };
    bins.push(
      k === 0
        ? { from: null, to: null, missing: true, ...share }
        : { from: k === 1 ? null : edges[k - 2], to: k - 1 < edges.length ? edges[k - 1] : null, ...share },
    );
  }
  return { psi: value, bins };
}

/** The scores of a run's window (see the module comment); NaN for a missing probability. */
export async function readRunScores(options: {
  store: ObjectStore;
  run: BatchRunRef;
  windowDays: number;
  minRows: number;
  tmpDir: string;
}): Promise<{ scores: Float64Array; window: ScoreWindow }> {
  const { store, run } = options;
  return withParquetObjects(
    { store, keys: run.outputKeys, tmpDir: options.tmpDir, scratch: 'score-drift' },
    async (relation) => {
      const { conn, source, present } = relation;
      if (!present.has('probability'))
        throw new Error(`${store.describe(run.manifestKey)}: the run's outputs have no probability column`);
      const windowed = present.has(TIME_COLUMN);
      let sql = `SELECT * FROM ${source}`;
      let extended = false;
      let rowsInRun: number;
      if (windowed) {
        // Ties on the boundary day are cut by probability: the same run always gives the same scores.
        const selection = await selectNewestWindow(relation, {
          timeColumn: TIME_COLUMN,
          windowDays: options.windowDays,
          minRows: options.minRows,
          tieBreak: ['probability DESC NULLS LAST'],
        });
        ({ sql, extended, rowsTotal: rowsInRun } = selection);
      } else {
        rowsInRun = Number(
          (await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${source}`)).getRowObjectsJS()[0].n,
        );
      }
      const read = await readDoubleColumns(conn, sql, ['probability'], windowed ? TIME_COLUMN : null);
      return {
        scores: read.values[0],
        window: { from: read.from, to: read.to, rows: read.rows, rowsInRun, extended, windowed },
      };
    },
  );
}

/**
 * Score drift of `modelVersion`: its first complete batch run against its latest. Fewer than two
 * complete runs is an `available: false` answer with the reason, not an error.
 */
export async function checkScoreDrift(options: {
  store: ObjectStore;
  modelName: string;
  modelVersion: string;
  windowDays: number;
  minRows: number;
  tmpDir: string;
  /** The feature rule's threshold: only for the status label (score PSI retrains nothing). */
  threshold: number;
  warn: number;
}): Promise<ScoreDrift> {
  const { runs } = await completeBatchRuns(options.store, options.modelName, options.modelVersion);
  if (runs.length < 2) {
    return {
      available: false,
      reason: `not enough batch runs: ${runs.length} complete batch-scoring run(s) of the champion, 2 needed (the first is the score reference)`,
      modelVersion: options.modelVersion,
      completeRuns: runs.length,
    };
  }
  const first = runs[0];
  const latest = runs[runs.length - 1];
  const read = (run: BatchRunRef) =>
    readRunScores({
      store: options.store,
      run,
      windowDays: options.windowDays,
      minRows: options.minRows,
      tmpDir: options.tmpDir,
    });
  const reference = await read(first);
  const current = await read(latest);
  const { psi: value, bins } = scorePsi(reference.scores, current.scores);
  if (!Number.isFinite(value)) {
    return {
      available: false,
      reason: 'a batch run has no scores to compare',
      modelVersion: options.modelVersion,
      completeRuns: runs.length,
    };
  }
  const runOf = ({ outputKeys: _keys, ...ref }: BatchRunRef, window: ScoreWindow): ScoreRun => ({
    ...ref,
    window,
  });
  return {
    available: true,
    psi: value,
    status:
      value > options.threshold
        ? 'drifted'
        : value >= Math.min(options.warn, options.threshold)
          ? 'shifting'
          : 'stable',
    modelVersion: options.modelVersion,
    referenceRun: runOf(first, reference.window),
    currentRun: runOf(latest, current.window),
    bins,
  };
}
