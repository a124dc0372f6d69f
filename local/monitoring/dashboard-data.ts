import { readEmfDocuments, type EmfLine } from '#lib/adapters/local/emf-metrics-reader.ts';
import { snapshotAuditLog } from '#lib/features/snapshot-history.ts';
import {
  ALARM_RULES,
  evaluateAlarms,
  nearestRank,
  perPeriod,
  periodStart,
  type Datapoint,
  type LocalAlarmInputs,
} from '#lib/monitoring/alarm-evaluation.ts';
import { championAgeFromHistory } from '#lib/monitoring/champion-age.ts';
import {
  buildDashboardPage,
  type CanaryView,
  type DashboardData,
  type DriftView,
  type TrafficPoint,
  type VersionTrafficView,
} from '#lib/monitoring/dashboard-page.ts';
import type { CheckedReport } from '#lib/monitoring/drift-check.ts';
import { loadPerformance } from '#lib/monitoring/performance.ts';
import type { RealizedPerformanceProvider } from '#lib/monitoring/realized-performance-view.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import type { LocalHome } from '#local/home.ts';
import type { LocalRoot } from '#local/root.ts';
import { RunStore } from '#local/runs/run-store.ts';

/**
 * Gathers what the monitoring page shows from the local home: the EMF lines `credit-risk serve`
 * diverted under metrics/ (what CloudWatch would hold), the registry (aliases and audit), the
 * newest drift report (monitoring/drift/), the features audit log (quarantine per publish), the
 * run records (failed training and batch-scoring runs) and, when given, realized performance.
 */
export interface DashboardSources {
  home: LocalHome;
  objectStore: ObjectStore;
  modelName: string;
  now: Date;
  /** lib/monitoring/performance.ts through the caller; absent or null: "no outcomes yet". */
  performance?: RealizedPerformanceProvider;
}

const NAMESPACE = 'CreditRisk';
const BUCKETS_SECONDS = [10, 60, 300, 900, 3600, 21_600, 86_400];
const MAX_BUCKETS = 60;

interface Sample {
  at: number;
  value: number;
}

const numbers = (v: unknown): number[] =>
  Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : typeof v === 'number' ? [v] : [];

function inNamespace(doc: EmfLine): boolean {
  return doc._aws?.CloudWatchMetrics?.some((m) => (m.Namespace ?? NAMESPACE) === NAMESPACE) === true;
}

/** The samples of one metric name over every document (optionally only those of one version). */
function samples(docs: EmfLine[], metric: string, version?: string): Sample[] {
  const out: Sample[] = [];
  for (const d of docs) {
    if (version !== undefined && d.modelVersion !== version) continue;
    for (const value of numbers(d[metric])) out.push({ at: d._aws?.Timestamp ?? 0, value });
  }
  return out;
}

function bucketSeconds(from: number, to: number): number {
  const span = Math.max(1, (to - from) / 1000);
  return BUCKETS_SECONDS.find((b) => span / b <= MAX_BUCKETS) ?? BUCKETS_SECONDS.at(-1)!;
}

export function trafficView(
  docs: EmfLine[],
  aliases: { champion: string | null; canary: string | null },
): DashboardData['traffic'] {
  const versions = [
    ...new Set(docs.map((d) => d.modelVersion).filter((v): v is string => typeof v === 'string')),
  ];
  const times = docs.map((d) => d._aws?.Timestamp ?? 0);
  const bucket = times.length > 0 ? bucketSeconds(Math.min(...times), Math.max(...times)) : 60;
  const views: VersionTrafficView[] = versions.map((version) => {
    const count = (metric: string) => samples(docs, metric, version).reduce((a, s) => a + s.value, 0);
    const latencies = samples(docs, 'predictionLatency', version);
    const predictions = count('predictions');
    const clientErrors = count('clientErrors');
    const serverErrors = count('serverErrors');
    const series = new Map<number, { requests: number; serverErrors: number; latencies: number[] }>();
    const at = (t: number) => {
      const p = periodStart(t, bucket);
      let point = series.get(p);
      if (!point) series.set(p, (point = { requests: 0, serverErrors: 0, latencies: [] }));
      return point;
    };
    for (const m of ['predictions', 'clientErrors', 'serverErrors'])
      for (const s of samples(docs, m, version)) at(s.at).requests += s.value;
    for (const s of samples(docs, 'serverErrors', version)) at(s.at).serverErrors += s.value;
    for (const s of latencies) at(s.at).latencies.push(s.value);
    const starts = [...series.keys()];
    const points: TrafficPoint[] = [];
    if (starts.length > 0)
      for (let p = Math.min(...starts); p <= Math.max(...starts); p += bucket * 1000) {
        const s = series.get(p);
        points.push({
          at: p,
          requests: s?.requests ?? 0,
          serverErrors: s?.serverErrors ?? 0,
          p99LatencyMs: s && s.latencies.length > 0 ? nearestRank(s.latencies, 99) : null,
        });
      }
    return {
      modelVersion: version,
      role: version === aliases.champion ? 'champion' : version === aliases.canary ? 'canary' : 'other',
      requests: predictions + clientErrors + serverErrors,
      predictions,
      clientErrors,
      serverErrors,
      p99LatencyMs:
        latencies.length > 0
          ? nearestRank(
              latencies.map((s) => s.value),
              99,
            )
          : null,
      series: points,
    };
  });
  const rank = { champion: 0, canary: 1, other: 2 };
  views.sort((a, b) => rank[a.role] - rank[b.role] || b.requests - a.requests);
  return { bucketSeconds: bucket, versions: views };
}

