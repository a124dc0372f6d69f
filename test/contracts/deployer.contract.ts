import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Deployer, PublishRequest } from '#lib/ports/deployer.ts';

/**
 * The Deployer contract: the predict function's versions and its `live` alias with canary weights.
 * Locally a table of build directories; in AWS Lambda versions and an alias (on moto). `artifact`
 * makes an artifact the adapter accepts (a build directory, an ECR image URI). `aliasCreated` does
 * what the deploy does before the first route in that runtime (AWS: the stack creates the alias).
 */
export interface DeployerSubject {
  deployer: Deployer;
  artifact(n: number): string;
  aliasCreated?(functionVersion: string): Promise<void>;
  close?(): Promise<void>;
}

const model = (c: string) => c.repeat(64);

export function deployerContract(open: () => Promise<DeployerSubject>): void {
  let subject: DeployerSubject;
  let deployer: Deployer;
  const request = (n: number, m: string): PublishRequest => ({
    modelVersion: model(m),
    artifact: subject.artifact(n),
    buildId: `build-${n}`,
  });
  const published: string[] = [];

  beforeAll(async () => {
    subject = await open();
    deployer = subject.deployer;
  });
  afterAll(async () => {
    await subject?.close?.();
  });

  it('before anything was deployed there is no routing', async () => {
    expect(await deployer.routing()).toBeUndefined();
  });

  it('publish makes an immutable version that records its model; the same artifact again is the same version', async () => {
    const first = await deployer.publish(request(1, 'a'));
    expect(first.modelVersion).toBe(model('a'));
    expect(first.functionVersion).toMatch(/^\d+$/);
    const again = await deployer.publish(request(1, 'a'));
    expect(again).toEqual(first);
    expect(await deployer.modelOf(first.functionVersion)).toBe(model('a'));
    published.push(first.functionVersion);
  });

  it('a new artifact becomes a new version with its own model', async () => {
    const second = await deployer.publish(request(2, 'b'));
    expect(second.functionVersion).not.toBe(published[0]);
    expect(await deployer.modelOf(second.functionVersion)).toBe(model('b'));
    expect(await deployer.modelOf(published[0])).toBe(model('a'));
    published.push(second.functionVersion);
  });

  it('routes a canary share to the new version and reads back exactly that routing', async () => {
    await subject.aliasCreated?.(published[0]);
    await deployer.route({
      functionVersion: published[0],
      canary: { functionVersion: published[1], weight: 0.1 },
    });
    expect(await deployer.routing()).toEqual({
      functionVersion: published[0],
      canary: { functionVersion: published[1], weight: 0.1 },
    });
    await deployer.route({
      functionVersion: published[0],
      canary: { functionVersion: published[1], weight: 0.25 },
    });
    expect((await deployer.routing())?.canary).toEqual({ functionVersion: published[1], weight: 0.25 });
  });

  it('promotion moves all traffic to the new version and clears the canary', async () => {
    await deployer.route({ functionVersion: published[1], canary: null });
    expect(await deployer.routing()).toEqual({ functionVersion: published[1], canary: null });
  });

  it('a rollback routes back to the old version in one call', async () => {
    await deployer.route({ functionVersion: published[0], canary: null });
    expect(await deployer.routing()).toEqual({ functionVersion: published[0], canary: null });
  });

  it('an unknown version serves no model', async () => {
    expect(await deployer.modelOf('999')).toBeUndefined();
  });
}
