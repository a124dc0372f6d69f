/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { divertTelemetry } from '#local/server/telemetry-sink.ts';
import { localDeployment, type LocalDeployment } from '#local/sfn/local-functions.ts';
import { runPipelineLocally } from '#local/sfn/local-pipeline.ts';
import { ensureGeneratedRaw } from '#local/sfn/raw-data.ts';
import { freshHome } from '../support/home.ts';
import { ANY_MODEL_GATE } from '../support/gates.ts';

/**
 * The Tasks that leave a canary (RollBackCanary, AbortCanary) are on the failure path, so
 * test/e2e/fault-injection.test.ts, which faults one main-path Task at a time, never reaches a
 * fault in them. Here:
 * - a fault in RollBackCanary is caught by AbortCanary, which restores the champion's routing;
 * - a fault in AbortCanary itself (after a fault in PromoteCanary) ends the run failed with the
 *   canary still routed until its deadline (docs/adr/0116-canary-deadline.md: then serving ignores
 *   it and the expiry step takes it off), and `pipeline resume` then finishes the run and leaves
 *   one version serving.
 */
// These runs test fault handling, not model quality: a few trees on 4,000 rows (about 20 test
// positives) score anywhere around AUC 0.5 depending on rounding, so the floors are off.
const GATE = ANY_MODEL_GATE;
const NO_TRAFFIC_NEEDED = { minCanaryRequests: 0, minChampionRequests: 1_000_000_000 };
/** Nobody sends traffic in these runs, so a canary that must answer one request is rolled back. */
const ROLL_BACK = { minCanaryRequests: 1, minChampionRequests: 1_000_000_000 };

let root: LocalRoot;
let deployment: LocalDeployment;
let registry: ModelRegistry;
let restoreTelemetry: () => Promise<void>;
let input: Record<string, unknown>;

beforeAll(async () => {
  const home = freshHome('cr-e2e-canary-faults-');
  root = createLocalRoot(home);
  deployment = localDeployment(root);
  registry = new ModelRegistry(root.objectStore);
  restoreTelemetry = divertTelemetry({ metrics: home.metrics, logs: join(home.root, 'logs') }, 'e2e');
  const raw = await ensureGeneratedRaw(root, { rows: 4000, seed: 7 });
  input = { input: raw.key, asOf: raw.lastLoanDate, gate: GATE };
  const first = await runPipelineLocally({
    root,
    deployment,
    input: { ...input, canary: NO_TRAFFIC_NEEDED, train: { numTrees: 3, earlyStoppingRounds: 0 } },
    waitScale: 0,
  });
  expect(first.result.output).toMatchObject({ status: 'promoted' });
}, 300_000);

afterAll(async () => {
  await restoreTelemetry?.();
  await root?.featureStore.close();
});

function stateNames(run: { record: { states: { name: string }[] } }): string[] {
  return run.record.states.map((s) => s.name);
}

describe('faults in the Tasks that end a canary', () => {
  it('a fault in RollBackCanary is caught by AbortCanary: the champion serves alone and the run fails', async () => {
    const champion = (await registry.aliases()).champion;
    const routingBefore = await deployment.deployer.routing();

    const failed = await runPipelineLocally({
      root,
      deployment,
      input: { ...input, canary: ROLL_BACK, train: { numTrees: 5, earlyStoppingRounds: 0 } },
      failAt: ['RollBackCanary'],
      waitScale: 0,
    });

    expect(failed.result).toMatchObject({ status: 'failed', error: { error: 'TrainingFailed' } });
    expect(failed.record.states.find((s) => s.error)).toMatchObject({
      name: 'RollBackCanary',
      error: { error: 'InjectedFault' },
    });
    const names = stateNames(failed);
    expect(names).toEqual(
      expect.arrayContaining([
        'DeployCanary',
        'JudgeCanary',
        'RollBackCanary',
        'AbortCanary',
        'NotifyFailure',
      ]),
    );
    expect(names.indexOf('AbortCanary')).toBeGreaterThan(names.indexOf('RollBackCanary'));
    expect(names.slice(-2)).toEqual(['NotifyFailure', 'Failed']);
    expect(await deployment.deployer.routing()).toEqual(routingBefore);
    const after = await registry.aliases();
    expect({ champion: after.champion, canary: after.canary }).toEqual({ champion, canary: null });

    const resumed = await runPipelineLocally({
      root,
      deployment,
      input: {},
      resume: new RunStore(root.home.runs).get(failed.record.executionId),
      waitScale: 0,
    });
    expect(resumed.result.output).toMatchObject({ status: 'rolled-back' });
    expect((await registry.aliases()).champion).toBe(champion);
    expect(await deployment.deployer.routing()).toEqual(routingBefore);
  }, 240_000);

  it('a fault in AbortCanary too leaves the canary routed until its deadline, or until `pipeline resume` finishes the run', async () => {
    const champion = (await registry.aliases()).champion;
    const routingBefore = await deployment.deployer.routing();

    const failed = await runPipelineLocally({
      root,
      deployment,
      input: { ...input, canary: NO_TRAFFIC_NEEDED, train: { numTrees: 6, earlyStoppingRounds: 0 } },
      failAt: ['PromoteCanary', 'AbortCanary'],
      waitScale: 0,
    });

    expect(failed.result).toMatchObject({ status: 'failed', error: { error: 'TrainingFailed' } });
    const errors = failed.record.states.filter((s) => s.error).map((s) => [s.name, s.error?.error]);
    expect(errors).toEqual([
      ['PromoteCanary', 'InjectedFault'],
      ['AbortCanary', 'InjectedFault'],
      ['Failed', 'TrainingFailed'],
    ]);
    expect(stateNames(failed).slice(-2)).toEqual(['NotifyFailure', 'Failed']);
    // The canary still takes its share, and the champion is unchanged: until the deadline that
    // DeployCanary recorded (the default 1800 s), after which nothing routes to it.
    const stuck = await deployment.deployer.routing();
    expect(stuck).not.toEqual(routingBefore);
    const left = await registry.aliases();
    expect(left.champion).toBe(champion);
    const deployed = failed.record.states.find((s) => s.name === 'DeployCanary')?.output as {
      deployment: { result: { deployedAt: string; deadline: string } };
    };
    const { deployedAt, deadline } = deployed.deployment.result;
    expect(Date.parse(deadline) - Date.parse(deployedAt)).toBe(1_800_000);
    expect(left.canary?.deadline).toBe(deadline);

    const resumed = await runPipelineLocally({
      root,
      deployment,
      input: {},
      resume: new RunStore(root.home.runs).get(failed.record.executionId),
      waitScale: 0,
    });
    expect(resumed.result.output).toMatchObject({ status: 'promoted' });
    const promoted = (resumed.result.output as { modelVersion: string }).modelVersion;
    expect(promoted).not.toBe(champion);
    expect((await registry.aliases()).champion).toBe(promoted);
    expect((await registry.aliases()).canary).toBeNull();
    const routingAfter = await deployment.deployer.routing();
    expect(routingAfter).not.toEqual(stuck);
    expect(await deployment.deployer.modelOf(routingAfter?.functionVersion ?? '')).toBe(promoted);
  }, 240_000);
});
