/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { readCurrentSnapshot } from '#lib/features/publish.ts';
import { reusedStates } from '#lib/pipeline/run-record.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { divertTelemetry } from '#local/server/telemetry-sink.ts';
import { taskStates } from '#local/sfn/definition.ts';
import { localDeployment, type LocalDeployment } from '#local/sfn/local-functions.ts';
import { definitionFor, failAtFromEnv, runPipelineLocally } from '#local/sfn/local-pipeline.ts';
import { ensureGeneratedRaw } from '#local/sfn/raw-data.ts';
import { freshHome } from '../support/home.ts';
import { ANY_MODEL_GATE } from '../support/gates.ts';

/**
 * A fault at every Task of the training machine, with the real handlers on small data: the run
 * ends on the failure path, the registry's champion and canary, the alias routing and the current
 * feature snapshot are what they were, and `pipeline resume` then finishes the run, reusing what
 * the failed run had finished. The fault comes from CREDIT_RISK_FAIL_AT, as the CLI reads it.
 * (The canary under real traffic is test/e2e/canary.test.ts; here the judge is told to need no
 * traffic, so the runs stay fast.)
 */
// These runs test fault handling, not model quality: a few trees on 4,000 rows (about 20 test
// positives) score anywhere around AUC 0.5 depending on rounding, so the floors are off.
const GATE = ANY_MODEL_GATE;
const NO_TRAFFIC_NEEDED = { minCanaryRequests: 0, minChampionRequests: 1_000_000_000 };
const MAIN_PATH_TASKS = taskStates(definitionFor('training'))
  .map((s) => s.name)
  // These runs name their raw key, so ResolveInput (prefix inputs only) is not on their path; its
  // fault and resume are in test/integration/sfn/training-machine.test.ts. AwaitTurn, before any work,
  // has nothing to leave behind or reuse; its fault and resume are there too.
  .filter(
    (n) =>
      !n.startsWith('Notify') &&
      ![
        'AwaitTurn',
        'ResolveInput',
        'PrepareGlueFeatures',
        'ExtractFeaturesGlue',
        'PublishGlueFeatures',
        'AbortCanary',
        'RollBackCanary',
        // The tuning path (input.tune): test/integration/sfn/tuning-pipeline.test.ts.
        'PlanTuning',
        'TuneTrial',
        'TrainTuned',
      ].includes(n),
  );

let root: LocalRoot;
let deployment: LocalDeployment;
let registry: ModelRegistry;
let restoreTelemetry: () => Promise<void>;
let input: Record<string, unknown>;
let otherRaw: string;
/** The raw file whose snapshot is current: runs on it extract the same (content-addressed) snapshot. */
let currentRaw: string;

beforeAll(async () => {
  const home = freshHome('cr-e2e-faults-');
  root = createLocalRoot(home);
  deployment = localDeployment(root);
  registry = new ModelRegistry(root.objectStore);
  restoreTelemetry = divertTelemetry({ metrics: home.metrics, logs: join(home.root, 'logs') }, 'e2e');
  const raw = await ensureGeneratedRaw(root, { rows: 4000, seed: 7 });
  otherRaw = (await ensureGeneratedRaw(root, { rows: 4000, seed: 8 })).key;
  input = { input: raw.key, asOf: raw.lastLoanDate, gate: GATE, canary: NO_TRAFFIC_NEEDED };
  currentRaw = raw.key;
  const first = await runPipelineLocally({
    root,
    deployment,
    input: { ...input, train: { numTrees: 3, earlyStoppingRounds: 0 } },
    waitScale: 0,
  });
  expect(first.result.output).toMatchObject({ status: 'promoted' });
}, 300_000);

afterAll(async () => {
  delete process.env.CREDIT_RISK_FAIL_AT;
  await restoreTelemetry?.();
  await root?.featureStore.close();
});

describe('fault injection at every Task, then resume', () => {
  it('covers every Task on the main path', () => {
    expect(MAIN_PATH_TASKS).toEqual([
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

  it.each(MAIN_PATH_TASKS.map((s, i) => [s, i] as const))(
    'fault at %s',
    async (state, i) => {
      const aliases = await registry.aliases();
      const routing = await deployment.deployer.routing();
      const snapshot = (await readCurrentSnapshot(root.objectStore))?.snapshotId;
      const registered = (await registry.list()).map((v) => v.version);
      // A new raw file for the extract fault (a swap would show); the same file otherwise (same snapshot).
      const runInput = {
        ...input,
        input: state === 'ExtractFeatures' ? otherRaw : currentRaw,
        train: { numTrees: 4 + i, earlyStoppingRounds: 0 },
      };

      process.env.CREDIT_RISK_FAIL_AT = state;
      const failed = await runPipelineLocally({
        root,
        deployment,
        input: runInput,
        failAt: failAtFromEnv(),
        waitScale: 0,
      });
      delete process.env.CREDIT_RISK_FAIL_AT;

      expect(failed.result).toMatchObject({ status: 'failed', error: { error: 'TrainingFailed' } });
      expect(failed.record.states.find((s) => s.error)).toMatchObject({
        name: state,
        error: { error: 'InjectedFault' },
      });
      expect(failed.record.states.map((s) => s.name).slice(-2)).toEqual(['NotifyFailure', 'Failed']);
      const after = await registry.aliases();
      expect({ champion: after.champion, canary: after.canary }).toEqual({
        champion: aliases.champion,
        canary: null,
      });
      expect(await deployment.deployer.routing()).toEqual(routing);
      expect((await readCurrentSnapshot(root.objectStore))?.snapshotId).toBe(snapshot);
      if (MAIN_PATH_TASKS.indexOf(state) <= MAIN_PATH_TASKS.indexOf('Register')) {
        expect((await registry.list()).map((v) => v.version)).toEqual(registered);
      }

      const resumed = await runPipelineLocally({
        root,
        deployment,
        input: {},
        resume: new RunStore(root.home.runs).get(failed.record.executionId),
        waitScale: 0,
      });
      expect(resumed.result.output).toMatchObject({ status: 'promoted' });
      currentRaw = runInput.input;
      expect(resumed.record.resumedFrom).toBe(failed.record.executionId);
      const finished = ['ExtractFeatures', 'Train', 'BuildImage'].filter(
        (s) => MAIN_PATH_TASKS.indexOf(s) < MAIN_PATH_TASKS.indexOf(state),
      );
      expect(reusedStates(resumed.record).sort()).toEqual(finished.sort());
      expect((await registry.aliases()).champion).toBe(
        (resumed.result.output as { modelVersion: string }).modelVersion,
      );
    },
    180_000,
  );
});
