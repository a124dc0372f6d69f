import type { FeatureReference } from '#lib/model/card.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { ModelRegistry, shortId } from '#lib/registry/registry.ts';
import {
  buildDriftReport,
  DEFAULT_PSI_THRESHOLD,
  fmt,
  WARN_PSI,
  type BuildReportInput,
  type DriftReport,
} from './drift-report.ts';
import { checkScoreDrift, type ScoreDrift } from './score-drift.ts';
import { DEFAULT_MIN_ROWS, DEFAULT_WINDOW_DAYS, readSnapshotWindow } from './snapshot-window.ts';
import type { RunningExecution, TrainingStarter } from '#lib/ports/training-starter.ts';
import { DRIFT_PREFIX } from '#lib/features/offline-layout.ts';
import { followErasures } from '#lib/features/erased-snapshots.ts';

/**
 * The drift check end to end, on ports only (the drift-check Lambda and `credit-risk monitor drift`
 * both call runDriftCheck):
 *
 *   champion (registry aliases) -> its card's `reference` (bins) and training snapshot
 *   -> the newest rows of the current offline snapshot and, as the baseline, the same window of
 *      the training snapshot (snapshot-window.ts; drift-report.ts says why)
 *   -> score drift: the champion's first complete batch-scoring run against its latest
 *      (predictions/<model>/<version>/, score-drift.ts; reported, never a retrain reason)
 *   -> DriftReport (drift-report.ts) -> cooldown -> maybe start the training state machine
 *   -> monitoring/drift/<checkedAt>.json (written whole: ObjectStore.put is atomic)
 *
 * Cooldown: a drift retraining leaves a marker monitoring/drift/retrains/<startedAt>.json. While the
 * newest marker is younger than cooldownDays (default 7, the scheduled retraining's period), a
 * drifted day starts nothing and the report says why: the run started for the first drifted day
 * is either still running (up to the state machine's 4 h timeout), or finished and either promoted
 * a model trained on the drifted data (whose reference the next check uses) or was rejected by the
 * gate, in which case retraining the same data every day would be rejected the same way. The
 * marker's time is in its key, so the check needs only a listing. The execution name is
 * `drift-<date>-<champion>`: a retried invocation on the same day cannot start a second run
 * (the starter reports it as already started), and the marker is written after the start, so a
 * crash between the two is repaired by the retry.
 *
 * Already running: the markers only know the drift check's own runs. Past the cooldown, the check
 * asks the starter which training executions are running, whatever started them (the weekly
 * schedule, new raw data, a manual `pipeline run`), and starts nothing while one is: two trainings
 * of the same model would race to register and canary. No marker is written, so the next check
 * looks again (and compares against whatever the running one promotes). A running execution with
 * this check's own name is a retried invocation, not another run: the start goes ahead and answers
 * `alreadyStarted`. If the listing fails, nothing is started either (docs/adr/0090-no-drift-retrain-while-training-runs.md).
 *
 * Nothing to compare (no champion, no card reference, no snapshot, no rows) is a `skipped`
 * outcome with the reason: no report, no metric, no retraining.
 */
export { DRIFT_PREFIX } from '#lib/features/offline-layout.ts';
export const RETRAIN_MARKER_PREFIX = `${DRIFT_PREFIX}retrains/`;
export const DEFAULT_COOLDOWN_DAYS = 7;
const DAY_MS = 86_400_000;

// The port moved to lib/ports/training-starter.ts; re-exported for the modules that import it from here.
export type { RunningExecution, TrainingStarter } from '#lib/ports/training-starter.ts';

export interface DriftCheckConfig {
  modelName?: string;
  threshold?: number;
  windowDays?: number;
  minRows?: number;
  cooldownDays?: number;
  /** Compare this snapshot instead of features/CURRENT's. */
  snapshotId?: string;
}

export interface DriftCheckDeps {
  /** Offline snapshots and monitoring/ (FEATURES_BUCKET in AWS). */
  featuresStore: ObjectStore;
  /** The registry (MODELS_BUCKET in AWS). */
  modelsStore: ObjectStore;
  clock: Clock;
  tmpDir: string;
  /** Absent: report only, never retrain (the CLI without --retrain). */
  starter?: TrainingStarter;
}

