import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { newRunRecord, type RunRecord } from '#lib/pipeline/run-record.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { runningTrainings } from '#local/runs/running-trainings.ts';
import { definitionFor } from '#local/sfn/local-pipeline.ts';

/**
 * What "running" means for the local starter of `monitor drift --retrain`: run records (a real
 * RunStore on a temp directory, as `pipeline run` writes them) of the training state machine still
 * `running`, younger than the training ASL's TimeoutSeconds.
 */
const work = mkdtempSync(join(tmpdir(), 'cr-running-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function save(runs: RunStore, executionId: string, startedAt: string, patch: Partial<RunRecord> = {}): void {
  runs.save({
    ...newRunRecord({ executionId, stateMachine: 'training', input: {}, startedAt: new Date(startedAt) }),
    ...patch,
  });
}

describe('runningTrainings (local starter)', () => {
  it('lists only training runs still running and younger than the state machine timeout', () => {
    const runs = new RunStore(join(work, 'runs'));
    const now = new Date('2022-01-05T12:00:00.000Z');
    save(runs, 'training-in-flight', '2022-01-05T11:30:00.000Z');
    save(runs, 'training-done', '2022-01-05T11:00:00.000Z', {
      status: 'succeeded',
      endedAt: '2022-01-05T11:20:00.000Z',
    });
    save(runs, 'training-failed', '2022-01-05T10:00:00.000Z', { status: 'failed' });
    // A process that died 5 h ago left its record running: Step Functions would have timed it out.
    save(runs, 'training-dead', '2022-01-05T07:00:00.000Z');
    save(runs, 'batch-scoring-in-flight', '2022-01-05T11:50:00.000Z', { stateMachine: 'batch-scoring' });
    expect(runningTrainings(runs, now)).toEqual([
      { name: 'training-in-flight', startedAt: '2022-01-05T11:30:00.000Z' },
    ]);
    // The limit is the ASL's own TimeoutSeconds (4 h), not a constant of the starter.
    expect(definitionFor('training').TimeoutSeconds).toBe(14_400);
    save(runs, 'training-edge', '2022-01-05T08:00:00.001Z');
    expect(
      runningTrainings(runs, now)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['training-edge', 'training-in-flight']);
    expect(runningTrainings(runs, now, 3600).map((r) => r.name)).toEqual(['training-in-flight']);
  });

  it('leaves out a run whose process on this host is gone (an interrupted npm start), not one in flight or elsewhere', () => {
    const runs = new RunStore(join(work, 'owners'));
    const now = new Date('2022-01-05T12:00:00.000Z');
    const gone = spawnSync(process.execPath, ['-e', '']);
    expect(gone.status).toBe(0);
    const deadPid = gone.pid as number;
    save(runs, 'training-interrupted', '2022-01-05T11:00:00.000Z', {
      owner: { pid: deadPid, host: hostname() },
    });
    save(runs, 'training-this-process', '2022-01-05T11:10:00.000Z', {
      owner: { pid: process.pid, host: hostname() },
    });
    save(runs, 'training-other-host', '2022-01-05T11:20:00.000Z', {
      owner: { pid: deadPid, host: `not-${hostname()}` },
    });
    expect(
      runningTrainings(runs, now)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['training-other-host', 'training-this-process']);
  });

  it('a run started through the store names this process as its owner', () => {
    const runs = new RunStore(join(work, 'started'));
    const { record } = runs.start({
      executionId: 'training-x',
      stateMachine: 'training',
      input: {},
      startedAt: new Date(),
    });
    expect(record.owner).toEqual({ pid: process.pid, host: hostname() });
    expect(runs.get('training-x').owner).toEqual({ pid: process.pid, host: hostname() });
  });

  it('no runs directory yet: nothing running', () => {
    expect(runningTrainings(new RunStore(join(work, 'absent')), new Date())).toEqual([]);
  });
});
