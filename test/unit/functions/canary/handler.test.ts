import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { join } from 'node:path';
import { createHandler } from '#functions/canary/handler.ts';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import type { Deployment, Judgement } from '#lib/deploy/canary-steps.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { MetricsReader, VersionTraffic } from '#lib/ports/metrics-reader.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { freshHome } from '../../../support/home.ts';

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
  // The clock the canary function reads, moved by the tests (a canary's deadline is about time).
  let now = Date.parse('2025-03-01T12:00:00Z');
  const clock: Clock = { now: () => new Date(now), today: () => new Date(now).toISOString().slice(0, 10) };
  const handler = createHandler({ deployer, metrics, modelsStore: store, clock });
  const build = { buildId: 'b1', exported: [{ Name: 'IMAGE_URI', Value: '/builds/challenger' }] };
  const advance = (ms: number) => void (now += ms);
  return { home, store, registry, deployer, handler, champion, challenger, build, windows, advance, reg };
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
      deployedAt: '2025-03-01T12:00:00.000Z',
      deadline: '2025-03-01T12:30:00.000Z', // the default 1800 s
    });
    expect(await deployer.routing()).toEqual({
      functionVersion: '1',
      canary: { functionVersion: '2', weight: 0.1 },
    });
    expect(await registry.aliases()).toMatchObject({
      champion,
      canary: { version: challenger, weight: 0.1, deadline: '2025-03-01T12:30:00.000Z' },
    });
    expect((await registry.history()).at(-1)?.why).toBe(
      'canary at 0.1 until 2025-03-01T12:30:00.000Z (training run run-1)',
    );
  });

  it('a deploy event sets the deadline it is given; a retry later keeps the first one', async () => {
    const { handler, registry, challenger, build, advance } = await setup();
    const event = { action: 'deploy', modelVersion: challenger, build, weight: 0.1, deadlineSeconds: 900 };
    const d = (await handler(event, context)) as Deployment;
    expect(d.deadline).toBe('2025-03-01T12:15:00.000Z');
    advance(60_000);
    const again = (await handler(event, context)) as Deployment;
    expect(again.deadline).toBe('2025-03-01T12:15:00.000Z');
    expect((await registry.aliases()).canary?.deadline).toBe('2025-03-01T12:15:00.000Z');
    await expect(handler({ ...event, deadlineSeconds: 0 }, context)).rejects.toMatchObject({
      code: 'BAD_CANARY_EVENT',
      message: expect.stringContaining('deadlineSeconds'),
    });
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

  it('judged after its deadline (a resumed run): rolled back whatever its metrics, over a window that ends at the deadline', async () => {
    const { handler, deployer, registry, challenger, champion, build, windows, advance } = await setup();
    const d = (await handler(
      { action: 'deploy', modelVersion: challenger, build, weight: 0.1, deadlineSeconds: 600 },
      context,
    )) as Deployment;
    advance(601_000);
    const j = (await handler({ action: 'judge', deployment: d }, context)) as Judgement;
    expect(j.decision).toBe('rollback');
    expect(j.reasons).toEqual([
      "canary_deadline: judged at 2025-03-01T12:10:01.000Z; the canary's deadline is 2025-03-01T12:10:00.000Z, after which its traffic falls back to the champion",
    ]);
    expect(windows.map((w) => w.end.toISOString())).toEqual([d.deadline, d.deadline]);
    await handler({ action: 'rollback', deployment: d, judgement: j }, context);
    expect(await deployer.routing()).toEqual({ functionVersion: '1', canary: null });
    expect(await registry.aliases()).toMatchObject({ champion, canary: null });
  });

  it('judged after the canary left the registry (expired and cleared): rolled back, never promoted', async () => {
    const { handler, registry, challenger, build } = await setup();
    const d = (await handler(
      { action: 'deploy', modelVersion: challenger, build, weight: 0.1 },
      context,
    )) as Deployment;
    await registry.clearCanary({ why: 'by hand' });
    const j = (await handler({ action: 'judge', deployment: d }, context)) as Judgement;
    expect(j.decision).toBe('rollback');
    expect(j.reasons).toEqual([
      `canary_live: the registry's canary is none, not ${challenger} (expired, cleared or replaced)`,
    ]);
  });

  it('expire: nothing before the deadline; after it the alias drops the canary, then the registry clears it, audited', async () => {
    const { handler, deployer, registry, challenger, champion, build, advance } = await setup();
    await handler(
      { action: 'deploy', modelVersion: challenger, build, weight: 0.1, deadlineSeconds: 1800 },
      context,
    );
    const canary = { version: challenger, weight: 0.1, deadline: '2025-03-01T12:30:00.000Z' };
    advance(1_799_000);
    expect(await handler({ action: 'expire' }, context)).toEqual({ expired: false, canary, routed: false });
    expect((await deployer.routing())?.canary).toEqual({ functionVersion: '2', weight: 0.1 });

    advance(1_000);
    expect(await handler({ action: 'expire' }, context)).toEqual({ expired: true, canary, routed: true });
    expect(await deployer.routing()).toEqual({ functionVersion: '1', canary: null });
    expect(await registry.aliases()).toMatchObject({ champion, canary: null });
    expect((await registry.history()).at(-1)).toMatchObject({
      action: 'clear-canary',
      from: challenger,
      to: null,
      actor: 'schedule:canary-expiry',
      why: 'canary expired: its deadline 2025-03-01T12:30:00.000Z passed before it was judged',
    });
    // Idempotent: the schedule's next call finds nothing to do.
    expect(await handler({ action: 'expire' }, context)).toEqual({
      expired: false,
      canary: null,
      routed: false,
    });
  });

  it('expire after a crash between the two moves (alias done, registry not) finishes the registry', async () => {
    const { handler, deployer, registry, challenger, build, advance } = await setup();
    await handler({ action: 'deploy', modelVersion: challenger, build, weight: 0.1 }, context);
    await deployer.route({ functionVersion: '1', canary: null }); // the alias moved, then the crash
    advance(1_800_000);
    expect(await handler({ action: 'expire' }, context)).toMatchObject({ expired: true, routed: false });
    expect((await registry.aliases()).canary).toBeNull();
  });

  it("expire leaves the alias alone when its canary routing is another model's (a canary being started now)", async () => {
    const { handler, deployer, registry, challenger, build, advance, reg } = await setup();
    await handler({ action: 'deploy', modelVersion: challenger, build, weight: 0.1 }, context);
    advance(1_800_000);
    // Another run has routed its own canary to the alias and not yet recorded it in the registry.
    const third = await reg(3);
    const v = await deployer.publish({ modelVersion: third, artifact: '/builds/third', buildId: 'b3' });
    await deployer.route({
      functionVersion: '1',
      canary: { functionVersion: v.functionVersion, weight: 0.2 },
    });
    expect(await handler({ action: 'expire' }, context)).toMatchObject({ expired: true, routed: false });
    expect((await deployer.routing())?.canary).toEqual({ functionVersion: v.functionVersion, weight: 0.2 });
    expect((await registry.aliases()).canary).toBeNull();
  });

  it('abort after a promote that moved the alias but not the registry puts the alias back on the champion', async () => {
    const { handler, deployer, registry, challenger, champion, build } = await setup();
    await handler({ action: 'deploy', modelVersion: challenger, build, weight: 0.1 }, context);
    await deployer.route({ functionVersion: '2', canary: null }); // PromoteCanary's first move, then a failure
    expect(await handler({ action: 'abort', modelVersion: challenger }, context)).toEqual({ aborted: true });
    expect(await deployer.routing()).toEqual({ functionVersion: '1', canary: null });
    expect(await registry.aliases()).toMatchObject({ champion, canary: null });
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
