import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newRunRecord, type RunRecord } from '#lib/pipeline/run-record.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { localFunctions, type LocalFunction } from '#local/sfn/local-functions.ts';
import { runPipelineLocally } from '#local/sfn/local-pipeline.ts';
import { freshHome } from '../../support/home.ts';

/**
 * One training at a time: the real training.asl.json on the local runner, with the real extract
 * function's turn stage (AwaitTurn) over the home's run records, which stand for Step Functions'
 * RUNNING executions locally (local/runs/running-trainings.ts). Another run "in flight" is a run
 * record still `running`, as another terminal's `pipeline run` leaves it. The feature and model
 * steps are stand-ins (a rejected model ends the run quickly); the input is a key, so no ResolveInput.
 */
const INPUT = { input: 'raw/loans.csv', sizeBytes: 1000 };

function setup() {
  const home = freshHome('cr-turn-');
  const root = createLocalRoot(home);
  const steps: string[] = [];
  // Only the feature build and the model steps are stubbed: the turn stage is the real one.
  const functions: Record<string, LocalFunction> = {
    train: async () => {
      steps.push('train');
      return { candidateKey: 'candidates/x', version: 'x', metrics: { auc: 0.7 } };
    },
    evaluate: async () => ({ gate: { pass: false, reasons: ['stand-in'], checks: [] } }),
  };
  return { home, root, steps, functions, runs: new RunStore(home.runs) };
}

/** A record of another training run, as a `pipeline run` in another process saves it. */
function otherRun(root: LocalRoot, runs: RunStore, executionId: string, secondsAgo: number): RunRecord {
  const record = newRunRecord({
    executionId,
    stateMachine: 'training',
    input: INPUT,
    startedAt: new Date(root.clock.now().getTime() - secondsAgo * 1000),
  });
  runs.save(record);
  return record;
}

const turns = (record: RunRecord) =>
  record.tasks
    .filter((t) => t.name === 'AwaitTurn')
    .map((t) => (t.result as { Payload: { proceed: boolean; ahead: { name: string }[] } }).Payload);
const stateNames = (record: RunRecord) => record.states.map((s) => s.name);

describe('AwaitTurn on the training machine (local runner)', () => {
  it('nothing else running: goes straight on, no wait', async () => {
    const t = setup();
    const extract = stubExtract(t.root, t.steps);
    const { result, record } = await runPipelineLocally({
      root: t.root,
      input: INPUT,
      functions: { ...t.functions, ...extract },
      waitScale: 0.001,
    });
    expect(result).toMatchObject({ status: 'succeeded', output: { status: 'rejected' } });
    expect(stateNames(record).slice(0, 5)).toEqual([
      'Defaults',
      'Configure',
      'AwaitTurn',
      'TurnToRun',
      'InputIsPrefix',
    ]);
    expect(stateNames(record)).not.toContain('WaitForTurn');
    expect(turns(record)).toEqual([{ proceed: true, ahead: [], waitedSeconds: expect.any(Number) }]);
    // The stage was asked about this execution, with its start time as recorded.
    const asked = record.states.find((s) => s.name === 'AwaitTurn')?.input;
    expect(asked).toMatchObject({ config: { maxTurnWaitSeconds: 7200 } });
    expect(t.steps).toEqual(['extract', 'train']);
  });

  it('a NEWER run in flight does not hold this one back, nor does a finished or a timed-out older one', async () => {
    const t = setup();
    t.runs.save({ ...otherRun(t.root, t.runs, 'training-finished', 600), status: 'succeeded' });
    otherRun(t.root, t.runs, 'training-dead', 5 * 3600); // older than the machine's 4 h timeout: a dead process
    const newer = otherRun(t.root, t.runs, 'training-newer', -60); // started a minute after this one will
    const { result, record } = await runPipelineLocally({
      root: t.root,
      input: INPUT,
      functions: { ...t.functions, ...stubExtract(t.root, t.steps) },
      waitScale: 0.001,
    });
    expect(result.status).toBe('succeeded');
    expect(stateNames(record)).not.toContain('WaitForTurn');
    expect(turns(record)).toEqual([{ proceed: true, ahead: [], waitedSeconds: expect.any(Number) }]);
    expect(t.runs.get(newer.executionId)?.status).toBe('running');
  });

  it('an OLDER run in flight: waits (WaitForTurn), asks again, and goes on once it has finished', async () => {
    const t = setup();
    const older = otherRun(t.root, t.runs, 'training-older', 120);
    let waits = 0;
    let stepsWhenOlderEnded: string[] = [];
    const { result, record } = await runPipelineLocally({
      root: t.root,
      input: INPUT,
      functions: { ...t.functions, ...stubExtract(t.root, t.steps) },
      waitScale: 0.001,
      onEvent: (event) => {
        if (event.type !== 'StateEntered' || event.name !== 'WaitForTurn') return;
        waits += 1;
        // The older run finishes during this run's second wait.
        if (waits === 2) {
          stepsWhenOlderEnded = [...t.steps];
          t.runs.save({ ...older, status: 'succeeded', endedAt: t.root.clock.now().toISOString() });
        }
      },
    });
    expect(result).toMatchObject({ status: 'succeeded', output: { status: 'rejected' } });
    expect(stepsWhenOlderEnded).toEqual([]); // nothing of this run ran while the older one did
    expect(t.steps).toEqual(['extract', 'train']);
    expect(turns(record)).toEqual([
      {
        proceed: false,
        ahead: [{ name: 'training-older', startedAt: older.startedAt }],
        waitedSeconds: expect.any(Number),
      },
      {
        proceed: false,
        ahead: [{ name: 'training-older', startedAt: older.startedAt }],
        waitedSeconds: expect.any(Number),
      },
      { proceed: true, ahead: [], waitedSeconds: expect.any(Number) },
    ]);
    const names = stateNames(record);
    expect(names.slice(0, 10)).toEqual([
      'Defaults',
      'Configure',
      'AwaitTurn',
      'TurnToRun',
      'WaitForTurn',
      'AwaitTurn',
      'TurnToRun',
      'WaitForTurn',
      'AwaitTurn',
      'TurnToRun',
    ]);
    expect(names[10]).toBe('InputIsPrefix');
  });

  it('an older run still in flight past maxTurnWaitSeconds: fails before doing anything, and says why', async () => {
    const t = setup();
    otherRun(t.root, t.runs, 'training-stuck', 60);
    const { result, record } = await runPipelineLocally({
      root: t.root,
      input: { ...INPUT, maxTurnWaitSeconds: 0 },
      functions: { ...t.functions, ...stubExtract(t.root, t.steps) },
      waitScale: 0.001,
    });
    expect(result).toMatchObject({ status: 'failed', error: { error: 'TrainingFailed' } });
    expect(stateNames(record)).toEqual(['Defaults', 'Configure', 'AwaitTurn', 'NotifyFailure', 'Failed']);
    expect(t.steps).toEqual([]);
    const notes = readFileSync(join(t.home.notifications, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message: string });
    expect(notes.at(-1)?.message).toMatch(/failed: TrainingTurnTimeout: .*training-stuck/);
  });
});

/** The feature build stand-in for every extract payload but the turn stage, which the real function answers. */
function stubExtract(root: LocalRoot, steps: string[]): Record<string, LocalFunction> {
  const real = localFunctions(root)['extract-features'];
  return {
    'extract-features': async (p) => {
      if ((p as { stage?: unknown }).stage === 'turn') return real(p);
      steps.push('extract');
      return { snapshotId: 'fedcba9876543210', rowsIn: 2, rowsValid: 2, rowsQuarantined: 0 };
    },
  };
}
