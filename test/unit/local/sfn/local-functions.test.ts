import { describe, expect, it } from '@jest/globals';
import { CURRENT_KEY } from '#lib/features/publish.ts';
import { fixedClock } from '#lib/ports/clock.ts';
import { createLocalRoot } from '#local/root.ts';
import { cachedExtract } from '#local/sfn/local-functions.ts';
import { freshHome } from '../../../support/home.ts';

/**
 * The local extract cache (local/sfn/local-functions.ts) with a stand-in build that publishes a
 * CURRENT pointer: what is cached, what passes through, and the asOf a request without one gets.
 */
function setup() {
  const root = { ...createLocalRoot(freshHome('cr-cached-extract-')), clock: fixedClock('2025-03-01') };
  const calls: Record<string, unknown>[] = [];
  const extract = cachedExtract(root, async (payload) => {
    const p = payload as Record<string, unknown>;
    calls.push(p);
    if ('stage' in p) return { stage: p.stage };
    const snapshotId = `snap-${String(p.asOf)}`;
    await root.objectStore.put(CURRENT_KEY, JSON.stringify({ snapshotId }));
    return { snapshotId, input: p.input, alreadyCurrent: false };
  });
  return { root, calls, extract };
}

describe('cachedExtract', () => {
  it("reuses a build of the same object and asOf while its snapshot is current; without asOf, the clock's today keys it and is passed on", async () => {
    const { root, calls, extract } = setup();
    await root.objectStore.put('raw/2025/loans.csv', 'id,loan_id\n1,1\n');
    const first = (await extract({ input: 'raw/2025/loans.csv', trigger: 'schedule' })) as Record<
      string,
      unknown
    >;
    expect(first).toEqual({
      snapshotId: 'snap-2025-03-01',
      input: 'raw/2025/loans.csv',
      alreadyCurrent: false,
    });
    expect(calls).toEqual([{ input: 'raw/2025/loans.csv', trigger: 'schedule', asOf: '2025-03-01' }]);
    expect(await extract({ input: 'raw/2025/loans.csv', trigger: 'schedule' })).toEqual({
      ...first,
      alreadyCurrent: true,
      reused: true,
    });
    // The same date given explicitly is the same entry.
    expect(await extract({ input: 'raw/2025/loans.csv', asOf: '2025-03-01' })).toMatchObject({
      reused: true,
    });
    expect(calls).toHaveLength(1);
    // Another date is another snapshot; new bytes under the same key are another entry.
    await extract({ input: 'raw/2025/loans.csv', asOf: '2025-02-01' });
    await root.objectStore.put('raw/2025/loans.csv', 'id,loan_id\n1,1\n2,2\n');
    await extract({ input: 'raw/2025/loans.csv', asOf: '2025-02-01' });
    expect(calls.map((c) => c.asOf)).toEqual(['2025-03-01', '2025-02-01', '2025-02-01']);
  });

  it('passes stage requests (resolve, prepare, publish) and a prefix through untouched, every time', async () => {
    const { root, calls, extract } = setup();
    await root.objectStore.put('raw/2025/loans.csv', 'id,loan_id\n1,1\n');
    for (let i = 0; i < 2; i++) {
      await extract({ stage: 'resolve', input: 'raw/' });
      await extract({ input: 'raw/' });
    }
    expect(calls).toEqual([
      { stage: 'resolve', input: 'raw/' },
      { input: 'raw/' },
      { stage: 'resolve', input: 'raw/' },
      { input: 'raw/' },
    ]);
  });
});
