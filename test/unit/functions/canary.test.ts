import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { join } from 'node:path';
import { createHandler } from '#functions/canary/handler.ts';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import type { Deployment, Judgement } from '#lib/deploy/canary-steps.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import type { MetricsReader, VersionTraffic } from '#lib/ports/metrics-reader.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { freshHome } from '../../support/home.ts';

const context = {
  awsRequestId: 'r',
  functionName: 'canary',
  getRemainingTimeInMillis: () => 60000,
} as unknown as Context;
const HIST = [500, 200, 100, 80, 50, 30, 20, 10, 6, 4];

function traffic(modelVersion: string, over: Partial<VersionTraffic> = {}): VersionTraffic {
  return {
    modelVersion,
    predictions: 1000,
    serverErrors: 0,
    p99LatencyMs: 10,
    scoreHistogram: HIST,
    ...over,
  };
}

async function setup(options: { champion?: boolean; canaryTraffic?: Partial<VersionTraffic> } = {}) {
  const home = freshHome();
  const store = new FsObjectStore(home.store);
  const registry = new ModelRegistry(store);
  const reg = async (byte: number) =>
    (await registry.register({ model: new Uint8Array([byte]), card: '{}', report: '' })).version;
  const champion = await reg(1);
  const challenger = await reg(2);
  const deployer = new AliasTableDeployer(join(home.builds, 'alias-live.json'));
  if (options.champion !== false) {
    const v = await deployer.publish({ modelVersion: champion, artifact: '/builds/champion', buildId: 'b0' });
    await deployer.route({ functionVersion: v.functionVersion, canary: null });
    await registry.promote(champion);
  }
  const windows: { start: Date; end: Date }[] = [];
  const metrics: MetricsReader = {
    async traffic(version, window) {
      windows.push(window);
      return version === challenger
        ? traffic(version, {
            predictions: 120,
            scoreHistogram: HIST.map((c) => Math.round(c / 8.33)),
            ...options.canaryTraffic,
          })
        : traffic(version);
    },
  };
  const handler = createHandler({ deployer, metrics, modelsStore: store, clock: fixedClock('2025-03-01') });
  const build = { buildId: 'b1', exported: [{ Name: 'IMAGE_URI', Value: '/builds/challenger' }] };
  return { home, registry, deployer, handler, champion, challenger, build, windows };
}