/** Per period: handled 5xx over all answers (the local stand-in for Lambda Invocations). */
function errorRate(docs: EmfLine[], periodSeconds: number): Datapoint[] {
  const answers = new Map<number, number>();
  const handled = new Map<number, number>();
  const add = (m: Map<number, number>, s: Sample) => {
    const p = periodStart(s.at, periodSeconds);
    m.set(p, (m.get(p) ?? 0) + s.value);
  };
  for (const m of ['predictions', 'clientErrors', 'serverErrors'])
    for (const s of samples(docs, m)) add(answers, s);
  for (const s of samples(docs, 'handledServerErrors')) add(handled, s);
  return [...answers.entries()]
    .filter(([, n]) => n > 0)
    .map(([p, n]) => ({ periodStart: p, value: (handled.get(p) ?? 0) / n }));
}

async function latestDriftReport(store: ObjectStore): Promise<DriftView | null> {
  const keys = (await store.list('monitoring/drift/'))
    .map((o) => o.key)
    .filter((k) => /^monitoring\/drift\/[^/]+\.json$/.test(k))
    .sort();
  const key = keys.at(-1);
  if (!key) return null;
  const report = await getJson<CheckedReport>(store, key);
  if (!report) return null;
  return {
    reportKey: key,
    checkedAt: report.checkedAt,
    champion: report.model.version,
    snapshotId: report.snapshot.snapshotId,
    threshold: report.threshold,
    maxPsi: report.maxPsi,
    maxPsiFeature: report.maxPsiFeature,
    retrain: report.decision.retrain,
    features: report.features,
  };
}

async function canaryView(store: ObjectStore, modelName: string, now: Date): Promise<CanaryView> {
  const registry = new ModelRegistry(store, { name: modelName });
  const [aliases, history] = await Promise.all([registry.aliases(), registry.history()]);
  return {
    modelName: registry.name,
    champion: aliases.champion,
    canary: aliases.canary
      ? {
          version: aliases.canary.version,
          weight: aliases.canary.weight,
          deadline: aliases.canary.deadline ?? null,
        }
      : null,
    previousChampions: aliases.previousChampions,
    championAge: championAgeFromHistory(history, now) ?? null,
    recent: history
      .filter((e) => e.action !== 'register')
      .slice(-8)
      .reverse()
      .map((e) => ({ at: e.at, action: e.action, to: e.to, why: e.why })),
  };
}

/** Share of rows quarantined per hour over the publishes of the features audit log. */
async function quarantineRate(store: ObjectStore): Promise<Datapoint[]> {
  const rule = ALARM_RULES.QuarantineRateAlarm;
  const rowsIn = new Map<number, number>();
  const quarantined = new Map<number, number>();
  for (const e of await snapshotAuditLog(store).entries()) {
    if (e.action !== 'publish' || e.rows === null || e.quarantined === null) continue;
    const p = periodStart(Date.parse(e.at), rule.periodSeconds);
    rowsIn.set(p, (rowsIn.get(p) ?? 0) + e.rows + e.quarantined);
    quarantined.set(p, (quarantined.get(p) ?? 0) + e.quarantined);
  }
  return [...rowsIn.entries()]
    .filter(([, n]) => n > 0)
    .map(([p, n]) => ({ periodStart: p, value: (quarantined.get(p) ?? 0) / n }));
}

