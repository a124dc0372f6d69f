import { describe, expect, it } from '@jest/globals';
import { recordFromHistory, type HistoryEvent } from '#lib/pipeline/execution-history.ts';
import { failedStates } from '#lib/pipeline/run-record.ts';
import { formatRunStatus } from '#local/runs/run-view.ts';

const T0 = Date.parse('2026-03-02T10:00:00Z');
const at = (ms: number) => new Date(T0 + ms);

/** The tail of a real failed training history (as Step Functions and moto's interpreter write it). */
const failedRun: HistoryEvent[] = [
  { type: 'ExecutionStarted', timestamp: at(0), executionStartedEventDetails: { input: '{"input":"raw/"}' } },
  { type: 'TaskStateEntered', timestamp: at(10), stateEnteredEventDetails: { name: 'Train', input: '{}' } },
  { type: 'TaskScheduled', timestamp: at(11) },
  {
    type: 'TaskFailed',
    timestamp: at(900),
    taskFailedEventDetails: { error: 'Lambda.ResourceNotFoundException', cause: 'Function not found' },
  },
  { type: 'TaskStateExited', timestamp: at(901), stateExitedEventDetails: { name: 'Train', output: '{}' } },
  {
    type: 'TaskStateEntered',
    timestamp: at(902),
    stateEnteredEventDetails: { name: 'NotifyFailure', input: '{}' },
  },
  {
    type: 'TaskStateExited',
    timestamp: at(950),
    stateExitedEventDetails: { name: 'NotifyFailure', output: '{}' },
  },
  { type: 'FailStateEntered', timestamp: at(951), stateEnteredEventDetails: { name: 'Failed', input: '{}' } },
  {
    type: 'ExecutionFailed',
    timestamp: at(952),
    executionFailedEventDetails: { error: 'TrainingFailed', cause: 'the training pipeline failed' },
  },
];

const record = (history: HistoryEvent[], status = 'FAILED') =>
  recordFromHistory({ executionId: 'e1', stateMachine: 'training', startedAt: at(0), history, status });

describe('recordFromHistory', () => {
  it('a Fail state entered before ExecutionFailed is closed with the execution error, not left running', () => {
    const r = record(failedRun);
    expect(r.status).toBe('failed');
    const failed = r.states.find((s) => s.name === 'Failed');
    expect(failed).toMatchObject({ type: 'Fail', endedAt: at(952).toISOString(), ms: 1 });
    expect(failed?.error).toEqual({ error: 'TrainingFailed', cause: 'the training pipeline failed' });
    expect(r.states.every((s) => s.endedAt !== undefined)).toBe(true);
    expect(formatRunStatus(r)).not.toMatch(/\brunning\b/);
  });

  it('the state that broke keeps its own error and stays the first failed state', () => {
    const r = record(failedRun);
    expect(failedStates(r).map((s) => [s.name, s.error?.error])).toEqual([
      ['Train', 'Lambda.ResourceNotFoundException'],
      ['Failed', 'TrainingFailed'],
    ]);
  });

  it('an aborted run ends the Task that was running with the abort', () => {
    const r = record(
      [
        failedRun[0],
        failedRun[1],
        failedRun[2],
        {
          type: 'ExecutionAborted',
          timestamp: at(500),
          executionAbortedEventDetails: { error: 'Aborted', cause: 'by hand' },
        },
      ],
      'ABORTED',
    );
    expect(r.states).toHaveLength(1);
    expect(r.states[0]).toMatchObject({
      name: 'Train',
      ms: 490,
      error: { error: 'Aborted', cause: 'by hand' },
    });
  });

  it('a Task that failed without exiting keeps its own error when the execution fails', () => {
    const r = record([
      ...failedRun.slice(0, 4),
      {
        type: 'ExecutionFailed',
        timestamp: at(905),
        executionFailedEventDetails: { error: 'States.TaskFailed', cause: 'x' },
      },
    ]);
    expect(r.states[0]).toMatchObject({
      name: 'Train',
      error: { error: 'Lambda.ResourceNotFoundException' },
    });
  });
});
