/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Context } from 'aws-lambda';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHandler as createDriftCheck } from '#functions/drift-check/handler.ts';
import { createHandler as createExtract, type BuildFeaturesFn } from '#functions/extract-features/handler.ts';
import { createPredictHandler } from '#functions/predict/handler.ts';
import { PREDICT_ALARM_METRICS } from '#functions/predict/telemetry.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { ALARM_RULES } from '#lib/monitoring/alarm-evaluation.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import type { TrainingStarter } from '#lib/ports/training-starter.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { captureJsonLines } from '../../support/stdout.ts';
import { UNIFORM_X_REFERENCE } from '../../unit/monitoring/fixtures.ts';
import { MemoryFeatureStore, RecordingModel } from '../../unit/serving/fake-ports.ts';
import { parseCfnYaml, root, type Json } from './template.ts';

/**
 * Every CloudWatch alarm of infra/resources/observability.yml watches a metric that exists:
 *
 * - custom metrics (namespace CreditRisk): the handlers that emit them are RUN here (predict on a
 *   200, a store outage and a NaN score; drift-check on a champion and a snapshot; extract-features
 *   on a raw file) with stdout captured, and the EMF documents they print are the emitted set. An
 *   alarm matches a document when the metric name, the namespace and the EXACT dimension set agree
 *   (CloudWatch stores one series per dimension set), and the `service` value is the
 *   POWERTOOLS_SERVICE_NAME that serverless.yml gives the function that ran;
 * - AWS metrics (AWS/Lambda, AWS/States, AWS/ApiGateway): by namespace and metric name lists, with
 *   dimensions naming a function, state machine or API the stack declares.
 *
 * And the other way: the metrics the predict telemetry declares for alarms are each alarmed, and
 * the local dashboard's alarm rules (lib/monitoring/alarm-evaluation.ts) are the template's alarms
 * with the same periods, M-of-N, missing-data rules and thresholds.
 */
const PREFIX = 'credit-risk-test';
const require = createRequire(import.meta.url);
const THRESHOLDS = require(join(root, 'infra/alarm-thresholds.cjs')) as Record<string, number>;

const observability = parseCfnYaml(readFileSync(join(root, 'infra/resources/observability.yml'), 'utf8'));
const serverless = parseCfnYaml(readFileSync(join(root, 'serverless.yml'), 'utf8'));
const functions = serverless.functions as Record<
  string,
  { name: string; environment?: Record<string, Json> }
>;
const stateMachines = Object.values(
  serverless.stepFunctions.stateMachines as Record<string, { id: string }>,
).map((m) => m.id);

const resolveVars = (v: unknown): unknown =>
  typeof v === 'string' ? v.replace(/\$\{self:custom\.prefix\}/g, PREFIX) : v;

/** The serverless param a `${param:x}` names, resolved through infra/alarm-thresholds.cjs. */
function paramValue(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  const param = /^\$\{param:(\w+)\}$/.exec(String(raw))?.[1];
  if (!param) throw new Error(`not a number nor a param: ${JSON.stringify(raw)}`);
  const declared = String(serverless.params.default[param]);
  const name = /^\$\{file\(infra\/alarm-thresholds\.cjs\):(\w+)\}$/.exec(declared)?.[1];
  if (!name || THRESHOLDS[name] === undefined)
    throw new Error(`param ${param} (${declared}) is not read from lib/monitoring/alarm-thresholds.ts`);
  return THRESHOLDS[name];
}

interface AlarmMetric {
  alarm: string;
  namespace: string;
  metric: string;
  dimensions: Record<string, Json>;
}

const alarms = Object.entries(
  observability.Resources as Record<string, { Type: string; Properties: Json }>,
).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');

