import { describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { BuildDirBuilder } from '#lib/adapters/local/build-dir-builder.ts';
import { JsonlNotifier } from '#lib/adapters/local/jsonl-notifier.ts';
import { sha256Hex, ModelRegistry } from '#lib/registry/registry.ts';
import type { PlanEvent } from '#functions/train/schema.ts';
import { planTuning, type TrialResult, type TrialSpec } from '#lib/model/tuning-plan.ts';
import type { MetricsReader, VersionTraffic } from '#lib/ports/metrics-reader.ts';
import { runDecision, reusedStates } from '#lib/pipeline/run-record.ts';
import { createLocalRoot } from '#local/root.ts';
import { definitionFor, runPipelineLocally } from '#local/sfn/local-pipeline.ts';
import { taskStates } from '#local/sfn/definition.ts';
import { localFunctions, type LocalFunction } from '#local/sfn/local-functions.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { freshHome } from '../../support/home.ts';

/**
 * The real training.asl.json on the local runner, with the real canary function, registry,
 * alias table, build directories and notification log; the ML steps are stand-ins (their own
 * tests cover them) so that every path of the machine runs in about a second.
 */
const GLUE_SNAPSHOT = '0123456789abcdef';
const HIST = [500, 200, 100, 80, 50, 30, 20, 10, 6, 4];

function setup(canary: 'good' | 'errors' = 'good') {
  const home = freshHome('cr-sfn-');
  const root = createLocalRoot(home);
  const registry = new ModelRegistry(root.objectStore);
  const calls: string[] = [];
  const metrics: MetricsReader = {
    async traffic(modelVersion): Promise<VersionTraffic> {
      const isCanary = (await registry.aliases()).canary?.version === modelVersion;
      if (isCanary && canary === 'errors')
        return {
          modelVersion,
          predictions: 10,
          serverErrors: 90,
          p99LatencyMs: 12,
          scoreHistogram: HIST.map((c) => c / 100),
        };
      return {
        modelVersion,
        predictions: isCanary ? 200 : 1800,
        serverErrors: 0,
        p99LatencyMs: 12,
        scoreHistogram: HIST.map((c) => (c * (isCanary ? 200 : 1800)) / 1000),
      };
    },
  };
  const bundle = async (dir: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.mjs'), 'export const handler = async () => ({});\n');
    return join(dir, 'index.mjs');
  };
  const deployment = {
    deployer: new AliasTableDeployer(join(home.builds, 'alias-live.json')),
    builder: new BuildDirBuilder(home.builds, root.objectStore, bundle),
    metrics,
    notifier: new JsonlNotifier(join(home.notifications, 'notifications.jsonl')),
  };
  const candidates = new Map<string, Uint8Array>();
  const trainPayloads: Record<string, unknown>[] = [];
  // AwaitTurn is the real turn stage over this home's run records (training-turn.test.ts).
  const realExtract = localFunctions(root, deployment)['extract-features'];
  const functions: Record<string, LocalFunction> = {
    'extract-features': async (p) => {
      const payload = p as { stage?: string; staging?: string; input?: string };
      if (payload.stage === 'turn') return realExtract(p);
      calls.push(payload.stage ? `extract-features:${payload.stage}` : 'extract-features');
      // The default input raw/ is a prefix: a small newest file (the Glue tests pass a large size).
      if (payload.stage === 'resolve')
        return { input: `${payload.input}loans.csv`, sizeBytes: 1000, requestedInput: payload.input };
      const counts = { rowsIn: 100, rowsValid: 98, rowsQuarantined: 2 };
      if (payload.stage === 'prepare') {
        const staging = `staging/${GLUE_SNAPSHOT}/`;
        return {
          staging,
          snapshotId: GLUE_SNAPSHOT,
          asOf: '2025-01-31',
          rawValidKey: `${staging}raw_valid.parquet`,
          engineOutputKey: `${staging}spark/`,
          ...counts,
        };
      }
      if (payload.stage === 'publish')
        return { snapshotId: String(payload.staging).split('/')[1], ...counts };
      return { snapshotId: 'snap-1', ...counts };
    },
    train: async (p) => {
      const mode = (p as { mode?: string }).mode;
      if (mode === 'plan') {
        calls.push('train:plan');
        const { tune, base, tuning } = p as PlanEvent;
        // The stand-in trainer's `model` is no GBDT parameter: plan without it, hand it back in the choice.
        const { model, ...gbdt } = base ?? {};
        const plan = planTuning({ tune: tune ?? {}, base: gbdt, tuning }, new Date());
        if (plan.chosen) plan.chosen.params = { ...plan.chosen.params, model } as typeof plan.chosen.params;
        return plan;
      }
      if (mode === 'trial') {
        const { trial } = p as { trial: TrialSpec };
        calls.push(`train:trial:${trial.rung}:${trial.id}`);
        // Configuration 2 is the best at every rung; the others rank by id.
        return {
          id: trial.id,
          rung: trial.rung,
          fraction: trial.fraction,
          trainRows: 100,
          allRows: false,
          validAuc: trial.id === 2 ? 0.9 : 0.7 + trial.id / 100,
          validLogloss: 0.2,
          trees: 5,
          treesBuilt: 10,
          stopReason: 'early-stopping',
          seconds: 0.01,
        } satisfies TrialResult;
      }
      calls.push('train');
      trainPayloads.push(p as Record<string, unknown>);
      const params = (p as { params: { model?: number } }).params;
      const model = new Uint8Array([params.model ?? 1]);
      const version = sha256Hex(model);
      candidates.set(version, model);
      return { candidateKey: `candidates/${version}`, version, metrics: { auc: 0.8 } };
    },
    evaluate: async (p) => {
      calls.push('evaluate');
      const { gate } = p as { gate: { reject?: boolean } };
      return {
        gate: gate.reject
          ? { pass: false, reasons: ['auc_below_floor: 0.5 < 0.6'], checks: [] }
          : { pass: true, reasons: [], checks: [] },
      };
    },
    register: async (p) => {
      calls.push('register');
      const version = (p as { candidateKey: string }).candidateKey.split('/')[1];
      return registry.register({ model: candidates.get(version) as Uint8Array, card: '{}', report: '' });
    },
  };
  const glueRuns: Record<string, string>[] = [];
  const glueJobs = {
    'extract-features': async (args: Readonly<Record<string, string>>) => {
      calls.push('glue');
      glueRuns.push({ ...args });
      return { jobRunId: 'jr_test' };
    },
  };
  const run = (
    input: Record<string, unknown>,
    extra: Partial<Parameters<typeof runPipelineLocally>[0]> = {},
  ) => runPipelineLocally({ root, input, functions, glueJobs, deployment, waitScale: 0.001, ...extra });
  const notifications = () =>
    readFileSync(join(home.notifications, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { subject: string; message: string });
  return { home, root, registry, deployment, calls, glueRuns, run, notifications, trainPayloads };
}

const tasks = (record: { states: { name: string; type: string }[] }) =>
  record.states.filter((s) => s.type === 'Task').map((s) => s.name);

describe('training state machine on the local runner', () => {
  it('promotes the first model outright, then canaries and promotes a better one', async () => {
    const t = setup();
    const first = await t.run({ train: { model: 1 } });
    expect(first.result).toMatchObject({ status: 'succeeded', output: { status: 'promoted' } });
    expect(tasks(first.record)).toEqual([
      'AwaitTurn',
      'ResolveInput',
      'ExtractFeatures',
      'Train',
      'Evaluate',
      'Register',
      'BuildImage',
      'DeployCanary',
      'NotifyPromoted',
    ]);
    const v1 = (await t.registry.aliases()).champion as string;
    expect(v1).toBe(sha256Hex(new Uint8Array([1])));

    const second = await t.run({ train: { model: 2 } });
    expect(second.result.output).toMatchObject({
      status: 'promoted',
      modelVersion: sha256Hex(new Uint8Array([2])),
    });
    expect(tasks(second.record)).toEqual([
      'AwaitTurn',
      'ResolveInput',
      'ExtractFeatures',
      'Train',
      'Evaluate',
      'Register',
      'BuildImage',
      'DeployCanary',
      'JudgeCanary',
      'PromoteCanary',
      'NotifyPromoted',
    ]);
    expect(second.record.states.map((s) => s.name)).toContain('WaitForCanaryTraffic');
    expect(await t.registry.aliases()).toMatchObject({
      champion: sha256Hex(new Uint8Array([2])),
      canary: null,
      previousChampions: [v1],
    });
    expect(await t.deployment.deployer.routing()).toEqual({ functionVersion: '2', canary: null });
    expect(t.notifications().map((n) => n.subject)).toEqual([
      'credit-risk: new champion',
      'credit-risk: new champion',
    ]);
    expect(t.notifications().at(-1)?.message).toMatch(
      /\. If it misbehaves, put the previous champion back: credit-risk aws models rollback --region [a-z0-9-]+ --models-bucket models --function-name predict --name credit-risk$/,
    );
    // Recorded under home.runs, newest first.
    expect(new RunStore(t.home.runs).list().map((r) => runDecision(r))).toEqual(['promoted', 'promoted']);
  });

  it('with tune in the input: plan, a Map of trials per rung, plan again, then TrainTuned with the chosen params', async () => {
    const t = setup();
    const { result, record } = await t.run({
      train: { model: 7 },
      tune: { trials: 6, seed: 1, maxConcurrency: 2 },
    });
    expect(result).toMatchObject({ status: 'succeeded', output: { status: 'promoted' } });
    // 6 configurations at rung 0, the best 2 at rung 1, then the choice: three plans, two Maps.
    expect(t.calls.filter((c) => c === 'train:plan')).toHaveLength(3);
    expect(t.calls.filter((c) => c.startsWith('train:trial:0:'))).toHaveLength(6);
    expect(t.calls.filter((c) => c.startsWith('train:trial:1:')).sort()).toEqual([
      'train:trial:1:2',
      'train:trial:1:5',
    ]);
    expect(tasks(record).filter((n) => !['TuneTrial', 'PlanTuning'].includes(n))).toEqual([
      'AwaitTurn',
      'ResolveInput',
      'ExtractFeatures',
      'TrainTuned',
      'Evaluate',
      'Register',
      'BuildImage',
      'DeployCanary',
      'NotifyPromoted',
    ]);
    expect(record.states.map((s) => s.name)).toEqual(expect.arrayContaining(['TuneOrTrain', 'RunTrials']));
    expect(record.states.map((s) => s.name)).not.toContain('Train');
    // The final training gets the base params with configuration 2 over them, and the record for the card.
    expect(t.trainPayloads).toHaveLength(1);
    const payload = t.trainPayloads[0] as {
      params: Record<string, unknown>;
      tuning: { chosen: { id: number }; trials: TrialResult[] };
    };
    expect(payload.params).toMatchObject({ model: 7 });
    expect(payload.params.numLeaves).toEqual(expect.any(Number));
    expect(payload.tuning.chosen.id).toBe(2);
    expect(payload.tuning.trials).toHaveLength(8);
  });

  it('without tune in the input the run never enters the tuning states', async () => {
    const t = setup();
    const { record } = await t.run({ train: { model: 1 } });
    const names = record.states.map((s) => s.name);
    expect(names).toContain('TuneOrTrain');
    for (const state of ['StartTuning', 'PlanTuning', 'RunTrials', 'TuneTrial', 'TrainTuned'])
      expect(names).not.toContain(state);
    expect(t.trainPayloads).toEqual([
      {
        snapshotId: 'snap-1',
        featuresKey: 'features/snapshot=snap-1/part-00000.parquet',
        runId: expect.stringMatching(/^training-/),
        params: { model: 1 },
      },
    ]);
  });

  it('rolls back a canary whose metrics are bad: the champion keeps serving alone', async () => {
    const t = setup('errors');
    await t.run({ train: { model: 1 } });
    const v1 = (await t.registry.aliases()).champion;
    const { result, record } = await t.run({ train: { model: 2 } });
    expect(result).toMatchObject({
      status: 'succeeded',
      output: {
        status: 'rolled-back',
        reasons: [expect.stringMatching(/^canary_error_rate: /), expect.any(String)],
      },
    });
    expect(tasks(record).slice(-3)).toEqual(['JudgeCanary', 'RollBackCanary', 'NotifyRolledBack']);
    expect(await t.registry.aliases()).toMatchObject({ champion: v1, canary: null });
    expect(await t.deployment.deployer.routing()).toEqual({ functionVersion: '1', canary: null });
    expect(t.notifications().at(-1)?.message).toMatch(/rolled back canary .* Reasons: \["canary_error_rate/);
  });

  it("a canary whose deadline (the input's canaryDeadlineSeconds) passes before JudgeCanary is rolled back, good metrics or not", async () => {
    const t = setup('good');
    await t.run({ train: { model: 1 } });
    const v1 = (await t.registry.aliases()).champion;
    // The 600 s watch is 0.6 s at this wait scale; a 0.1 s deadline is behind it by then.
    const { result, record } = await t.run({ train: { model: 2 }, canaryDeadlineSeconds: 0.1 });
    const deployed = record.states.find((s) => s.name === 'DeployCanary')?.output as {
      deployment: { result: { deployedAt: string; deadline: string } };
    };
    const { deployedAt, deadline } = deployed.deployment.result;
    expect(Date.parse(deadline) - Date.parse(deployedAt)).toBe(100);
    expect(result).toMatchObject({
      status: 'succeeded',
      output: { status: 'rolled-back', reasons: [expect.stringMatching(/^canary_deadline: judged at /)] },
    });
    expect(tasks(record).slice(-3)).toEqual(['JudgeCanary', 'RollBackCanary', 'NotifyRolledBack']);
    expect(await t.registry.aliases()).toMatchObject({ champion: v1, canary: null });
    expect(await t.deployment.deployer.routing()).toEqual({ functionVersion: '1', canary: null });
  });

  it('ends a model that fails the gate as rejected: nothing registered, built or deployed', async () => {
    const t = setup();
    await t.run({ train: { model: 1 } });
    const before = await t.registry.history();
    const { result, record } = await t.run({ train: { model: 2 }, gate: { reject: true } });
    expect(result).toMatchObject({
      status: 'succeeded',
      output: { status: 'rejected', reasons: ['auc_below_floor: 0.5 < 0.6'] },
    });
    expect(tasks(record)).toEqual([
      'AwaitTurn',
      'ResolveInput',
      'ExtractFeatures',
      'Train',
      'Evaluate',
      'NotifyRejected',
    ]);
    expect(record.states.at(-1)).toMatchObject({ name: 'Rejected', type: 'Succeed' });
    expect(await t.registry.history()).toEqual(before);
    expect((await t.deployment.deployer.read()).versions).toHaveLength(1);
  });

  it('retrains byte-identical models as "unchanged" without a canary', async () => {
    const t = setup();
    await t.run({ train: { model: 1 } });
    const { result } = await t.run({ train: { model: 1 } });
    expect(result.output).toMatchObject({ status: 'unchanged' });
    expect(await t.deployment.deployer.routing()).toEqual({ functionVersion: '1', canary: null });
  });

  it('extracts large inputs with the Glue branch: prepare, the job on the staged Parquet, publish', async () => {
    const t = setup();
    const { result, record } = await t.run({
      train: { model: 1 },
      input: 'raw/big.csv',
      sizeBytes: 5_000_000_000,
    });
    expect(result.status).toBe('succeeded');
    expect(tasks(record).slice(0, 5)).toEqual([
      'AwaitTurn',
      'PrepareGlueFeatures',
      'ExtractFeaturesGlue',
      'PublishGlueFeatures',
      'Train',
    ]);
    expect(t.calls.slice(0, 4)).toEqual([
      'extract-features:prepare',
      'glue',
      'extract-features:publish',
      'train',
    ]);
    // The job gets the staged keys as s3:// URIs of the features bucket (local name: features).
    expect(t.glueRuns).toEqual([
      {
        '--input': `s3://features/staging/${GLUE_SNAPSHOT}/raw_valid.parquet`,
        '--output': `s3://features/staging/${GLUE_SNAPSHOT}/spark/`,
        '--as_of': '2025-01-31',
      },
    ]);
    expect((result.output as { snapshotId: string }).snapshotId).toBe(GLUE_SNAPSHOT);
  });

  const GLUE_TASKS = ['PrepareGlueFeatures', 'ExtractFeaturesGlue', 'PublishGlueFeatures'];

  it.each(GLUE_TASKS)(
    'a fault at %s (Glue branch) ends the run failed, nothing published; resume reuses the Glue steps before it',
    async (state) => {
      const t = setup();
      await t.run({ train: { model: 1 } });
      const aliasesBefore = await t.registry.aliases();
      const failed = await t.run(
        { train: { model: 2 }, input: 'raw/big.csv', sizeBytes: 5_000_000_000 },
        { failAt: [state] },
      );
      expect(failed.result).toMatchObject({ status: 'failed', error: { error: 'TrainingFailed' } });
      expect(failed.record.states.find((s) => s.error)?.name).toBe(state);
      expect(t.calls).not.toContain('extract-features:publish');
      expect(await t.registry.aliases()).toEqual(aliasesBefore);

      t.calls.length = 0;
      const resumed = await t.run({}, { resume: failed.record });
      expect(resumed.result.output).toMatchObject({ status: 'promoted', snapshotId: GLUE_SNAPSHOT });
      const before = GLUE_TASKS.slice(0, GLUE_TASKS.indexOf(state));
      expect(reusedStates(resumed.record).sort()).toEqual([...before].sort());
      expect(t.calls.filter((c) => c === 'glue')).toHaveLength(
        before.includes('ExtractFeaturesGlue') ? 0 : 1,
      );
    },
  );

  const MAIN_PATH_TASKS = taskStates(definitionFor('training'))
    .map((s) => s.name)
    .filter(
      (n) =>
        !n.startsWith('Notify') &&
        ![
          'PrepareGlueFeatures',
          'ExtractFeaturesGlue',
          'PublishGlueFeatures',
          'AbortCanary',
          'RollBackCanary',
          // The tuning states run only with a tune object in the input (their tests below).
          'PlanTuning',
          'TuneTrial',
          'TrainTuned',
        ].includes(n),
    );

  it('covers every main-path Task in the fault tests below', () => {
    expect(MAIN_PATH_TASKS).toEqual([
      'AwaitTurn',
      'ResolveInput',
      'ExtractFeatures',
      'Train',
      'Evaluate',
      'Register',
      'BuildImage',
      'DeployCanary',
      'JudgeCanary',
      'PromoteCanary',
    ]);
  });

  it.each(MAIN_PATH_TASKS)(
    'a fault at %s ends the run failed with the champion serving alone; resume completes it',
    async (state) => {
      const t = setup();
      await t.run({ train: { model: 1 } });
      const aliasesBefore = await t.registry.aliases();
      const routingBefore = await t.deployment.deployer.routing();
      const failed = await t.run({ train: { model: 2 } }, { failAt: [state] });
      expect(failed.result).toMatchObject({ status: 'failed', error: { error: 'TrainingFailed' } });
      expect(failed.record.states.find((s) => s.error)?.name).toBe(state);
      expect(failed.record.states.map((s) => s.name).slice(-2)).toEqual(['NotifyFailure', 'Failed']);
      const after = await t.registry.aliases();
      expect({ champion: after.champion, canary: after.canary }).toEqual({
        champion: aliasesBefore.champion,
        canary: null,
      });
      expect(await t.deployment.deployer.routing()).toEqual(routingBefore);
      expect(t.notifications().at(-1)?.message).toMatch(
        new RegExp(`failed: InjectedFault: fault injected at ${state}`),
      );
      // The message names the commands that show and move serving (the local placeholders here).
      expect(t.notifications().at(-1)?.message).toMatch(
        / Check serving: credit-risk aws models status --region [a-z0-9-]+ --models-bucket models --function-name predict --name credit-risk\. To put the previous champion back: credit-risk aws models rollback with the same options\.$/,
      );

      t.calls.length = 0;
      const registered = (await t.registry.history()).filter((e) => e.action === 'register').length;
      const resumed = await t.run({}, { resume: failed.record });
      expect(resumed.result.output).toMatchObject({
        status: 'promoted',
        modelVersion: sha256Hex(new Uint8Array([2])),
      });
      expect(resumed.record.resumedFrom).toBe(failed.record.executionId);
      // Whatever finished before the fault is reused, not recomputed.
      const finishedBefore = ['ResolveInput', 'ExtractFeatures', 'Train', 'BuildImage'].filter(
        (s) => MAIN_PATH_TASKS.indexOf(s) < MAIN_PATH_TASKS.indexOf(state),
      );
      expect(reusedStates(resumed.record).sort()).toEqual(finishedBefore.sort());
      if (finishedBefore.includes('Train')) expect(t.calls).not.toContain('train');
      // Register runs again but, the bytes being the same, registers nothing new.
      const registeredAfter = (await t.registry.history()).filter((e) => e.action === 'register').length;
      expect(registeredAfter).toBe(
        MAIN_PATH_TASKS.indexOf(state) > MAIN_PATH_TASKS.indexOf('Register') ? registered : registered + 1,
      );
    },
  );
});
