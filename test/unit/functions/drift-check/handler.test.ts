import { afterAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  ExecutionAlreadyExists,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger } from '#functions/commons/powertools.ts';
import { createHandler, driftConfig } from '#functions/drift-check/handler.ts';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import {
  RETRAIN_MARKER_PREFIX,
  type CheckedReport,
  type DriftCheckOutcome,
} from '#lib/monitoring/drift-check.ts';
import { fixedClock, type Clock } from '#lib/ports/clock.ts';
import { getJson } from '#lib/ports/object-store.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { writeBatchRun } from '../../monitoring/batch-runs.ts';
import { UNIFORM_X_REFERENCE } from '../../monitoring/fixtures.ts';
import { captureJsonLines } from '../../../support/stdout.ts';

/**
 * The drift-check function with a directory object store (registry and offline snapshots in their
 * real layout, Parquet written by DuckDB) and Step Functions mocked with aws-sdk-client-mock: the
 * exact StartExecution and ListExecutions requests are asserted. The champion's card has one feature, x, with 10 value
 * bins of equal training mass; a snapshot either matches it or has every x in the top half.
 */
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:credit-risk-prod-training';
const context = {
  awsRequestId: 'r',
  functionName: 'drift-check',
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;
const sfn = mockClient(SFNClient);
const work = mkdtempSync(join(tmpdir(), 'cr-drift-fn-'));
const ENV = { DRIFT_MIN_ROWS: '100', MODEL_NAME: 'credit-risk' };
let store: FsObjectStore;
let n = 0;

const REFERENCE = UNIFORM_X_REFERENCE;

async function writeSnapshot(snapshotId: string, lo: number, current: boolean): Promise<void> {
  const file = join(work, `${snapshotId}.parquet`);
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    // 1,000 loans over the 30 days to 2021-12-31, x spread evenly over [lo, 10).
    await c.run(`COPY (SELECT i AS loan_id, 5008804 + i AS id, DATE '2021-12-31' - (i % 30)::INTEGER AS loan_date, 0 AS status,
                   ${lo} + (10 - ${lo}) * (i + 0.5) / 1000 AS x FROM range(1000) t(i)) TO '${file}' (FORMAT parquet)`);
  } finally {
    c.closeSync();
    db.closeSync();
  }
  await store.upload(file, `features/snapshot=${snapshotId}/part-00000.parquet`);
  await store.put(
    `features/snapshot=${snapshotId}/manifest.json`,
    JSON.stringify({ snapshotId, timeColumn: 'loan_date' }),
  );
  if (current)
    await store.put(
      'features/CURRENT',
      JSON.stringify({
        snapshotId,
        publishedAt: '2022-01-01T00:00:00Z',
        manifestKey: `features/snapshot=${snapshotId}/manifest.json`,
      }),
    );
}

async function promoteChampion(): Promise<string> {
  const registry = new ModelRegistry(store);
  const card = {
    threshold: 0.5,
    features: ['x'],
    data: { snapshotId: 'train-snap' },
    reference: [REFERENCE],
  };
  const { version } = await registry.register({
    model: new TextEncoder().encode('a model'),
    card: JSON.stringify(card),
    report: '<p>r</p>',
  });
  await registry.promote(version);
  return version;
}

function handlerAt(clock: Clock, env: Record<string, string> = ENV) {
  return createHandler({
    featuresStore: store,
    modelsStore: store,
    clock,
    starter: stepFunctionsStarter(new SFNClient({}), ARN),
    tmpDir: work,
    env,
  });
}

function checked(out: DriftCheckOutcome): CheckedReport & { reportKey: string } {
  if (out.status !== 'checked') throw new Error(`expected a checked outcome, got: ${out.reason}`);
  return { ...out.report, reportKey: out.reportKey };
}

/** Runs fn and returns the EMF metric documents it printed. */
async function emf<T>(fn: () => Promise<T>) {
  const { result, lines } = await captureJsonLines(fn);
  return { result, docs: lines.filter((d) => d._aws) };
}