function alarmMetrics(): AlarmMetric[] {
  return alarms.flatMap(([alarm, { Properties: p }]) => {
    const specs: Json[] = p.Metrics
      ? (p.Metrics as Json[]).filter((m) => m.MetricStat).map((m) => m.MetricStat.Metric)
      : [p];
    return specs.map((m) => ({
      alarm,
      namespace: m.Namespace,
      metric: m.MetricName,
      dimensions: Object.fromEntries(
        ((m.Dimensions ?? []) as Array<{ Name: string; Value: Json }>).map((d) => [
          d.Name,
          resolveVars(d.Value),
        ]),
      ),
    }));
  });
}

/** One emitted series: what an EMF document published, and which function's code printed it. */
interface Emitted {
  service: string;
  namespace: string;
  metric: string;
  dimensions: Record<string, string>;
}

const emitted: Emitted[] = [];

function collect(functionKey: string, lines: Record<string, any>[]): void {
  const service = functions[functionKey].environment?.POWERTOOLS_SERVICE_NAME as string;
  for (const doc of lines.filter((l) => l._aws)) {
    for (const directive of doc._aws.CloudWatchMetrics as Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string }>;
    }>) {
      for (const set of directive.Dimensions)
        for (const m of directive.Metrics)
          emitted.push({
            service,
            namespace: directive.Namespace,
            metric: m.Name,
            // `service` is the function's POWERTOOLS_SERVICE_NAME in AWS; the rest as printed.
            dimensions: Object.fromEntries(set.map((d) => [d, d === 'service' ? service : String(doc[d])])),
          });
    }
  }
}

