/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import type { LocalRoot } from '#local/root.ts';
import { startServe, type RunningServe } from '#local/server/serve.ts';
import { freshHome } from '../../support/home.ts';
import { describeWithPython } from '../../support/python.ts';
import { MemoryFeatureStore } from '../../unit/serving/fake-ports.ts';
import { fixtureProbability, writeFixtureModel } from './fixture-model.ts';
import { openApiChecker } from './openapi-validator.ts';

const running: RunningServe[] = [];
afterAll(async () => {
  for (const r of running) await r.close();
});

function artifacts(dir: string) {
  return {
    model: new Uint8Array(readFileSync(join(dir, 'model.onnx'))),
    card: readFileSync(join(dir, 'card.json'), 'utf8'),
    report: readFileSync(join(dir, 'report.html'), 'utf8'),
  };
}

async function waitFor(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in 6 s');
}

describeWithPython('credit-risk serve over the local registry (real ONNX models)', (python) => {
  it('serves the champion, routes the canary share, and follows alias changes while serving', async () => {
    const home = freshHome();
    const objectStore = new FsObjectStore(home.store);
    const featureStore = new MemoryFeatureStore();
    const root: LocalRoot = { home, objectStore, featureStore, clock: fixedClock('2025-01-01') };
    const registry = new ModelRegistry(objectStore);
    const a = await registry.register(artifacts(writeFixtureModel(python, 0.5, 1)));
    const b = await registry.register(artifacts(writeFixtureModel(python, 0.5, 2)));
    await registry.promote(a.version);

    const serve = await startServe({ root, featureStore, modelName: registry.name, port: 0, pollMs: 50 });
    running.push(serve);
    const checker = openApiChecker();
    const predict = async () => {
      const res = await fetch(`${serve.server.url}/predict`, { method: 'POST', body: '{"id":"5008827"}' });
      const body = (await res.json()) as any;
      const headers = Object.fromEntries(res.headers.entries());
      expect(checker.check('/predict', 'POST', res.status, headers, body)).toEqual([]);
      return { status: res.status, version: headers['x-model-version'], body };
    };

    const first = await predict();
    expect(first.status).toBe(200);
    expect(first.version).toBe(a.version);
    // Customer 5008827 on 2025-01-01: 4 previous loans, 9 years on the job.
    expect(first.body.probability).toBeCloseTo(fixtureProbability(4, 9, 1), 6);

    await registry.setCanary(b.version, 0.5);
    await waitFor(() => serve.router.state?.canary?.version === b.version);
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const r = await predict();
      seen.add(r.version);
      expect(r.body.modelVersion).toBe(r.version);
      expect(r.body.probability).toBeCloseTo(fixtureProbability(4, 9, r.version === b.version ? 2 : 1), 6);
    }
    expect(seen).toEqual(new Set([a.version, b.version]));

    await registry.promote(b.version);
    await waitFor(() => serve.router.state?.champion === b.version && serve.router.state.canary === null);
    for (let i = 0; i < 5; i++) expect((await predict()).version).toBe(b.version);

    const health = await (await fetch(`${serve.server.url}/healthz`)).json();
    expect(health).toEqual({
      status: 'ok',
      champion: b.version,
      canary: null,
      checks: {
        featureStore: { ok: true, ms: expect.any(Number), snapshotId: 'snap-test' },
        model: { ok: true, ms: expect.any(Number), version: b.version },
      },
    });
    // HEAD answers as GET does, without a body (a load balancer's probe).
    const head = await fetch(`${serve.server.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/json');
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await head.text()).toBe('');
  });

  it('refuses to start without a champion, saying how to get one', async () => {
    const home = freshHome();
    const featureStore = new MemoryFeatureStore();
    const root: LocalRoot = {
      home,
      objectStore: new FsObjectStore(home.store),
      featureStore,
      clock: fixedClock('2025-01-01'),
    };
    await expect(startServe({ root, featureStore, modelName: 'credit-risk', port: 0 })).rejects.toMatchObject(
      {
        code: 'NO_CHAMPION',
        message: expect.stringContaining('models promote'),
      },
    );
  });
});