beforeEach(async () => {
  sfn.reset();
  sfn.on(StartExecutionCommand).resolves({
    executionArn: `${ARN.replace(':stateMachine:', ':execution:')}:started`,
    startDate: new Date(),
  });
  sfn.on(ListExecutionsCommand).resolves({ executions: [] });
  store = new FsObjectStore(join(work, `store-${n++}`));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('drift-check function', () => {
  it('without a champion: a skipped no-op, no report, no metric, no retraining', async () => {
    await writeSnapshot('snap-a', 0, true);
    const { result, docs } = await emf(() =>
      handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context),
    );
    expect(result).toEqual({ status: 'skipped', reason: expect.stringContaining('has no champion') });
    expect(docs.filter((d) => 'featurePsiMax' in d)).toEqual([]);
    expect(await store.list('monitoring/')).toEqual([]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('without a published snapshot: a skipped no-op that says so', async () => {
    await promoteChampion();
    const out = await handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context);
    expect(out).toEqual({
      status: 'skipped',
      reason: expect.stringContaining('no published feature snapshot'),
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('no drift: writes the report, emits featurePsiMax with only the service dimension, starts nothing', async () => {
    const version = await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-b', 0, true);
    const { result, docs } = await emf(() =>
      handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context),
    );
    const report = checked(result);
    expect(report.maxPsi).toBeCloseTo(0, 10);
    expect(report.decision.retrain).toBe(false);
    expect(report.retrain).toEqual({ wanted: false, started: false });
    expect(report.model.version).toBe(version);
    expect(report.snapshot).toMatchObject({
      snapshotId: 'snap-b',
      from: '2021-12-02',
      to: '2021-12-31',
      rows: 1000,
      extended: false,
    });
    expect(report.baseline).toMatchObject({
      kind: 'training-snapshot-window',
      window: { snapshotId: 'train-snap' },
    });
    expect(report.reportKey).toBe('monitoring/drift/2022-01-05T120000000Z.json');
    expect(await getJson(store, report.reportKey)).toEqual(JSON.parse(JSON.stringify(result)).report);
    const metric = docs.filter((d) => 'featurePsiMax' in d);
    expect(metric).toHaveLength(1);
    expect(metric[0]._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'CreditRisk',
      Dimensions: [['service']],
    });
    expect(metric[0]._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).toEqual([
      'championAgeDays',
      'featurePsiMax',
    ]);
    expect(metric[0].featurePsiMax).toBeCloseTo(0, 10);
    // Promoted on the wall clock, checked on 2022-01-05: a promotion "after" now counts as 0 days.
    expect(metric[0].championAgeDays).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('drift: exactly one StartExecution, named after the day and the champion, with trigger drift', async () => {
    const version = await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-c', 5, true);
    const { result, docs } = await emf(() =>
      handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context),
    );
    const report = checked(result);
    expect(report.maxPsi).toBeGreaterThan(0.2);
    expect(report.decision).toEqual({
      retrain: true,
      reasons: [expect.stringMatching(/^x: PSI \d+\.\d{4} > 0\.2$/)],
    });
    // First the running executions (one page), then the start.
    expect(sfn.calls().map((c) => c.args[0].constructor.name)).toEqual([
      'ListExecutionsCommand',
      'StartExecutionCommand',
    ]);
    expect(sfn.commandCalls(ListExecutionsCommand).map((c) => c.args[0].input)).toEqual([
      { stateMachineArn: ARN, statusFilter: 'RUNNING' },
    ]);
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      stateMachineArn: ARN,
      name: `drift-2022-01-05-${version.slice(0, 12)}`,
      input: JSON.stringify({
        trigger: 'drift',
        drift: {
          reportKey: report.reportKey,
          maxPsi: Number(report.maxPsi.toFixed(4)),
          feature: 'x',
          threshold: 0.2,
          champion: version,
        },
      }),
    });
    expect(report.retrain).toMatchObject({
      wanted: true,
      started: true,
      executionName: `drift-2022-01-05-${version.slice(0, 12)}`,
    });
    expect((await store.list(RETRAIN_MARKER_PREFIX)).map((o) => o.key)).toEqual([
      `${RETRAIN_MARKER_PREFIX}2022-01-05T120000000Z.json`,
    ]);
    const metric = docs.find((d) => 'featurePsiMax' in d);
    expect(metric?.featurePsiMax).toBeCloseTo(report.maxPsi, 10);
    expect(metric?.driftRetrainsStarted).toBe(1);
  });

  it('cooldown: a drifted next day starts nothing and says until when; after the cooldown it starts again', async () => {
    await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-d', 5, true);
    await handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context);
    const next = checked(await handlerAt(fixedClock('2022-01-06'))({ trigger: 'schedule' }, context));
    expect(next.retrain).toMatchObject({
      wanted: true,
      started: false,
      cooldown: { days: 7, lastStartedAt: '2022-01-05T12:00:00.000Z', until: '2022-01-12T12:00:00.000Z' },
    });
    expect(next.decision.retrain).toBe(false);
    expect(next.decision.reasons.at(-1)).toMatch(
      /^cooldown: a drift retraining started at 2022-01-05T12:00:00.000Z/,
    );
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
    // Within the cooldown Step Functions is not asked what is running.
    expect(sfn.commandCalls(ListExecutionsCommand)).toHaveLength(1);
    const later = checked(await handlerAt(fixedClock('2022-01-13'))({ trigger: 'schedule' }, context));
    expect(later.retrain.started).toBe(true);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(2);
    // The cooldown is a setting: 0 days lets every drifted check start a run.
    const env = { ...ENV, DRIFT_RETRAIN_COOLDOWN_DAYS: '0' };
    expect(
      checked(await handlerAt(fixedClock('2022-01-14'), env)({ trigger: 'schedule' }, context)).retrain
        .started,
    ).toBe(true);
  });

  it('a retried invocation on the same day (ExecutionAlreadyExists) is a success that starts nothing new', async () => {
    await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-e', 5, true);
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const report = checked(await handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context));
    expect(report.retrain).toMatchObject({ started: false, alreadyStarted: true });
    expect(report.retrain.executionId).toMatch(/:execution:credit-risk-prod-training:drift-2022-01-05-/);
    expect(await store.list(RETRAIN_MARKER_PREFIX)).toHaveLength(1);
  });

  it('a training execution already running (the weekly schedule) starts nothing and names it; once it is done, the next check starts', async () => {
    await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-r', 5, true);
    const scheduled = {
      executionArn: `${ARN.replace(':stateMachine:', ':execution:')}:weekly-1`,
      stateMachineArn: ARN,
      name: 'weekly-1',
      status: 'RUNNING' as const,
      startDate: new Date('2022-01-05T02:00:00Z'),
    };
    sfn.on(ListExecutionsCommand).resolves({ executions: [scheduled] });
    const { result, docs } = await emf(() =>
      handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context),
    );
    const report = checked(result);
    expect(sfn.commandCalls(ListExecutionsCommand).map((c) => c.args[0].input)).toEqual([
      { stateMachineArn: ARN, statusFilter: 'RUNNING' },
    ]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(report.retrain).toEqual({
      wanted: true,
      started: false,
      running: [{ name: 'weekly-1', startedAt: '2022-01-05T02:00:00.000Z' }],
      skipped:
        'already running: training execution weekly-1 (started 2022-01-05T02:00:00.000Z); no second one started, the next check looks again',
    });
    expect(report.decision.retrain).toBe(false);
    expect(report.decision.reasons.at(-1)).toBe(report.retrain.skipped);
    // The stored report says the same, no marker (so no cooldown), no started metric.
    expect(await getJson(store, report.reportKey)).toMatchObject({
      retrain: { running: [{ name: 'weekly-1' }] },
      decision: { retrain: false },
    });
    expect(await store.list(RETRAIN_MARKER_PREFIX)).toEqual([]);
    expect(docs.find((d) => 'featurePsiMax' in d)?.driftRetrainsStarted).toBeUndefined();
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    const next = checked(await handlerAt(fixedClock('2022-01-06'))({ trigger: 'schedule' }, context));
    expect(next.retrain).toMatchObject({
      started: true,
      executionName: expect.stringMatching(/^drift-2022-01-06-/),
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('lists every page of running executions (nextToken) before deciding', async () => {
    await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-p', 5, true);
    sfn
      .on(ListExecutionsCommand)
      .resolvesOnce({ executions: [], nextToken: 'page-2' })
      .resolvesOnce({
        executions: [
          {
            executionArn: 'arn:x',
            stateMachineArn: ARN,
            name: 'raw-loans-v7',
            status: 'RUNNING',
            startDate: new Date('2022-01-05T11:00:00Z'),
          },
        ],
      });
    const report = checked(await handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context));
    expect(sfn.commandCalls(ListExecutionsCommand).map((c) => c.args[0].input)).toEqual([
      { stateMachineArn: ARN, statusFilter: 'RUNNING' },
      { stateMachineArn: ARN, statusFilter: 'RUNNING', nextToken: 'page-2' },
    ]);
    expect(report.retrain.running).toEqual([{ name: 'raw-loans-v7', startedAt: '2022-01-05T11:00:00.000Z' }]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('its own execution running (a retried invocation after a crash before the marker) is not another run: the start answers already started and the marker is written', async () => {
    const version = await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-o', 5, true);
    const own = `drift-2022-01-05-${version.slice(0, 12)}`;
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: `arn:own`,
          stateMachineArn: ARN,
          name: own,
          status: 'RUNNING',
          startDate: new Date('2022-01-05T11:59:00Z'),
        },
      ],
    });
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const report = checked(await handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context));
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual([own]);
    expect(report.retrain).toMatchObject({ started: false, alreadyStarted: true, executionName: own });
    expect(report.retrain.running).toBeUndefined();
    expect(await store.list(RETRAIN_MARKER_PREFIX)).toHaveLength(1);
  });

  for (const [what, error] of [
    [
      'throttled',
      new SFNServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: {},
      }),
    ],
    [
      'denied',
      new SFNServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        message: 'not authorized to perform: states:ListExecutions',
        $metadata: {},
      }),
    ],
  ] as const) {
    it(`listing the running executions ${what}: starts nothing, writes no marker, says why and logs a warning; the report and metric still go out`, async () => {
      await promoteChampion();
      await writeSnapshot('train-snap', 0, false);
      await writeSnapshot(`snap-${what}`, 5, true);
      sfn.on(ListExecutionsCommand).rejects(error);
      // Logs are SILENT in tests (test/support/setup-env.ts): the warning is watched on the logger.
      const warn = jest.spyOn(logger, 'warn');
      let out: Awaited<ReturnType<typeof captureJsonLines<DriftCheckOutcome>>>;
      let warnings: unknown[][];
      try {
        out = await captureJsonLines(() =>
          handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context),
        );
        warnings = [...warn.mock.calls];
      } finally {
        warn.mockRestore();
      }
      const { result, lines } = out;
      const report = checked(result);
      const message = `${error.name}: ${error.message}`;
      expect(report.retrain).toEqual({
        wanted: true,
        started: false,
        runningUnknown: message,
        skipped: `running executions unknown: listing the training executions failed (${message}); nothing started, the next check tries again`,
      });
      // Still due (like a report-only check): the reason says why it was not started.
      expect(report.decision.retrain).toBe(true);
      expect(report.decision.reasons.at(-1)).toBe(report.retrain.skipped);
      expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
      expect(await store.list(RETRAIN_MARKER_PREFIX)).toEqual([]);
      expect(await getJson(store, report.reportKey)).toMatchObject({ retrain: { runningUnknown: message } });
      expect(warnings).toEqual([
        ['drift retraining not started: the running executions could not be listed', { error: message }],
      ]);
      expect(lines.find((l) => 'featurePsiMax' in l)?.featurePsiMax).toBeCloseTo(report.maxPsi, 10);
    });
  }

  it('the threshold comes from the environment (DRIFT_PSI_THRESHOLD), and the event may override it', async () => {
    await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-f', 5, true);
    const lax = checked(
      await handlerAt(fixedClock('2022-01-05'), { ...ENV, DRIFT_PSI_THRESHOLD: '50' })(
        { trigger: 'schedule' },
        context,
      ),
    );
    expect(lax.threshold).toBe(50);
    expect(lax.decision.retrain).toBe(false);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(driftConfig({ threshold: 0.3, windowDays: 7 }, { DRIFT_PSI_THRESHOLD: '0.1' })).toMatchObject({
      threshold: 0.3,
      windowDays: 7,
    });
    expect(() => driftConfig({ threshold: -1 })).toThrow(/threshold/);
  });

  it('score drift: no batch run yet is a reason in the report and no scorePsi data point', async () => {
    const version = await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-s0', 0, true);
    // One complete run and an unfinished one: still not enough.
    await writeBatchRun(store, work, {
      version,
      snapshotId: 'snap-s0',
      createdAt: '2022-01-01T03:00:00.000Z',
    });
    await writeBatchRun(store, work, {
      version,
      snapshotId: 'snap-s1',
      createdAt: '2022-01-02T03:00:00.000Z',
      manifest: false,
    });
    const { result, docs } = await emf(() =>
      handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context),
    );
    const report = checked(result);
    expect(report.score).toEqual({
      available: false,
      reason: expect.stringMatching(/^not enough batch runs: 1 complete/),
      modelVersion: version,
      completeRuns: 1,
    });
    expect(report.notes.some((n) => n.startsWith('score drift: not enough batch runs'))).toBe(true);
    expect(docs.filter((d) => 'scorePsi' in d)).toEqual([]);
  });

  it("score drift: the champion's latest complete batch run against its first, emitted as scorePsi, never a retrain", async () => {
    const version = await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-s2', 0, true);
    await writeBatchRun(store, work, {
      version,
      snapshotId: 'snap-first',
      createdAt: '2022-01-01T03:00:00.000Z',
      lo: 0,
      hi: 0.3,
    });
    await writeBatchRun(store, work, {
      version,
      snapshotId: 'snap-latest',
      createdAt: '2022-01-03T03:00:00.000Z',
      lo: 0.2,
      hi: 0.5,
    });
    // Ignored: an unfinished later run, and another version's runs.
    await writeBatchRun(store, work, {
      version,
      snapshotId: 'snap-running',
      createdAt: '2022-01-04T03:00:00.000Z',
      lo: 0,
      hi: 0.3,
      manifest: false,
    });
    await writeBatchRun(store, work, {
      version: 'f'.repeat(64),
      snapshotId: 'snap-other',
      createdAt: '2022-01-04T03:00:00.000Z',
      lo: 0.9,
      hi: 1,
    });
    const { result, docs } = await emf(() =>
      handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context),
    );
    const report = checked(result);
    if (!report.score.available) throw new Error(report.score.reason);
    expect(report.score.referenceRun).toMatchObject({
      snapshotId: 'snap-first',
      createdAt: '2022-01-01T03:00:00.000Z',
      window: { rows: 1000, windowed: true },
    });
    expect(report.score.currentRun.snapshotId).toBe('snap-latest');
    expect(report.score.psi).toBeGreaterThan(0.2);
    expect(report.score.status).toBe('drifted');
    expect(report.score.bins.reduce((s, b) => s + b.referenceShare, 0)).toBeCloseTo(1, 10);
    // Features are stable: no retraining, whatever the scores do.
    expect(report.decision.retrain).toBe(false);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(await getJson(store, report.reportKey)).toMatchObject({
      reportVersion: 2,
      score: { available: true, psi: report.score.psi },
    });
    const metric = docs.filter((d) => 'scorePsi' in d);
    expect(metric).toHaveLength(1);
    expect(metric[0].scorePsi).toBeCloseTo(report.score.psi, 10);
    expect(metric[0]._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'CreditRisk',
      Dimensions: [['service']],
    });
    expect(metric[0]._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name).sort()).toEqual([
      'championAgeDays',
      'featurePsiMax',
      'scorePsi',
    ]);
  });

  it('score drift: two runs of identical scores give score PSI 0', async () => {
    const version = await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-s3', 0, true);
    await writeBatchRun(store, work, {
      version,
      snapshotId: 'snap-a1',
      createdAt: '2022-01-01T03:00:00.000Z',
      lo: 0,
      hi: 0.3,
    });
    await writeBatchRun(store, work, {
      version,
      snapshotId: 'snap-a2',
      createdAt: '2022-01-02T03:00:00.000Z',
      lo: 0,
      hi: 0.3,
    });
    const report = checked(await handlerAt(fixedClock('2022-01-05'))({ trigger: 'schedule' }, context));
    expect(report.score).toMatchObject({ available: true, psi: 0, status: 'stable' });
  });

  it('runs the sample event in events/', async () => {
    await promoteChampion();
    await writeSnapshot('train-snap', 0, false);
    await writeSnapshot('snap-g', 0, true);
    const event = JSON.parse(readFileSync('events/drift-check.json', 'utf8')) as unknown;
    expect(checked(await handlerAt(fixedClock('2022-01-05'))(event, context)).decision.retrain).toBe(false);
  });
});

