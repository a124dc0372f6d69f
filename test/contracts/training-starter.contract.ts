import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { TrainingStarter } from '#lib/ports/training-starter.ts';

/**
 * The TrainingStarter contract: the local runner and Step Functions (on moto) start training runs
 * by name alike. `beforeRun` readies what one more real run needs (on moto: the answer of its
 * first Lambda task). `inFlight`: a started run is still running when start() returns (Step
 * Functions) rather than finished inside it (the local runner).
 */
export interface TrainingStarterSubject {
  starter: TrainingStarter;
  inFlight: boolean;
  beforeRun?(): Promise<void>;
  close?(): Promise<void>;
}

export function trainingStarterContract(open: () => Promise<TrainingStarterSubject>, prefix: string): void {
  let subject: TrainingStarterSubject;
  const first = `${prefix}-first`;
  const second = `${prefix}-second`;
  let firstId = '';

  beforeAll(async () => {
    subject = await open();
  });
  afterAll(async () => {
    await subject?.close?.();
  });

  it('a new name starts a run and answers its execution id', async () => {
    await subject.beforeRun?.();
    const out = await subject.starter.start({ name: first, input: { input: 'raw/a.csv', trigger: 'drift' } });
    expect(out.started).toBe(true);
    expect(out.executionId.length).toBeGreaterThan(0);
    firstId = out.executionId;
  });

  it('the same name and input again (a retried invocation, a duplicate event) starts nothing and answers the same id', async () => {
    // Later than any clock tolerance: a retry comes seconds after the first try.
    await new Promise((r) => setTimeout(r, 1_200));
    expect(
      await subject.starter.start({ name: first, input: { input: 'raw/a.csv', trigger: 'drift' } }),
    ).toEqual({
      started: false,
      executionId: firstId,
    });
  });

  it('the same name with another input starts nothing either', async () => {
    const out = await subject.starter.start({ name: first, input: { input: 'raw/b.csv', trigger: 'drift' } });
    expect(out.started).toBe(false);
  });

  it('another name starts another run', async () => {
    await subject.beforeRun?.();
    const out = await subject.starter.start({
      name: second,
      input: { input: 'raw/a.csv', trigger: 'drift' },
    });
    expect(out).toMatchObject({ started: true });
    expect(out.executionId).not.toBe(firstId);
  });

  it('running() lists the runs still in flight, each with an ISO start time', async () => {
    const running = await subject.starter.running();
    for (const r of running) expect(new Date(r.startedAt).toISOString()).toBe(r.startedAt);
    const names = running.map((r) => r.name);
    if (subject.inFlight) expect(names).toEqual(expect.arrayContaining([first, second]));
    else expect(names.filter((n) => n === first || n === second || n === firstId)).toEqual([]);
  });
}