function failedRuns(home: LocalHome, stateMachine: string): Datapoint[] {
  const failed = new RunStore(home.runs)
    .list()
    .filter((r) => r.stateMachine === stateMachine && r.status === 'failed')
    .map((r) => ({ at: Date.parse(r.endedAt ?? r.startedAt), value: 1 }));
  return perPeriod(failed, ALARM_RULES.TrainingFailedAlarm.periodSeconds, 'Sum');
}

export async function gatherDashboardData(src: DashboardSources): Promise<DashboardData> {
  const docs = (await readEmfDocuments(src.home.metrics)).filter(inNamespace);
  const [canary, drift, quarantine, performance] = await Promise.all([
    canaryView(src.objectStore, src.modelName, src.now),
    latestDriftReport(src.objectStore),
    quarantineRate(src.objectStore),
    src.performance ? src.performance() : Promise.resolve(null),
  ]);
  const traffic = trafficView(docs, { champion: canary.champion, canary: canary.canary?.version ?? null });
  const emf = 'the EMF lines credit-risk serve writes under metrics/';
  const inputs: LocalAlarmInputs = {
    Api5xxAlarm: {
      datapoints: perPeriod(samples(docs, 'serverErrors'), 60, 'Sum'),
      source: `serverErrors, ${emf}`,
    },
    ApiLatencyP99Alarm: {
      datapoints: perPeriod(samples(docs, 'predictionLatency'), 300, 'p99'),
      source: `predictionLatency (the handler's; API Gateway adds its own), ${emf}`,
    },
    PredictCanaryErrorsAlarm: {
      datapoints: errorRate(docs, 60),
      source: `handledServerErrors over all answers, ${emf}`,
    },
    PredictNonFiniteAlarm: {
      datapoints: perPeriod(samples(docs, 'nonFiniteProbabilities'), 60, 'Sum'),
      source: `nonFiniteProbabilities, ${emf}`,
    },
    DriftAlarm: {
      datapoints: drift ? [{ periodStart: Date.parse(drift.checkedAt), value: drift.maxPsi }] : [],
      source: 'maxPsi of the newest monitoring/drift/ report (credit-risk monitor drift)',
    },
    ChampionAgeAlarm: {
      datapoints: canary.championAge
        ? [{ periodStart: src.now.getTime(), value: canary.championAge.days }]
        : [],
      source: 'the registry audit log (models/<name>/audit/)',
    },
    QuarantineRateAlarm: {
      datapoints: quarantine,
      source: 'quarantined / (rows + quarantined) of each publish in the features audit log',
    },
    TrainingFailedAlarm: {
      datapoints: failedRuns(src.home, 'training'),
      source: 'failed training runs under runs/',
    },
    BatchScoringFailedAlarm: {
      datapoints: failedRuns(src.home, 'batch-scoring'),
      source: 'failed batch-scoring runs under runs/',
    },
    DriftCheckErrorsAlarm: { source: 'Lambda Errors only: locally a failed monitor drift exits non-zero' },
    StartPipelineErrorsAlarm: { source: 'Lambda Errors only: start-pipeline does not run locally' },
  };
  return {
    generatedAt: src.now.toISOString(),
    source: src.home.root,
    traffic,
    canary,
    drift,
    performance,
    alarms: evaluateAlarms(inputs, src.now),
  };
}

/**
 * Realized performance over the local prediction log and the outcomes ingested into it
 * (`credit-risk monitor outcomes`); null before any outcome is matched ("no outcomes yet").
 */
export function localRealizedPerformance(store: ObjectStore, modelName: string): RealizedPerformanceProvider {
  return async () => {
    const registry = new ModelRegistry(store, { name: modelName });
    const report = await loadPerformance({ featuresStore: store, registry });
    return report.versions.length > 0 ? report : null;
  };
}

/**
 * The page for a local root, now (GET /dashboard, `credit-risk monitor report`); realized
 * performance from the local outcomes unless a provider is given.
 */
export async function localDashboardPage(
  root: Pick<LocalRoot, 'home' | 'objectStore' | 'clock'>,
  modelName: string,
  performance?: RealizedPerformanceProvider,
): Promise<string> {
  return buildDashboardPage(
    await gatherDashboardData({
      home: root.home,
      objectStore: root.objectStore,
      modelName,
      now: root.clock.now(),
      performance: performance ?? localRealizedPerformance(root.objectStore, modelName),
    }),
  );
}
