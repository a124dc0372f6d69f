import { describe, expect, it } from '@jest/globals';
import { ModelRouter, type AliasState } from '#local/server/model-router.ts';

function harness(initial: AliasState, random?: () => number, now?: () => number) {
  let aliases = initial;
  const loads: string[] = [];
  const disposed: string[] = [];
  let failNext = false;
  const router = new ModelRouter<string>({
    readAliases: async () => aliases,
    load: async (version) => {
      if (failNext) {
        failNext = false;
        throw new Error(`cannot load ${version}`);
      }
      loads.push(version);
      return { handler: `handler-${version}`, dispose: async () => void disposed.push(version) };
    },
    random,
    now,
  });
  return {
    router,
    loads,
    disposed,
    setAliases: (a: AliasState) => (aliases = a),
    failNextLoad: () => (failNext = true),
  };
}

describe('local alias routing', () => {
  it('sends every request to the champion when there is no canary', async () => {
    const { router } = harness({ champion: 'A', canary: null });
    await router.refresh();
    for (let i = 0; i < 20; i++) {
      const lease = router.acquire()!;
      expect(lease.version).toBe('A');
      expect(lease.handler).toBe('handler-A');
      lease.release();
    }
  });

  it('sends the canary its weight of the traffic', async () => {
    let i = 0;
    // A uniform sweep of [0, 1): exactly weight * n draws fall below the weight.
    const { router } = harness(
      { champion: 'A', canary: { version: 'B', weight: 0.1 } },
      () => (i++ % 100) / 100,
    );
    await router.refresh();
    const counts: Record<string, number> = { A: 0, B: 0 };
    for (let n = 0; n < 1000; n++) {
      const lease = router.acquire()!;
      counts[lease.version]++;
      lease.release();
    }
    expect(counts).toEqual({ A: 900, B: 100 });
  });

  it('loads a version once and does nothing when the aliases did not change', async () => {
    const { router, loads } = harness({ champion: 'A', canary: null });
    expect(await router.refresh()).toBe(true);
    expect(await router.refresh()).toBe(false);
    expect(loads).toEqual(['A']);
  });

  it('promoting the canary reuses its loaded model and disposes the old champion', async () => {
    const h = harness({ champion: 'A', canary: { version: 'B', weight: 0.5 } });
    await h.router.refresh();
    h.setAliases({ champion: 'B', canary: null });
    await h.router.refresh();
    expect(h.loads).toEqual(['A', 'B']);
    expect(h.disposed).toEqual(['A']);
    expect(h.router.state).toEqual({ champion: 'B', canary: null });
  });

  it('keeps a retired version alive until its in-flight request is answered', async () => {
    const h = harness({ champion: 'A', canary: null });
    await h.router.refresh();
    const inFlight = h.router.acquire()!;
    h.setAliases({ champion: 'C', canary: null });
    await h.router.refresh();
    expect(h.router.acquire()!.version).toBe('C');
    expect(h.disposed).toEqual([]);
    expect(inFlight.handler).toBe('handler-A');
    inFlight.release();
    await new Promise((r) => setImmediate(r));
    expect(h.disposed).toEqual(['A']);
  });

  it('a version that fails to load leaves the previous routing serving', async () => {
    const h = harness({ champion: 'A', canary: null });
    await h.router.refresh();
    h.setAliases({ champion: 'A', canary: { version: 'BAD', weight: 0.5 } });
    h.failNextLoad();
    await expect(h.router.refresh()).rejects.toThrow(/cannot load BAD/);
    expect(h.router.state).toEqual({ champion: 'A', canary: null });
    expect(h.router.acquire()!.version).toBe('A');
    // The next poll retries and succeeds.
    expect(await h.router.refresh()).toBe(true);
    expect(h.router.state?.canary).toEqual({ version: 'BAD', weight: 0.5 });
  });

  it('concurrent refreshes load a new version once', async () => {
    const h = harness({ champion: 'A', canary: null });
    await Promise.all([h.router.refresh(), h.router.refresh(), h.router.refresh()]);
    expect(h.loads).toEqual(['A']);
  });

  it('refuses to serve without a champion', async () => {
    const h = harness({ champion: null, canary: null });
    await expect(h.router.refresh()).rejects.toThrow(/no champion/);
    expect(h.router.acquire()).toBeUndefined();
  });

  it('close disposes every loaded version', async () => {
    const h = harness({ champion: 'A', canary: { version: 'B', weight: 0.2 } });
    await h.router.refresh();
    await h.router.close();
    expect(h.disposed.sort()).toEqual(['A', 'B']);
  });

  describe("a canary's deadline", () => {
    const DEADLINE = '2025-03-01T12:30:00.000Z';
    const sweep = () => {
      let i = 0;
      return () => (i++ % 10) / 10;
    };
    const route = (router: ModelRouter<string>, n: number) => {
      const counts: Record<string, number> = {};
      for (let k = 0; k < n; k++) {
        const lease = router.acquire()!;
        counts[lease.version] = (counts[lease.version] ?? 0) + 1;
        lease.release();
      }
      return counts;
    };

    it('before it the canary gets its weight; from it on every request goes to the champion, with nobody clearing it', async () => {
      let now = Date.parse(DEADLINE) - 1;
      const h = harness(
        { champion: 'A', canary: { version: 'B', weight: 0.1, deadline: DEADLINE } },
        sweep(),
        () => now,
      );
      await h.router.refresh();
      expect(route(h.router, 100)).toEqual({ A: 90, B: 10 });
      expect(h.router.state?.canary).toEqual({ version: 'B', weight: 0.1, deadline: DEADLINE });
      now += 1;
      expect(await h.router.refresh()).toBe(false); // the aliases did not change
      expect(route(h.router, 100)).toEqual({ A: 100 });
      expect(h.router.state).toEqual({ champion: 'A', canary: null });
    });

    it('a canary already expired when read is not loaded; a new deadline brings it back', async () => {
      let now = Date.parse(DEADLINE);
      const h = harness(
        { champion: 'A', canary: { version: 'B', weight: 0.5, deadline: DEADLINE } },
        sweep(),
        () => now,
      );
      await h.router.refresh();
      expect(h.loads).toEqual(['A']);
      expect(route(h.router, 10)).toEqual({ A: 10 });
      h.setAliases({
        champion: 'A',
        canary: { version: 'B', weight: 0.5, deadline: '2025-03-01T13:00:00.000Z' },
      });
      expect(await h.router.refresh()).toBe(true);
      expect(route(h.router, 10)).toEqual({ A: 5, B: 5 });
      now = Date.parse('2025-03-01T13:00:00.000Z');
      expect(route(h.router, 10)).toEqual({ A: 10 });
    });

    it('an unreadable deadline counts as passed', async () => {
      const h = harness({ champion: 'A', canary: { version: 'B', weight: 1, deadline: 'soon' } }, sweep());
      await h.router.refresh();
      expect(route(h.router, 10)).toEqual({ A: 10 });
    });
  });
});