export interface RetrainOutcome {
  /** The drift decision asked for a retraining (before the cooldown). */
  wanted: boolean;
  started: boolean;
  executionName?: string;
  executionId?: string;
  /** A start with this name had already happened (a retried invocation). */
  alreadyStarted?: boolean;
  /** Why nothing was started although drift asked for it. */
  skipped?: string;
  cooldown?: { days: number; lastStartedAt: string; until: string };
  /** Training executions already running when a start was due: nothing was started. */
  running?: RunningExecution[];
  /** Listing the running executions failed (its message): nothing was started. */
  runningUnknown?: string;
}

export interface CheckedReport extends DriftReport {
  retrain: RetrainOutcome;
}

export type DriftCheckOutcome =
  { status: 'checked'; report: CheckedReport; reportKey: string } | { status: 'skipped'; reason: string };

export async function runDriftCheck(
  deps: DriftCheckDeps,
  config: DriftCheckConfig = {},
): Promise<DriftCheckOutcome> {
  const registry = new ModelRegistry(deps.modelsStore, { name: config.modelName });
  const champion = (await registry.aliases()).champion;
  if (!champion)
    return {
      status: 'skipped',
      reason: `model ${registry.name} has no champion: nothing to compare against`,
    };
  const { card } = await registry.card(champion);
  const reference = Array.isArray(card.reference) ? (card.reference as FeatureReference[]) : [];
  if (reference.length === 0)
    return { status: 'skipped', reason: `the champion ${shortId(champion)}'s card has no feature reference` };

  const threshold = config.threshold ?? DEFAULT_PSI_THRESHOLD;
  const windowOf = (snapshotId: string | undefined) =>
    readSnapshotWindow({
      store: deps.featuresStore,
      columns: reference.map((r) => r.feature),
      windowDays: config.windowDays ?? DEFAULT_WINDOW_DAYS,
      minRows: config.minRows ?? DEFAULT_MIN_ROWS,
      tmpDir: deps.tmpDir,
      snapshotId,
    });
  const read = await windowOf(config.snapshotId);
  if (!read.found) return { status: 'skipped', reason: read.reason };
  if (read.window.rows === 0)
    return { status: 'skipped', reason: `snapshot ${read.window.snapshotId} has no rows to compare` };

  // The baseline: the same window on the snapshot the champion was trained on (drift-report.ts).
  const data = card.data as { snapshotId?: unknown } | undefined;
  // An erase rewrites snapshots under new ids; the card keeps the id it was trained on.
  const trainedOn =
    typeof data?.snapshotId === 'string'
      ? ((await followErasures(deps.featuresStore, data.snapshotId)) ?? data.snapshotId)
      : null;
  let baseline: BuildReportInput['baseline'];
  if (trainedOn === null) baseline = { why: 'the champion card names no training snapshot' };
  else if (trainedOn === read.window.snapshotId) baseline = { window: read.window, columns: read.values };
  else {
    const trained = await windowOf(trainedOn);
    baseline =
      trained.found && trained.window.rows > 0
        ? { window: trained.window, columns: trained.values }
        : {
            why: `the training snapshot ${trainedOn} is not readable (${trained.found ? 'no rows' : trained.reason})`,
          };
  }

  const score = await scoreDriftOf(deps, {
    modelName: registry.name,
    modelVersion: champion,
    windowDays: config.windowDays ?? DEFAULT_WINDOW_DAYS,
    minRows: config.minRows ?? DEFAULT_MIN_ROWS,
    threshold,
  });

  const now = deps.clock.now();
  const report = buildDriftReport({
    checkedAt: now.toISOString(),
    model: { name: registry.name, version: champion, trainedOnSnapshot: trainedOn },
    reference,
    snapshot: read.window,
    columns: read.values,
    baseline,
    options: { threshold },
    score,
  });
  const reportKey = `${DRIFT_PREFIX}${compactTime(now)}.json`;
  const retrain = await maybeRetrain(
    deps,
    report,
    reportKey,
    now,
    config.cooldownDays ?? DEFAULT_COOLDOWN_DAYS,
  );
  const checked: CheckedReport = { ...report, retrain };
  // The decision after the cooldown and the running executions; a report-only run (no starter), or
  // one that could not list the running executions, still says a retraining is due.
  checked.decision = {
    retrain: retrain.wanted && retrain.cooldown === undefined && retrain.running === undefined,
    reasons: [...report.decision.reasons, ...(retrain.skipped ? [retrain.skipped] : [])],
  };
  await deps.featuresStore.put(reportKey, `${JSON.stringify(checked, null, 2)}\n`, {
    contentType: 'application/json',
  });
  return { status: 'checked', report: checked, reportKey };
}