describe('deployment wiring', () => {
  const serverless = readFileSync('serverless.yml', 'utf8');
  const observability = readFileSync('infra/resources/observability.yml', 'utf8');
  const fn = serverless.slice(serverless.indexOf('\n  driftCheck:'), serverless.indexOf('\nstepFunctions:'));

  it('the function runs as service drift-check with the alarm threshold, and the alarm watches featurePsiMax of that service', () => {
    expect(fn).toMatch(/POWERTOOLS_SERVICE_NAME: drift-check\n/);
    expect(fn).toMatch(/DRIFT_PSI_THRESHOLD: \$\{param:driftPsiAlarm\}/);
    const alarm = observability.slice(
      observability.indexOf('  DriftAlarm:'),
      observability.indexOf('  TrainingFailedAlarm:'),
    );
    expect(alarm).toMatch(/Namespace: CreditRisk\n/);
    expect(alarm).toMatch(/MetricName: featurePsiMax\n/);
    expect(alarm).toMatch(/- \{ Name: service, Value: drift-check \}/);
    expect(alarm).toMatch(/Threshold: \$\{param:driftPsiAlarm\}/);
  });

  it('the role may list both buckets: a missing key (features/CURRENT, the next audit entry) must be a 404, not a 403', () => {
    const iam = readFileSync('infra/resources/iam.yml', 'utf8');
    const rest = iam.slice(iam.indexOf('  DriftCheckRole:'));
    const role = rest.slice(0, /\n {2}[A-Za-z]/.exec(rest.slice(1))?.index ?? rest.length);
    expect(role).toMatch(/Action: \[s3:ListBucket\]\n\s+Resource: !GetAtt ModelsBucket\.Arn/);
    expect(role).toMatch(/Action: \[s3:ListBucket\]\n\s+Resource: !GetAtt FeaturesBucket\.Arn/);
    expect(role).toMatch(
      /Action: \[s3:PutObject\]\n\s+Resource: !Sub '\$\{FeaturesBucket\.Arn\}\/monitoring\/\*'/,
    );
    expect(role).toMatch(/Action: \[states:StartExecution\]\n\s+Resource: !Ref TrainingStateMachine/);
  });

  it('the role may list the training executions: ListExecutions is authorised on the state machine ARN, not an execution ARN', () => {
    const iam = readFileSync('infra/resources/iam.yml', 'utf8');
    const rest = iam.slice(iam.indexOf('  DriftCheckRole:'));
    const role = rest.slice(0, /\n {2}[A-Za-z]/.exec(rest.slice(1))?.index ?? rest.length);
    expect(role).toMatch(/Action: \[states:ListExecutions\]\n\s+Resource: !Ref TrainingStateMachine\n/);
  });
});
