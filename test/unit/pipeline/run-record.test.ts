import { describe, expect, it } from '@jest/globals';
import {
  applyRunEvent,
  canonicalJson,
  failedStates,
  newRunRecord,
  reusableAnswers,
  runDecision,
  runModelVersion,
  taskInputHash,
  type RunEvent,
} from '#lib/pipeline/run-record.ts';

const T0 = Date.parse('2025-01-01T00:00:00Z');

function fold(events: RunEvent[]) {
  const r = newRunRecord({
    executionId: 'r1',
    stateMachine: 'training',
    input: { a: 1 },
    startedAt: new Date(T0),
  });
  for (const e of events) applyRunEvent(r, e);
  return r;
}

describe('run record', () => {
  it('records each state with its input, output and duration, and the run with its seconds', () => {
    const r = fold([
      { type: 'StateEntered', at: T0 + 10, name: 'Train', stateType: 'Task', input: { x: 1 } },
      {
        type: 'TaskAnswered',
        at: T0 + 500,
        name: 'Train',
        inputHash: 'h1',
        result: { Payload: { version: 'v1' } },
        reused: false,
      },
      { type: 'StateExited', at: T0 + 510, name: 'Train', output: { candidate: { version: 'v1' } } },
      { type: 'ExecutionSucceeded', at: T0 + 2500, output: { status: 'promoted', modelVersion: 'v1' } },
    ]);
    expect(r.states).toEqual([
      {
        name: 'Train',
        type: 'Task',
        enteredAt: '2025-01-01T00:00:00.010Z',
        endedAt: '2025-01-01T00:00:00.510Z',
        ms: 500,
        input: { x: 1 },
        output: { candidate: { version: 'v1' } },
        retries: 0,
      },
    ]);
    expect(r).toMatchObject({ status: 'succeeded', seconds: 2.5, endedAt: '2025-01-01T00:00:02.500Z' });
    expect(runDecision(r)).toBe('promoted');
    expect(runModelVersion(r)).toBe('v1');
  });

  it('clears a retried error and keeps a caught one, so failedStates names where the run broke', () => {
    const r = fold([
      { type: 'StateEntered', at: T0, name: 'Train', stateType: 'Task', input: {} },
      { type: 'StateFailed', at: T0 + 1, name: 'Train', error: { error: 'TransientError', cause: 'x' } },
      { type: 'StateRetried', at: T0 + 2, name: 'Train' },
      { type: 'StateFailed', at: T0 + 3, name: 'Train', error: { error: 'InjectedFault', cause: 'y' } },
      { type: 'StateCaught', at: T0 + 3, name: 'Train' },
      { type: 'StateEntered', at: T0 + 4, name: 'NotifyFailure', stateType: 'Task', input: {} },
      { type: 'StateExited', at: T0 + 5, name: 'NotifyFailure', output: {} },
      { type: 'ExecutionFailed', at: T0 + 6, error: { error: 'TrainingFailed', cause: 'y' } },
    ]);
    expect(failedStates(r).map((s) => [s.name, s.retries, s.caught, s.error?.error])).toEqual([
      ['Train', 1, true, 'InjectedFault'],
    ]);
    expect(r.status).toBe('failed');
    expect(runDecision(r)).toBeNull();
  });

  it('matches Map iterations of the same state by index', () => {
    const r = fold([
      { type: 'StateEntered', at: T0, name: 'Score', stateType: 'Task', input: 0, index: 0 },
      { type: 'StateEntered', at: T0, name: 'Score', stateType: 'Task', input: 1, index: 1 },
      { type: 'StateExited', at: T0 + 7, name: 'Score', output: 'one', index: 1 },
      { type: 'StateExited', at: T0 + 9, name: 'Score', output: 'zero', index: 0 },
    ]);
    expect(r.states.map((s) => [s.index, s.output, s.ms])).toEqual([
      [0, 'zero', 9],
      [1, 'one', 7],
    ]);
  });

  it('offers for reuse only the answers of reusable states', () => {
    const r = fold([
      { type: 'TaskAnswered', at: T0, name: 'Train', inputHash: 'h1', result: 1, reused: false },
      { type: 'TaskAnswered', at: T0, name: 'JudgeCanary', inputHash: 'h2', result: 2, reused: false },
    ]);
    expect([...reusableAnswers(r, new Set(['Train']))]).toEqual([['h1', 1]]);
  });
});

describe('task input hash', () => {
  it('ignores key order and tells states apart', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}',
    );
    expect(taskInputHash('Train', { a: 1, b: 2 })).toBe(taskInputHash('Train', { b: 2, a: 1 }));
    expect(taskInputHash('Train', { a: 1 })).not.toBe(taskInputHash('Evaluate', { a: 1 }));
    expect(taskInputHash('Train', { a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a resumed run finds the failed run's Train answer: the payload's runId is not part of the key", () => {
    const call = (runId: string, snapshotId = 's1') => ({
      FunctionName: 'train',
      Payload: { snapshotId, params: {}, runId },
    });
    expect(taskInputHash('Train', call('training-a'))).toBe(taskInputHash('Train', call('training-b')));
    expect(taskInputHash('Train', call('training-a'))).toBe(
      taskInputHash('Train', { FunctionName: 'train', Payload: { snapshotId: 's1', params: {} } }),
    );
    expect(taskInputHash('Train', call('training-a'))).not.toBe(
      taskInputHash('Train', call('training-a', 's2')),
    );
  });
});