/**
 * Score drift, or why not. Reading the prediction files can fail (a damaged object, a store
 * error): that is the score section's reason, not a failed check, because the feature check,
 * which decides retraining, does not depend on it.
 */
async function scoreDriftOf(
  deps: DriftCheckDeps,
  options: {
    modelName: string;
    modelVersion: string;
    windowDays: number;
    minRows: number;
    threshold: number;
  },
): Promise<ScoreDrift> {
  try {
    return await checkScoreDrift({
      store: deps.featuresStore,
      tmpDir: deps.tmpDir,
      warn: WARN_PSI,
      ...options,
    });
  } catch (e) {
    const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return {
      available: false,
      reason: `the batch runs could not be read: ${message}`,
      modelVersion: options.modelVersion,
      completeRuns: 0,
    };
  }
}

async function maybeRetrain(
  deps: DriftCheckDeps,
  report: DriftReport,
  reportKey: string,
  now: Date,
  cooldownDays: number,
): Promise<RetrainOutcome> {
  if (!report.decision.retrain) return { wanted: false, started: false };
  const last = await lastRetrainStart(deps.featuresStore);
  if (last && now.getTime() - last.getTime() < cooldownDays * DAY_MS) {
    const until = new Date(last.getTime() + cooldownDays * DAY_MS).toISOString();
    return {
      wanted: true,
      started: false,
      skipped: `cooldown: a drift retraining started at ${last.toISOString()}, the next may start after ${until} (${cooldownDays} days)`,
      cooldown: { days: cooldownDays, lastStartedAt: last.toISOString(), until },
    };
  }
  if (!deps.starter)
    return { wanted: true, started: false, skipped: 'retraining not requested (report only)' };
  const executionName = `drift-${now.toISOString().slice(0, 10)}-${shortId(report.model.version)}`;
  let inFlight: RunningExecution[];
  try {
    inFlight = await deps.starter.running();
  } catch (e) {
    const message = errorText(e);
    return {
      wanted: true,
      started: false,
      skipped: `running executions unknown: listing the training executions failed (${message}); nothing started, the next check tries again`,
      runningUnknown: message,
    };
  }
  // Our own name running is a retried invocation: the start below answers alreadyStarted.
  const others = inFlight.filter((r) => r.name !== executionName);
  if (others.length > 0) {
    const list = others.map((r) => `${r.name} (started ${r.startedAt})`).join(', ');
    return {
      wanted: true,
      started: false,
      skipped: `already running: training execution${others.length > 1 ? 's' : ''} ${list}; no second one started, the next check looks again`,
      running: others,
    };
  }
  const input = {
    trigger: 'drift',
    drift: {
      reportKey,
      maxPsi: Number(fmt(report.maxPsi)),
      feature: report.maxPsiFeature,
      threshold: report.threshold,
      champion: report.model.version,
    },
  };
  const { started, executionId } = await deps.starter.start({ name: executionName, input });
  await deps.featuresStore.put(
    `${RETRAIN_MARKER_PREFIX}${compactTime(now)}.json`,
    `${JSON.stringify({ executionName, executionId, reportKey, started })}\n`,
    {
      contentType: 'application/json',
    },
  );
  return { wanted: true, started, executionName, executionId, ...(started ? {} : { alreadyStarted: true }) };
}

/** `ThrottlingException: Rate exceeded`: the error's class (AWS SDK errors name the service's error) and first line. */
function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const first = e.message.split('\n')[0];
  return e.name && e.name !== 'Error' ? `${e.name}: ${first}` : first;
}

/** The newest drift retraining start, from the marker keys (no object is read). */
export async function lastRetrainStart(store: ObjectStore): Promise<Date | undefined> {
  let last: Date | undefined;
  for (const o of await store.list(RETRAIN_MARKER_PREFIX)) {
    const at = parseCompactTime(o.key.slice(RETRAIN_MARKER_PREFIX.length).replace(/\.json$/, ''));
    if (at && (!last || at > last)) last = at;
  }
  return last;
}

/** 2026-12-03T07:21:27.123Z -> 2026-12-03T072127123Z (sorts like the time, no ':' in keys). */
export function compactTime(at: Date): string {
  return at.toISOString().replace(/[:.]/g, '');
}

export function parseCompactTime(text: string): Date | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(text);
  if (!m) return undefined;
  const at = new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}
