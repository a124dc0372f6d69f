/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import type { LocalRoot } from '#local/root.ts';
import { startServe, type RunningServe } from '#local/server/serve.ts';
import { freshHome } from '../../support/home.ts';
import { describeWithPython } from '../../support/python.ts';
import { MemoryFeatureStore } from '../../unit/serving/fake-ports.ts';
import { writeFixtureModel } from './fixture-model.ts';

/**
 * `credit-risk serve` and a canary's deadline (docs/adr/0116-canary-deadline.md): the registry's
 * aliases.json still names the canary, nobody has cleared it, and serving sends it nothing.
 */
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

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!cond()) throw new Error('condition not met in 6 s');
}

describeWithPython('credit-risk serve and the canary deadline (real ONNX models)', (python) => {
  it('a canary past its deadline gets no request, even at weight 1, until a new deadline brings it back', async () => {
    const home = freshHome();
    const objectStore = new FsObjectStore(home.store);
    const featureStore = new MemoryFeatureStore();
    const root: LocalRoot = { home, objectStore, featureStore, clock: fixedClock('2025-01-01') };
    // Set on 2020-01-01 with a 30-minute deadline: long expired, never cleared.
    const then = new ModelRegistry(objectStore, { clock: fixedClock('2020-01-01') });
    const a = await then.register(artifacts(writeFixtureModel(python, 0.5, 1)));
    const b = await then.register(artifacts(writeFixtureModel(python, 0.5, 2)));
    await then.promote(a.version);
    await then.setCanary(b.version, 1, { deadline: new Date('2020-01-01T12:30:00Z') });

    const serve = await startServe({ root, featureStore, modelName: then.name, port: 0, pollMs: 50 });
    running.push(serve);
    const versions = async (n: number) => {
      const seen: Record<string, number> = {};
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${serve.server.url}/predict`, { method: 'POST', body: '{"id":"5008827"}' });
        expect(res.status).toBe(200);
        const v = res.headers.get('x-model-version') as string;
        seen[v] = (seen[v] ?? 0) + 1;
      }
      return seen;
    };
    expect(await versions(20)).toEqual({ [a.version]: 20 });
    expect(await (await fetch(`${serve.server.url}/healthz`)).json()).toMatchObject({
      status: 'ok',
      champion: a.version,
      canary: null,
    });
    expect((await then.aliases()).canary).toMatchObject({ version: b.version, weight: 1 });

    // The same canary with a deadline ahead (the registry's clock now) takes all the traffic again.
    await new ModelRegistry(objectStore).setCanary(b.version, 1);
    await waitFor(() => serve.router.state?.canary?.version === b.version);
    expect(await versions(10)).toEqual({ [b.version]: 10 });
  });
});