describe('canary function', () => {
  it('deploys a canary: a new version gets the share, the registry records the canary', async () => {
    const { handler, deployer, registry, challenger, champion, build } = await setup();
    const d = (await handler(
      { action: 'deploy', modelVersion: challenger, build, weight: 0.1, runId: 'run-1' },
      context,
    )) as Deployment;
    expect(d).toMatchObject({
      status: 'canary',
      modelVersion: challenger,
      championVersion: champion,
      functionVersion: '2',
      championFunctionVersion: '1',
      weight: 0.1,
    });
    expect(await deployer.routing()).toEqual({
      functionVersion: '1',
      canary: { functionVersion: '2', weight: 0.1 },
    });
    expect(await registry.aliases()).toMatchObject({
      champion,
      canary: { version: challenger, weight: 0.1 },
    });
    expect((await registry.history()).at(-1)?.why).toBe('canary at 0.1 (training run run-1)');
  });

  it('deploying again (a retried state) changes nothing', async () => {
    const { handler, deployer, registry, challenger, build } = await setup();
    await handler({ action: 'deploy', modelVersion: challenger, build, weight: 0.1 }, context);
    const before = (await registry.history()).length;
    const d = (await handler(
      { action: 'deploy', modelVersion: challenger, build, weight: 0.1 },
      context,
    )) as Deployment;
    expect(d.functionVersion).toBe('2');
    expect((await deployer.read()).versions).toHaveLength(2);
    expect((await registry.history()).length).toBe(before);
  });

  it('promotes the first model ever outright and says so', async () => {
    const { handler, deployer, registry, challenger, build } = await setup({ champion: false });
    const d = (await handler(
      { action: 'deploy', modelVersion: challenger, build, weight: 0.1 },
      context,
    )) as Deployment;
    expect(d.status).toBe('first-model');
    expect(await deployer.routing()).toEqual({ functionVersion: '1', canary: null });
    expect(await registry.aliases()).toMatchObject({ champion: challenger, canary: null });
  });

  it('does nothing for a model that already is the champion', async () => {
    const { handler, deployer, champion, build } = await setup();
    const d = (await handler(
      { action: 'deploy', modelVersion: champion, build, weight: 0.1 },
      context,
    )) as Deployment;
    expect(d.status).toBe('already-champion');
    expect((await deployer.read()).versions).toHaveLength(1);
  });

  it('judges over the window since the deployment and promotes a good canary', async () => {
    const { handler, deployer, registry, challenger, build, windows } = await setup();
    const d = (await handler(
      { action: 'deploy', modelVersion: challenger, build, weight: 0.1 },
      context,
    )) as Deployment;
    const j = (await handler({ action: 'judge', deployment: d }, context)) as Judgement;
    expect(j.decision).toBe('promote');
    expect(windows[0].start.toISOString()).toBe(d.deployedAt);
    await handler({ action: 'promote', deployment: d, judgement: j }, context);
    expect(await deployer.routing()).toEqual({ functionVersion: '2', canary: null });
    expect(await registry.aliases()).toMatchObject({ champion: challenger, canary: null });
  });

  it('rolls back a canary that errors: the champion serves alone and the registry says why', async () => {
    const { handler, deployer, registry, challenger, champion, build } = await setup({
      canaryTraffic: { predictions: 0, serverErrors: 120, p99LatencyMs: null },
    });
    const d = (await handler(
      { action: 'deploy', modelVersion: challenger, build, weight: 0.1 },
      context,
    )) as Deployment;
    const j = (await handler(
      { action: 'judge', deployment: d, thresholds: { minCanaryRequests: 50 } },
      context,
    )) as Judgement;
    expect(j.decision).toBe('rollback');
    await handler({ action: 'rollback', deployment: d, judgement: j }, context);
    expect(await deployer.routing()).toEqual({ functionVersion: '1', canary: null });
    expect(await registry.aliases()).toMatchObject({ champion, canary: null });
    expect((await registry.history()).at(-1)?.why).toMatch(/^canary rolled back: canary_error_rate: /);
  });

  it('aborts: whatever failed, the alias and the registry go back to the champion alone', async () => {
    const { handler, deployer, registry, challenger, champion, build } = await setup();
    await handler({ action: 'deploy', modelVersion: challenger, build, weight: 0.1 }, context);
    expect(
      await handler(
        { action: 'abort', modelVersion: challenger, error: { Error: 'InjectedFault', Cause: 'x' } },
        context,
      ),
    ).toEqual({ aborted: true });
    expect(await deployer.routing()).toEqual({ functionVersion: '1', canary: null });
    expect(await registry.aliases()).toMatchObject({ champion, canary: null });
    expect(await handler({ action: 'abort', modelVersion: challenger }, context)).toEqual({ aborted: false });
  });

  it('refuses a malformed event with a code that names the field', async () => {
    const { handler } = await setup();
    await expect(
      handler(
        { action: 'deploy', modelVersion: 'nope', build: { buildId: 'b', exported: [] }, weight: 0.1 },
        context,
      ),
    ).rejects.toMatchObject({
      code: 'BAD_CANARY_EVENT',
      message: expect.stringContaining('modelVersion'),
    });
    await expect(handler({ action: 'dance' }, context)).rejects.toMatchObject({ code: 'BAD_CANARY_EVENT' });
  });

  it('refuses a build that exported no image', async () => {
    const { handler, challenger } = await setup();
    await expect(
      handler(
        {
          action: 'deploy',
          modelVersion: challenger,
          build: { buildId: 'b', exported: [{ Name: 'X', Value: 'y' }] },
          weight: 0.1,
        },
        context,
      ),
    ).rejects.toMatchObject({ code: 'NO_IMAGE_URI' });
  });
});