const context = {
  awsRequestId: 'r',
  functionName: 'f',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

async function runPredict(): Promise<void> {
  const featureStore = new MemoryFeatureStore();
  const event = (id: string) => ({
    httpMethod: 'POST',
    resource: '/predict',
    path: '/predict',
    body: JSON.stringify({ id }),
    requestContext: { requestId: 'r' },
  });
  const ok = createPredictHandler({
    featureStore,
    clock: fixedClock('2025-01-01'),
    model: new RecordingModel('v1'),
  });
  const nan = createPredictHandler({
    featureStore,
    clock: fixedClock('2025-01-01'),
    model: new RecordingModel('v2', undefined, 0.5, () => Number.NaN),
  });
  const { lines } = await captureJsonLines(async () => {
    const statuses: number[] = [];
    statuses.push(((await ok(event('5008827'), context)) as { statusCode: number }).statusCode);
    statuses.push(((await ok(event('1'), context)) as { statusCode: number }).statusCode);
    featureStore.down = true;
    statuses.push(((await ok(event('5008827'), context)) as { statusCode: number }).statusCode);
    featureStore.down = false;
    statuses.push(((await nan(event('5008827'), context)) as { statusCode: number }).statusCode);
    expect(statuses).toEqual([200, 404, 503, 503]);
  });
  collect('predict', lines);
}

async function runDriftCheck(work: string): Promise<void> {
  const store = new FsObjectStore(join(work, 'store'));
  const registry = new ModelRegistry(store, { clock: fixedClock('2021-12-01') });
  const card = {
    threshold: 0.5,
    features: ['x'],
    data: { snapshotId: 'train-snap' },
    reference: [UNIFORM_X_REFERENCE],
  };
  const { version } = await registry.register({
    model: new TextEncoder().encode('a model'),
    card: JSON.stringify(card),
    report: '<p>r</p>',
  });
  await registry.promote(version);
  for (const snapshotId of ['train-snap', 'snap-now']) {
    const file = join(work, `${snapshotId}.parquet`);
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(`COPY (SELECT i AS loan_id, 5008804 + i AS id, DATE '2021-12-31' - (i % 30)::INTEGER AS loan_date,
                   0 AS status, 10 * (i + 0.5) / 1000 AS x FROM range(1000) t(i)) TO '${file}' (FORMAT parquet)`);
    c.closeSync();
    db.closeSync();
    await store.upload(file, `features/snapshot=${snapshotId}/part-00000.parquet`);
    await store.put(
      `features/snapshot=${snapshotId}/manifest.json`,
      JSON.stringify({ snapshotId, timeColumn: 'loan_date' }),
    );
  }
  await store.put(
    'features/CURRENT',
    JSON.stringify({
      snapshotId: 'snap-now',
      publishedAt: '2022-01-01T00:00:00Z',
      manifestKey: 'features/snapshot=snap-now/manifest.json',
    }),
  );
  // Drift-free here: the starter is never asked to start; a port fake, not an AWS one.
  const starter: TrainingStarter = {
    start: async () => ({ executionId: 'x', started: true }),
    running: async () => [],
  };
  const handler = createDriftCheck({
    featuresStore: store,
    modelsStore: store,
    clock: fixedClock('2022-01-05'),
    starter,
    tmpDir: work,
    env: { DRIFT_MIN_ROWS: '100' },
  });
  const { result, lines } = await captureJsonLines(() => handler({}, context));
  expect((result as { status: string }).status).toBe('checked');
  collect('driftCheck', lines);
}

/** The serving fake, able to take a snapshot load (the publish step's end). */
function loadingFeatureStore(): FeatureStore {
  return Object.assign(new MemoryFeatureStore([]), {
    async replaceSnapshot(_snapshotId: string, batches: AsyncIterable<unknown[]> | Iterable<unknown[]>) {
      let rows = 0;
      for await (const b of batches) rows += b.length;
      return { rows };
    },
  });
}

async function runExtract(work: string): Promise<void> {
  const store = new FsObjectStore(join(work, 'extract-store'));
  const tmp = join(work, 'extract-tmp');
  mkdirSync(tmp);
  // The build itself has its own tests; the handler's metrics come from its answer.
  const build: BuildFeaturesFn = async ({ out }) => {
    const { snapshotDir } = await import('../features/publish-fixture.ts');
    const built = await snapshotDir('s-alarm', [5008804, 5008805]);
    mkdirSync(out, { recursive: true });
    for (const f of readdirSync(built)) writeFileSync(join(out, f), readFileSync(join(built, f)));
    return { snapshotId: 's-alarm', rowsIn: 3, rowsValid: 2, rowsQuarantined: 1 };
  };
  const handler = createExtract({
    rawStore: store,
    featuresStore: store,
    featureStore: loadingFeatureStore(),
    buildFeatures: build,
    tmpDir: tmp,
    clock: fixedClock('2025-03-01'),
  });
  await store.put('raw/loans.csv', 'id,loan_id\n1,1\n');
  const { lines } = await captureJsonLines(() => handler({ input: 'raw/loans.csv' }, context));
  collect('extractFeatures', lines);
}

beforeAll(async () => {
  const work = mkdtempSync(join(tmpdir(), 'cr-alarm-metrics-'));
  await runPredict();
  await runDriftCheck(work);
  await runExtract(work);
}, 120_000);

const AWS_METRICS: Record<string, { metrics: string[]; dimensions: (d: Record<string, Json>) => boolean }> = {
  'AWS/Lambda': {
    metrics: ['Errors', 'Invocations', 'Throttles', 'Duration', 'ConcurrentExecutions'],
    dimensions: (d) => {
      const names = Object.values(functions).map((f) => resolveVars(f.name));
      const keys = Object.keys(d).sort().join(',');
      if (keys === 'FunctionName') return names.includes(d.FunctionName);
      return (
        keys === 'FunctionName,Resource' && names.includes(d.FunctionName) && /^.+:live$/.test(d.Resource)
      );
    },
  },
  'AWS/States': {
    metrics: [
      'ExecutionsFailed',
      'ExecutionsTimedOut',
      'ExecutionsAborted',
      'ExecutionsStarted',
      'ExecutionsSucceeded',
    ],
    dimensions: (d) =>
      Object.keys(d).join(',') === 'StateMachineArn' && stateMachines.includes(d.StateMachineArn?.Ref),
  },
  'AWS/ApiGateway': {
    metrics: ['5XXError', '4XXError', 'Count', 'Latency', 'IntegrationLatency'],
    dimensions: (d) => Object.keys(d).sort().join(',') === 'ApiName,Stage' && d.ApiName === `${PREFIX}-api`,
  },
};

describe('alarm metrics are emitted by the code', () => {
  it('the handlers ran and printed EMF documents (the emitted set is not empty)', () => {
    expect(new Set(emitted.map((e) => e.service))).toEqual(
      new Set(['predict', 'drift-check', 'extract-features']),
    );
  });

  it.each(
    alarmMetrics()
      .filter((m) => m.namespace === 'CreditRisk')
      .map((m) => [m.alarm, m.metric, m]),
  )('%s: CreditRisk %s with exactly its dimension set is emitted', (_alarm, _metric, m) => {
    const wanted = m as AlarmMetric;
    const match = emitted.find(
      (e) =>
        e.namespace === wanted.namespace &&
        e.metric === wanted.metric &&
        Object.keys(e.dimensions).sort().join(',') === Object.keys(wanted.dimensions).sort().join(',') &&
        Object.entries(wanted.dimensions).every(([k, v]) => e.dimensions[k] === v),
    );
    const sameName = emitted.filter((e) => e.metric === wanted.metric);
    expect({ alarm: wanted, emittedAs: match ?? sameName }).toEqual({
      alarm: wanted,
      emittedAs: expect.objectContaining({ metric: wanted.metric }),
    });
  });

  it.each(
    alarmMetrics()
      .filter((m) => m.namespace !== 'CreditRisk')
      .map((m) => [m.alarm, m.namespace, m.metric, m]),
  )(
    '%s: %s %s is an AWS metric with dimensions naming a declared resource',
    (_alarm, namespace, metric, m) => {
      const known = AWS_METRICS[namespace as string];
      expect(known).toBeDefined();
      expect(known.metrics).toContain(metric);
      expect(known.dimensions((m as AlarmMetric).dimensions)).toBe(true);
    },
  );

  it('every metric the predict telemetry emits for alarms is alarmed', () => {
    const alarmed = new Set(alarmMetrics().map((m) => m.metric));
    for (const name of Object.values(PREDICT_ALARM_METRICS)) expect(alarmed).toContain(name);
  });

  it('a wrong dimension set is not a match (the check can fail)', () => {
    const served = emitted.filter((e) => e.metric === 'serverErrors');
    expect(served.length).toBeGreaterThan(0);
    // serverErrors carries errorCode and modelVersion: an alarm naming only service would see nothing.
    expect(served.some((e) => Object.keys(e.dimensions).join(',') === 'service')).toBe(false);
  });
});

describe('the local dashboard evaluates the same alarms', () => {
  it('one local rule per template alarm, with the same period, M-of-N, missing-data rule and threshold', () => {
    expect(new Set(Object.keys(ALARM_RULES))).toEqual(new Set(alarms.map(([id]) => id)));
    for (const [id, { Properties: p }] of alarms) {
      const rule = ALARM_RULES[id as keyof typeof ALARM_RULES];
      const period = p.Period ?? p.Metrics.find((m: Json) => m.MetricStat).MetricStat.Period;
      expect({ id, period: paramValue(period) }).toEqual({ id, period: rule.periodSeconds });
      expect({ id, n: p.EvaluationPeriods, m: p.DatapointsToAlarm ?? p.EvaluationPeriods }).toEqual({
        id,
        n: rule.evaluationPeriods,
        m: rule.datapointsToAlarm,
      });
      expect({ id, missing: p.TreatMissingData }).toEqual({ id, missing: rule.treatMissingData });
      expect({ id, op: p.ComparisonOperator }).toEqual({ id, op: 'GreaterThanThreshold' });
      expect({ id, threshold: paramValue(p.Threshold) }).toEqual({ id, threshold: rule.threshold });
    }
  });
});
