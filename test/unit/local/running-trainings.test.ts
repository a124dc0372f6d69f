import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  runs.save({ ...newRunRecord({ executionId, stateMachine: 'training', input: {}, startedAt: new Date(startedAt) }), ...patch });
}

describe('runningTrainings (local starter)', () => {
  it('lists only training runs still running and younger than the state machine timeout', () => {
    const runs = new RunStore(join(work, 'runs'));
    const now = new Date('2022-01-05T12:00:00.000Z');
    save(runs, 'training-in-flight', '2022-01-05T11:30:00.000Z');
    save(runs, 'training-done', '2022-01-05T11:00:00.000Z', { status: 'succeeded', endedAt: '2022-01-05T11:20:00.000Z' });
    save(runs, 'training-failed', '2022-01-05T10:00:00.000Z', { status: 'failed' });
    // A process that died 5 h ago left its record running: Step Functions would have timed it out.
    save(runs, 'training-dead', '2022-01-05T07:00:00.000Z');
    save(runs, 'batch-scoring-in-flight', '2022-01-05T11:50:00.000Z', { stateMachine: 'batch-scoring' });
    expect(runningTrainings(runs, now)).toEqual([{ name: 'training-in-flight', startedAt: '2022-01-05T11:30:00.000Z' }]);
    // The limit is the ASL's own TimeoutSeconds (4 h), not a constant of the starter.
    expect(definitionFor('training').TimeoutSeconds).toBe(14_400);
    save(runs, 'training-edge', '2022-01-05T08:00:00.001Z');
    expect(runningTrainings(runs, now).map((r) => r.name).sort()).toEqual(['training-edge', 'training-in-flight']);
    expect(runningTrainings(runs, now, 3600).map((r) => r.name)).toEqual(['training-in-flight']);
  });

  it('no runs directory yet: nothing running', () => {
    expect(runningTrainings(new RunStore(join(work, 'absent')), new Date())).toEqual([]);
  });
});
